package proc

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeRoot lays out a /proc-like tree: pid 123 a postgres server whose
// command name holds a parenthesis and a space, pid 456 with an empty
// command line and no stat, a directory of the caller's own pid, and
// entries that are not processes.
func fakeRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("123/cmdline", "postgres\x00-c\x00cluster_name=bcdr-a\x00")
	write("123/environ", "HOME=/nonexistent\x00BCDR_ROLE=aos\x00")
	write("123/stat", "123 (post) Z gres) S 77 123 123 0 -1 4194560\n")
	write("123/maps", "7f00-7f01 rw-s 00000000 00:1a 5 /dev/shm/PostgreSQL.1 (deleted)\n")
	if err := os.Symlink("/usr/lib/postgresql/15/bin/postgres", filepath.Join(root, "123", "exe")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/var/tmp/bcdr-x", filepath.Join(root, "123", "cwd")); err != nil {
		t.Fatal(err)
	}
	write("456/cmdline", "")
	write(strconv.Itoa(os.Getpid())+"/cmdline", "me\x00")
	write("self/cmdline", "me\x00")
	write("uptime", "1.0 1.0\n")
	return root
}

func TestWalkFakeRoot(t *testing.T) {
	root := fakeRoot(t)
	var pids []int
	got := map[int]Entry{}
	Walk(root, func(e Entry) { pids = append(pids, e.Pid); got[e.Pid] = e })
	if !reflect.DeepEqual(pids, []int{123, 456}) {
		t.Fatalf("Walk found pids %v, want [123 456] (not the caller's own, not self, not files)", pids)
	}

	e := got[123]
	argv, err := e.Argv()
	if err != nil || !reflect.DeepEqual(argv, []string{"postgres", "-c", "cluster_name=bcdr-a"}) {
		t.Errorf("Argv = %q, %v", argv, err)
	}
	if env := e.Environ(); !reflect.DeepEqual(env, []string{"HOME=/nonexistent", "BCDR_ROLE=aos"}) {
		t.Errorf("Environ = %q", env)
	}
	// The command name "(post) Z gres)" must not be read as a zombie's.
	if st := e.Stat(); st != (Stat{State: 'S', PPid: 77, Pgid: 123}) {
		t.Errorf("Stat = %+v, want state S, ppid 77, pgid 123", st)
	}
	if e.Exe() != "/usr/lib/postgresql/15/bin/postgres" || e.Cwd() != "/var/tmp/bcdr-x" {
		t.Errorf("Exe %q, Cwd %q", e.Exe(), e.Cwd())
	}
	if b, err := e.File("maps"); err != nil || !strings.Contains(string(b), "/dev/shm/PostgreSQL.1") {
		t.Errorf("File(maps) = %q, %v", b, err)
	}

	empty := got[456]
	if argv, err := empty.Argv(); err != nil || argv != nil {
		t.Errorf("an empty command line: Argv = %q, %v; want nil, nil", argv, err)
	}
	if st := empty.Stat(); st != (Stat{}) {
		t.Errorf("no stat file: Stat = %+v, want zero", st)
	}
	if env := empty.Environ(); env != nil {
		t.Errorf("no environ file: Environ = %q, want nil", env)
	}
	if empty.Exe() != "" || empty.Cwd() != "" {
		t.Errorf("no links: Exe %q, Cwd %q", empty.Exe(), empty.Cwd())
	}

	gone := At(root, 999)
	if _, err := gone.Argv(); err == nil {
		t.Error("a process that is gone: Argv gave no error")
	}
}

// TestWalkLiveChild finds a child of the test on this machine's /proc,
// with its command line, parent and process group.
func TestWalkLiveChild(t *testing.T) {
	if _, err := os.Stat(Root); err != nil {
		t.Skip("no /proc on this machine")
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep command")
	}
	// Start returns when the kernel closes the child's close-on-exec
	// pipe, inside execve but before it lays out the new program's
	// arguments: for a moment the child's command line reads empty.
	// Wait for the new program to show, as a caller of Walk would see it.
	cmd := exec.Command(sleep, "3600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	child := cmd.Process.Pid
	waitExeced(t, At(Root, child), sleep)

	var found *Entry
	self := false
	Walk(Root, func(e Entry) {
		if e.Pid == child {
			found = &e
		}
		self = self || e.Pid == os.Getpid()
	})
	if self {
		t.Error("Walk reported the caller's own process")
	}
	if found == nil {
		t.Fatalf("Walk did not find the child %d", child)
	}
	argv, err := found.Argv()
	if err != nil || !reflect.DeepEqual(argv, []string{sleep, "3600"}) {
		t.Errorf("child Argv = %q, %v; want [%s 3600]", argv, err, sleep)
	}
	st := found.Stat()
	if st.PPid != os.Getpid() || st.Pgid != syscall.Getpgrp() || st.State == 'Z' || st.State == 0 {
		t.Errorf("child Stat = %+v; want parent %d, the test's group %d, alive", st, os.Getpid(), syscall.Getpgrp())
	}
	if want, err := filepath.EvalSymlinks(sleep); err != nil || found.Exe() != want {
		t.Errorf("child Exe = %q, want %q (%v)", found.Exe(), want, err)
	}
	wd, _ := os.Getwd()
	if real, err := filepath.EvalSymlinks(wd); err == nil {
		wd = real
	}
	if found.Cwd() != wd {
		t.Errorf("child Cwd = %q, want the test's %q", found.Cwd(), wd)
	}
}

// waitExeced waits until e's command line names prog: the child has
// finished execve. It gives up after ten seconds.
func waitExeced(t *testing.T, e Entry, prog string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		argv, err := e.Argv()
		if err == nil && len(argv) > 0 && argv[0] == prog {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child %d never showed %s in its command line (last %q, %v)", e.Pid, prog, argv, err)
		}
		time.Sleep(time.Millisecond)
	}
}
