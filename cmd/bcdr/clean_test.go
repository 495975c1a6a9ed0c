package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/control"
	"github.com/bcdr-harness/bcdr/topology/local"
	"github.com/bcdr-harness/bcdr/topology/workdir"
)

// A bcdr up killed with SIGKILL cannot clean up: its children die with it
// (Pdeathsig), but its work directory and state file stay. bcdr clean
// removes them, and kills an orphaned process of ours.
func TestCleanAfterAKilledUp(t *testing.T) {
	if testing.Short() {
		t.Skip("stands an environment up")
	}
	sb := newSandbox(t)
	state := filepath.Join(sb.tmp, "state")
	up := sb.command("up", "--state", state, "--out", filepath.Join(sb.tmp, "run"), "--set", "instances-per-region=2", "--workload=false")
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if st, err := control.ReadState(state); err == nil && st.Pid == up.Process.Pid {
			break
		}
		if time.Now().After(deadline) {
			up.Process.Kill()
			up.Wait()
			t.Fatal("bcdr up did not come up in 2 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(sb.workDirs()) == 0 {
		t.Fatal("the environment has no work directory in the sandbox: the test would check nothing")
	}
	sockets := sb.listeners()
	_ = up.Process.Signal(syscall.SIGKILL)
	_ = up.Wait()

	// An orphan of ours (its bcdr is gone): an "AOS stub" re-parented to init.
	orphan := exec.Command("sh", "-c", "sleep 300 >/dev/null 2>&1 &")
	orphan.Env = append(sb.env(), "BCDR_ROLE=aos")
	if out, err := orphan.CombinedOutput(); err != nil {
		t.Fatalf("start the orphan: %v %s", err, out)
	}

	stdout, stderr, code := sb.run(t, "clean", "--state", state, "--min-age", "0", "--containers=false")
	t.Logf("bcdr clean:\n%s%s", stdout, stderr)
	if code != 0 {
		t.Fatalf("bcdr clean: exit %d", code)
	}
	for _, w := range []string{"removed the state file of a gone environment", "removed directory " + sb.tmp, "AOS stub (sleep 300)"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("bcdr clean does not report %q", w)
		}
	}
	if _, err := os.Stat(filepath.Join(state, control.StateFile)); !os.IsNotExist(err) {
		t.Errorf("state file still there (%v)", err)
	}
	sb.requireNothingLeft(t, sockets)

	stdout, _, code = sb.run(t, "clean", "--state", state, "--containers=false")
	if code != 0 || !strings.Contains(stdout, "nothing to clean") {
		t.Errorf("second bcdr clean: exit %d: %s", code, stdout)
	}
}

// ownerHelperEnv makes the test binary a process that creates a run's work
// directory the way the local provider does, prints its path, and waits for
// its standard input to close (or for a kill).
const ownerHelperEnv = "BCDR_TEST_WORKDIR_OWNER"

func ownerHelper() {
	d, err := workdir.Create(local.WorkDirPrefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(d)
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// A work directory whose owner is gone is removed at once, however young;
// one whose owner runs is kept, and clean says why.
func TestCleanRemovesAWorkDirOnceItsOwnerIsGone(t *testing.T) {
	sb := newSandbox(t)
	state := filepath.Join(sb.tmp, "state")
	clean := func(t *testing.T) string {
		t.Helper()
		stdout, stderr, code := sb.run(t, "clean", "--state", state, "--containers=false")
		t.Logf("bcdr clean:\n%s%s", stdout, stderr)
		if code != 0 {
			t.Fatalf("bcdr clean: exit %d", code)
		}
		return stdout
	}

	// A process that makes a work directory, as a drill does.
	owner := exec.Command(os.Args[0])
	owner.Env = append(sb.env(), ownerHelperEnv+"=1")
	in, err := owner.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := owner.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { in.Close(); _ = owner.Process.Kill(); _ = owner.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the owner process printed no directory: %v", err)
	}
	dir := strings.TrimSpace(line)
	if filepath.Dir(dir) != sb.tmp || !strings.HasPrefix(filepath.Base(dir), local.WorkDirPrefix) {
		t.Fatalf("work directory %s is not a %s* directory of the sandbox %s", dir, local.WorkDirPrefix, sb.tmp)
	}
	rec, err := workdir.ReadOwner(dir)
	if err != nil || rec.Pid != owner.Process.Pid || rec.Start == 0 {
		t.Fatalf("owner record of %s: %+v, %v; want pid %d and a start time", dir, rec, err, owner.Process.Pid)
	}
	// Some data, as a run leaves.
	if err := os.WriteFile(filepath.Join(dir, "data"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}

	// Owned by a live process: kept, with the reason.
	stdout := clean(t)
	if want := fmt.Sprintf("kept directory %s: its owner, pid %d", dir, owner.Process.Pid); !strings.Contains(stdout, want) {
		t.Errorf("bcdr clean does not say %q", want)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("bcdr clean removed the directory of a live owner: %v", err)
	}

	// The owner killed with SIGKILL cannot clean up; the directory is a
	// second old, far under --min-age, and goes all the same.
	_ = owner.Process.Kill()
	_ = owner.Wait()
	stdout = clean(t)
	if want := "removed directory " + dir; !strings.Contains(stdout, want) {
		t.Errorf("bcdr clean does not say %q", want)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the directory of a gone owner is still there (%v)", err)
	}
}

// The owner record names a process by its pid and start time: a pid that
// now belongs to another process (here: this test, with another start
// time) or to no process is a gone owner; this test's own pid and start
// time is a live one. A directory without a record is judged by age.
func TestCleanJudgesOwnerRecords(t *testing.T) {
	sb := newSandbox(t)
	mk := func(name string) string {
		d := filepath.Join(sb.tmp, local.WorkDirPrefix+name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	self := workdir.Self()
	if self.Start == 0 {
		t.Skip("no /proc/self/stat: start times cannot be read here")
	}
	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	reused, dead, live, legacy := mk("reused"), mk("dead"), mk("live"), mk("legacy")
	for d, o := range map[string]workdir.Owner{
		reused: {Pid: self.Pid, Start: self.Start + 1},
		dead:   {Pid: exited.Process.Pid, Start: 1},
		live:   self,
	} {
		if err := workdir.WriteOwner(d, o); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, code := sb.run(t, "clean", "--state", filepath.Join(sb.tmp, "state"), "--containers=false")
	t.Logf("bcdr clean:\n%s%s", stdout, stderr)
	if code != 0 {
		t.Fatalf("bcdr clean: exit %d", code)
	}
	for _, w := range []string{
		"removed directory " + reused,
		"removed directory " + dead,
		fmt.Sprintf("kept directory %s: its owner, pid %d", live, self.Pid),
		"kept directory " + legacy + ": no owner record, and younger than --min-age 1m0s",
	} {
		if !strings.Contains(stdout, w) {
			t.Errorf("bcdr clean does not say %q", w)
		}
	}
	for d, wantThere := range map[string]bool{reused: false, dead: false, live: true, legacy: true} {
		_, err := os.Stat(d)
		if there := err == nil; there != wantThere {
			t.Errorf("%s: there = %v after clean, want %v", d, there, wantThere)
		}
	}
}
