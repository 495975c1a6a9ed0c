package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sandbox isolates the processes one test starts: a TMPDIR of its own (work
// directories and PostgreSQL data land there) and a marker variable that
// every child inherits (AOS stubs, bcdr itself), so that leftovers can be
// told from other tests' processes on a shared machine.
type sandbox struct {
	tmp    string
	marker string
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	// A short path: PostgreSQL's socket and data paths must stay short.
	tmp, err := os.MkdirTemp("", "bcdrt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	return &sandbox{tmp: tmp, marker: "BCDR_TEST_MARK=" + hex.EncodeToString(b)}
}

func (s *sandbox) env() []string {
	return append(os.Environ(), "TMPDIR="+s.tmp, s.marker, "BCDR_PROVIDER=", "BCDR_STATE=")
}

// command prepares `bcdr args...` in the sandbox.
func (s *sandbox) command(args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = s.env()
	return cmd
}

// run runs bcdr to completion.
func (s *sandbox) run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := s.command(args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("bcdr %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return o.String(), e.String(), code
}

// processes lists the live processes of the sandbox: those carrying the
// marker, and PostgreSQL servers whose data lives in its TMPDIR.
func (s *sandbox) processes() map[int]string {
	out := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
			continue // exited, waiting to be reaped
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		line := strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " ")
		if strings.Contains(line, s.tmp) {
			out[pid] = line
			continue
		}
		env, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		for _, kv := range strings.Split(string(env), "\x00") {
			if kv == s.marker {
				out[pid] = line
			}
		}
	}
	return out
}

// listeners returns the listening TCP sockets (inode -> port) the sandbox's
// processes hold.
func (s *sandbox) listeners() map[string]int {
	inodes := map[string]bool{}
	for pid := range s.processes() {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if err == nil && strings.HasPrefix(l, "socket:[") {
				inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
			}
		}
	}
	out := map[string]int{}
	for inode, port := range listeningSockets() {
		if inodes[inode] {
			out[inode] = port
		}
	}
	return out
}

// listeningSockets reads every listening TCP socket (inode -> port).
func listeningSockets() map[string]int {
	out := map[string]int{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 10 || fs[3] != "0A" { // 0A = LISTEN
				continue
			}
			_, portHex, _ := strings.Cut(fs[1], ":")
			port, _ := strconv.ParseInt(portHex, 16, 32)
			out[fs[9]] = int(port)
		}
		fh.Close()
	}
	return out
}

// workDirs lists the run work directories in the sandbox's TMPDIR.
func (s *sandbox) workDirs() []string {
	d, _ := filepath.Glob(filepath.Join(s.tmp, "bcdr-run-*"))
	return d
}

// requireNothingLeft fails unless no process of the sandbox runs, none of
// the listening sockets seen earlier is still open, and no work directory
// is left.
func (s *sandbox) requireNothingLeft(t *testing.T, sockets map[string]int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var left map[int]string
	for {
		left = s.processes()
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for pid, cmd := range left {
		t.Errorf("process %d still running: %s", pid, cmd)
	}
	now := listeningSockets()
	for inode, port := range sockets {
		if _, ok := now[inode]; ok {
			t.Errorf("port %d (socket %s) still listening", port, inode)
		}
	}
	for _, d := range s.workDirs() {
		t.Errorf("work directory %s left behind", d)
	}
	t.Logf("nothing left: no process, none of %d listening ports, no bcdr-run-* directory", len(sockets))
}
