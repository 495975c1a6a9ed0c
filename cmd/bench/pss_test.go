package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeProc writes a process table: pid -> Pss in kB.
func fakeProc(t *testing.T, procs map[int]int) string {
	dir := t.TempDir()
	for pid, kb := range procs {
		d := filepath.Join(dir, strconv.Itoa(pid))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		rollup := "00400000-7ffd0000 ---p 00000000 00:00 0 [rollup]\nRss:  999 kB\nPss:  " + strconv.Itoa(kb) + " kB\nPss_Anon: 1 kB\n"
		if err := os.WriteFile(filepath.Join(d, "smaps_rollup"), []byte(rollup), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A process with no Pss line.
	if err := os.MkdirAll(filepath.Join(dir, "7"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "7", "smaps_rollup"), []byte("Rss: 5 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSumPSSReadsEveryListedProcessOnly(t *testing.T) {
	proc := fakeProc(t, map[int]int{10: 100, 11: 20, 12: 3, 20: 5000})
	total, n := sumPSS(proc, []int{10, 11, 12, 99 /* gone */, 7 /* no Pss line */})
	if total != (100+20+3)<<10 || n != 3 {
		t.Errorf("sumPSS = %d bytes over %d processes, want %d over 3", total, n, (100+20+3)<<10)
	}
	if _, err := pss(proc, 7); err == nil || !strings.Contains(err.Error(), "no Pss line") {
		t.Errorf("a rollup with no Pss line: %v", err)
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
		if _, n := treePSS(os.Getpid()); n == 0 {
			b.Fatal("read no process")
		}
	}
}
