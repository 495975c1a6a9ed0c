package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/harness"
)

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

// sumPSS sums the PSS of pids; a process that ended between the listing
// and the read counts nothing. n is how many were read.
func sumPSS(proc string, pids []int) (total int64, n int) {
	for _, pid := range pids {
		if v, err := pss(proc, pid); err == nil {
			total += v
			n++
		}
	}
	return total, n
}

// treePSS sums the PSS of root and every living process below it.
func treePSS(root int) (total int64, n int) {
	return sumPSS("/proc", harness.Descendants([]int{root}))
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
			total, n := treePSS(root)
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
