package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// fakeProc writes a process table: pid -> (parent, comm, Pss kB).
func fakeProc(t *testing.T, procs map[int]struct {
	ppid int
	comm string
	kb   int
}) string {
	dir := t.TempDir()
	for pid, p := range procs {
		d := filepath.Join(dir, strconv.Itoa(pid))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		stat := strconv.Itoa(pid) + " (" + p.comm + ") S " + strconv.Itoa(p.ppid) + " 1 1 0 -1\n"
		rollup := "00400000-7ffd0000 ---p 00000000 00:00 0 [rollup]\nRss:  999 kB\nPss:  " + strconv.Itoa(p.kb) + " kB\nPss_Anon: 1 kB\n"
		if err := os.WriteFile(filepath.Join(d, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "smaps_rollup"), []byte(rollup), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not a process.
	if err := os.WriteFile(filepath.Join(dir, "meminfo"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestTreePSSSumsTheRootAndEveryDescendantOnly(t *testing.T) {
	type p = struct {
		ppid int
		comm string
		kb   int
	}
	proc := fakeProc(t, map[int]p{
		1:   {0, "init", 1000},
		10:  {1, "bcdr", 100},
		11:  {10, "postgres", 20},
		12:  {11, "postgres: walwriter ) x", 3}, // a ')' and spaces in the name
		13:  {10, "bcdr aos", 40},
		20:  {1, "other", 5000}, // not ours
		21:  {20, "its child", 7000},
		100: {13, "grandchild", 1},
	})
	got := tree(proc, 10)
	slices.Sort(got)
	if want := []int{10, 11, 12, 13, 100}; !slices.Equal(got, want) {
		t.Errorf("tree = %v, want %v", got, want)
	}
	total, n := treePSS(proc, 10)
	if total != (100+20+3+40+1)<<10 || n != 5 {
		t.Errorf("treePSS = %d bytes over %d processes, want %d over 5", total, n, (100+20+3+40+1)<<10)
	}
	if total, n := treePSS(proc, 999); total != 0 || n != 0 {
		t.Errorf("a gone root: %d bytes over %d processes, want nothing", total, n)
	}
}

func TestPSSOfALiveTree(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		t.Skip("no /proc/self/smaps_rollup on this kernel:", err)
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	own, err := pss("/proc", os.Getpid())
	if err != nil || own <= 0 {
		t.Fatalf("own PSS: %d, %v", own, err)
	}
	if !slices.Contains(tree("/proc", os.Getpid()), cmd.Process.Pid) {
		t.Errorf("the tree of this test does not hold its child %d", cmd.Process.Pid)
	}
	s := samplePeak(os.Getpid(), 10*time.Millisecond)
	peak, procs, samples := s.Stop()
	if samples < 1 || procs < 2 || peak <= 0 {
		t.Errorf("sampler: peak %d bytes over %d processes in %d samples; want some over this process and its child", peak, procs, samples)
	}
}

// BenchmarkTreePSS is what one sample of the peak-memory sampler costs
// (the whole process table is listed, then the tree's smaps_rollup read).
func BenchmarkTreePSS(b *testing.B) {
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		b.Skip("no /proc/self/smaps_rollup on this kernel:", err)
	}
	for i := 0; i < b.N; i++ {
		if _, n := treePSS("/proc", os.Getpid()); n == 0 {
			b.Fatal("read no process")
		}
	}
}
