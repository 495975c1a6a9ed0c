package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// parentOf reads a process's parent pid from /proc/PID/stat.
func parentOf(proc string, pid int) (int, error) {
	b, err := os.ReadFile(filepath.Join(proc, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces: the fields
	// after the last ')' are state, ppid, ...
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("unreadable %s/%d/stat", proc, pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, fmt.Errorf("unreadable %s/%d/stat", proc, pid)
	}
	return strconv.Atoi(f[1])
}

// tree lists root and every live descendant of it, from the process table
// under proc (normally /proc).
func tree(proc string, root int) []int {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, err := parentOf(proc, pid); err == nil {
			children[pp] = append(children[pp], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// pss reads a process's proportional set size in bytes from
// /proc/PID/smaps_rollup.
func pss(proc string, pid int) (int64, error) {
	f, err := os.Open(filepath.Join(proc, strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "Pss:") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			break
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("pid %d smaps_rollup: %w", pid, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("pid %d: no Pss line in smaps_rollup", pid)
}

// treePSS sums the PSS of root and its descendants; a process that ended
// between the listing and the read counts nothing. n is how many were read.
func treePSS(proc string, root int) (total int64, n int) {
	for _, pid := range tree(proc, root) {
		if v, err := pss(proc, pid); err == nil {
			total += v
			n++
		}
	}
	return total, n
}

// peakSampler samples the PSS of a process tree until stopped and keeps
// the peak.
type peakSampler struct {
	mu    sync.Mutex
	peak  int64
	procs int // processes in the tree at the peak
	n     int // samples taken
	stop  context.CancelFunc
	done  chan struct{}
}

// samplePeak starts sampling root's tree every interval.
func samplePeak(root int, interval time.Duration) *peakSampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &peakSampler{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			total, n := treePSS("/proc", root)
			s.mu.Lock()
			if n > 0 {
				s.n++
			}
			if total > s.peak {
				s.peak, s.procs = total, n
			}
			s.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the peak, the process count at the peak
// and the number of samples that read at least one process.
func (s *peakSampler) Stop() (peak int64, procs, samples int) {
	s.stop()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.procs, s.n
}
