package topology

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
)

// Job is one scheduled job of a replication engine: a log backup, a copy
// across the WAN, a restore, a blob replication round.
type Job struct {
	Name  string
	Every time.Duration // service time between the starts of two runs
	Run   func(context.Context) error
}

// JobCosts keeps the wall time of the recent runs of each job. A job's run
// is machine work: what it costs in wall time is the same at any time
// scale, so the harness reads these costs as part of its timing noise.
type JobCosts struct {
	mu     sync.Mutex
	recent map[string][]time.Duration
}

// costWindow is how many recent runs of a job Worst looks at.
const costWindow = 8

// Note records one run of a job.
func (c *JobCosts) Note(job string, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recent == nil {
		c.recent = map[string][]time.Duration{}
	}
	r := append(c.recent[job], d)
	if len(r) > costWindow {
		r = r[len(r)-costWindow:]
	}
	c.recent[job] = r
}

// Worst is the longest of the recent runs of each job (nil before any run).
func (c *JobCosts) Worst() map[string]time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.recent) == 0 {
		return nil
	}
	out := make(map[string]time.Duration, len(c.recent))
	for job, r := range c.recent {
		for _, d := range r {
			out[job] = max(out[job], d)
		}
	}
	return out
}

// Time runs f and notes its wall time under job.
func (c *JobCosts) Time(job string, f func() error) error {
	start := time.Now()
	err := f()
	c.Note(job, time.Since(start))
	return err
}

// RunJobs runs each job on its service-time schedule until ctx ends, timing
// every run into costs (nil: not timed). A job starts Every after its
// previous start, or at once when its previous run took longer; the schedule
// follows the clock's changes of scale. wg (optional) is done when every job
// has stopped. It returns at once.
func RunJobs(ctx context.Context, clk *clock.Clock, costs *JobCosts, wg *sync.WaitGroup, jobs ...Job) {
	// A stable order keeps logs and tests readable.
	sort.SliceStable(jobs, func(i, j int) bool { return jobs[i].Name < jobs[j].Name })
	for _, j := range jobs {
		if j.Every <= 0 || j.Run == nil {
			continue
		}
		if wg != nil {
			wg.Add(1)
		}
		go func() {
			if wg != nil {
				defer wg.Done()
			}
			next := clk.Now() + j.Every
			for {
				if err := clk.SleepUntil(ctx, next); err != nil || ctx.Err() != nil {
					return
				}
				start := time.Now()
				_ = j.Run(ctx) // failures are the engine's to count
				if costs != nil && ctx.Err() == nil {
					costs.Note(j.Name, time.Since(start))
				}
				next += j.Every
				if now := clk.Now(); next < now {
					next = now
				}
			}
		}()
	}
}

// Job names of the log-shipping and blob-replication engines.
const (
	JobLogBackup   = "log-backup"
	JobLogCopy     = "log-copy"
	JobLogRestore  = "log-restore"
	JobReplication = "blob-replication"
)
