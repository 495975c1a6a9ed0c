package harness

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

const (
	machineWaitTick = 200 * time.Millisecond
	// machineWaitFloor is the least per-tick wait worth recording: below
	// it the timer lateness covers it.
	machineWaitFloor = 2 * time.Millisecond
)

// MachineWaitMeter measures how long the processes of a run waited for a
// CPU: the harness itself and every process it started (the database
// servers, the AOS instances, the proxies), and the processes of any
// extra roots (a container's init process and its children). The harness's
// own timer lateness does not see a database starved by a busy neighbour;
// this does. Per tick it keeps the longest wait of any single thread: a
// chain of steps (a request, a log shipping round, a promote) runs on one
// thread at a time, so over a stretch it was delayed at most by the sum of
// the per-tick maxima.
type MachineWaitMeter struct {
	rec   *history.Recorder
	roots func() []int
	last  map[threadID]uint64 // run-queue wait (ns) at the previous tick
}

type threadID struct{ pid, tid int }

// StartMachineWait measures until ctx ends and records history.EvMachineWait
// events. roots may be nil; it is called every tick. It does nothing where
// /proc/self/schedstat cannot be read (not Linux, or no scheduler stats).
func StartMachineWait(ctx context.Context, rec *history.Recorder, roots func() []int) {
	if _, err := os.Stat("/proc/self/schedstat"); err != nil {
		return
	}
	m := &MachineWaitMeter{rec: rec, roots: roots, last: map[threadID]uint64{}}
	m.sample() // the baseline
	goSafe(ctx, "the machine-wait meter", func() {
		t := time.NewTicker(machineWaitTick)
		defer t.Stop()
		prev := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				worst := m.sample()
				if worst >= machineWaitFloor && ctx.Err() == nil {
					rec.Event(history.EvMachineWait, map[string]any{"max_ms": ms(worst), "period_ms": ms(time.Since(prev))})
				}
				prev = now
			}
		}
	})
}

// sample reads every thread's run-queue wait and returns the largest
// growth since the previous sample.
func (m *MachineWaitMeter) sample() time.Duration {
	pids := []int{os.Getpid()}
	if m.roots != nil {
		pids = append(pids, m.roots()...)
	}
	pids = Descendants(pids)
	seen := make(map[threadID]uint64, len(m.last))
	var worst uint64
	for _, pid := range pids {
		tasks, _ := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			w, ok := readWait(pid, tid)
			if !ok {
				continue
			}
			id := threadID{pid, tid}
			seen[id] = w
			if before, ok := m.last[id]; ok && w > before {
				worst = max(worst, w-before)
			}
		}
	}
	m.last = seen
	return time.Duration(worst)
}

func readWait(pid, tid int) (uint64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(tid) + "/schedstat")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	w, err := strconv.ParseUint(f[1], 10, 64)
	return w, err == nil
}

// Descendants returns roots and every living process below them (by
// parent pid), each once.
func Descendants(roots []int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return roots
	}
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := parentOf(pid); ok {
			children[pp] = append(children[pp], pid)
		}
	}
	seen := map[int]bool{}
	var out []int
	var walk func(int)
	walk = func(p int) {
		if p <= 0 || seen[p] {
			return
		}
		seen[p] = true
		out = append(out, p)
		for _, c := range children[p] {
			walk(c)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return out
}

// parentOf reads the parent pid from /proc/PID/stat (the field after the
// command name, which may hold spaces and parentheses).
func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}

// processRoots returns the root pids of an environment whose processes are
// not the harness's children (topology.ProcessRoots: containers), asked at
// most every 2 s; nil for one whose processes are.
func processRoots(ctx context.Context, env topology.Environment) func() []int {
	pr, ok := env.(topology.ProcessRoots)
	if !ok {
		return nil
	}
	var (
		pids []int
		at   time.Time
	)
	return func() []int {
		if time.Since(at) > 2*time.Second {
			pids, at = pr.HostPIDs(ctx), time.Now()
		}
		return pids
	}
}
