package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/control"
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
