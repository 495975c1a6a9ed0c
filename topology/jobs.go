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
	// delay is, per job, the worst of its runs' lateness plus wall cost
	// since the engine started (RunJobs); every its schedule.
	delay, every map[string]time.Duration
	// running is, per job now running, the wall instant of its tick: a run
	// under way delays what it carries by at least the time since.
	running map[string]time.Time
	// first is, per job scheduled whose first run has not started, the
	// wall instant of its first tick: before it the job has delayed
	// nothing (delay 0, known), after it by the time since.
	first map[string]time.Time
}

// Scheduled notes that job runs every (service time) from its first tick
// at the wall instant due. Until that run starts the job's delay is known:
// nothing before the tick, the time since after it. A job scheduled again
// (the engine restarted after a failback) keeps its worst delay so far.
func (c *JobCosts) Scheduled(job string, every time.Duration, due time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.delay == nil {
		c.delay, c.every = map[string]time.Duration{}, map[string]time.Duration{}
	}
	if c.first == nil {
		c.first = map[string]time.Time{}
	}
	if _, ok := c.delay[job]; !ok {
		c.delay[job] = 0
	}
	c.every[job] = every
	c.first[job] = due
}

// Started notes that a scheduled run of job, due at the wall instant due,
// has begun; NoteDelay ends it.
func (c *JobCosts) Started(job string, due time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running == nil {
		c.running = map[string]time.Time{}
	}
	c.running[job] = due
	delete(c.first, job)
}

// NoteDelay records one scheduled run's delay: how late it started against
// its schedule (wall) plus its wall cost. Unlike Note's recent window it
// keeps the worst since the start, so a check judging a backlog after the
// fact sees the delay of every run that could have carried it.
func (c *JobCosts) NoteDelay(job string, every, late, cost time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.delay == nil {
		c.delay, c.every = map[string]time.Duration{}, map[string]time.Duration{}
	}
	c.delay[job] = max(c.delay[job], max(late, 0)+cost)
	c.every[job] = every
	delete(c.running, job)
}

// Stopped notes that job's schedule has ended: a run cut short or a first
// tick passed with no run keeps the delay it had reached, and grows no
// more.
func (c *JobCosts) Stopped(job string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, pending := range []map[string]time.Time{c.running, c.first} {
		if due, ok := pending[job]; ok {
			if _, known := c.delay[job]; known {
				c.delay[job] = max(c.delay[job], time.Since(due))
			}
			delete(pending, job)
		}
	}
}

// Delays is, per scheduled job, the worst delay (lateness plus wall cost)
// of its runs so far, a run under way or a first run not yet started
// counted by the time since its tick (0 before the tick), and its
// schedule (service time); nil before any job was scheduled or has run.
func (c *JobCosts) Delays() (delay, every map[string]time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.delay) == 0 {
		return nil, nil
	}
	delay, every = make(map[string]time.Duration, len(c.delay)), make(map[string]time.Duration, len(c.every))
	for k, v := range c.delay {
		delay[k] = v
	}
	for _, pending := range []map[string]time.Time{c.running, c.first} {
		for k, due := range pending {
			if _, ok := delay[k]; ok {
				delay[k] = max(delay[k], time.Since(due))
			}
		}
	}
	for k, v := range c.every {
		every[k] = v
	}
	return delay, every
}

// Delay is one job's figure from Delays; false when the job was never
// scheduled.
func (c *JobCosts) Delay(job string) (time.Duration, bool) {
	delay, _ := c.Delays()
	d, ok := delay[job]
	return d, ok
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
// follows the clock's changes of scale. Each run's lateness against its
// schedule (a late timer, a previous run that overran) and its wall cost are
// noted as its delay (JobCosts.NoteDelay). wg (optional) is done when every
// job has stopped. It returns at once.
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
			if costs != nil {
				defer costs.Stopped(j.Name)
			}
			// due is the run's tick on the schedule; next is when it may
			// start (later than due when the previous run overran).
			due := clk.Now() + j.Every
			next := due
			if costs != nil {
				costs.Scheduled(j.Name, j.Every, clk.WallAt(due))
			}
			for {
				if err := clk.SleepUntil(ctx, next); err != nil || ctx.Err() != nil {
					return
				}
				start := time.Now()
				dueWall := clk.WallAt(due)
				late := start.Sub(dueWall)
				if costs != nil {
					costs.Started(j.Name, dueWall)
				}
				_ = j.Run(ctx) // failures are the engine's to count
				if costs != nil && ctx.Err() == nil {
					cost := time.Since(start)
					costs.Note(j.Name, cost)
					costs.NoteDelay(j.Name, j.Every, late, cost)
				}
				due = next + j.Every
				next = due
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

// Fill sets a shipping status's job figures (JobWall, JobDelay, JobEvery).
func (c *JobCosts) Fill(st *ShippingStatus) {
	st.JobWall = c.Worst()
	st.JobDelay, st.JobEvery = c.Delays()
}
