package topology

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
)

// A run's delay is its lateness against the schedule plus its wall cost: a
// job whose runs take 30 ms, scheduled every 10 ms of wall time, starts
// every run about 20 ms late, and its delay is at least the cost. The
// schedule is kept, and a run under way counts by the time since its tick.
func TestRunJobsNotesEachRunsDelay(t *testing.T) {
	clk := clock.New(100) // 1 s of service is 10 ms of wall
	var costs JobCosts
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	runs := make(chan struct{}, 100)
	release := make(chan struct{})
	RunJobs(ctx, clk, &costs, &wg, Job{Name: JobLogCopy, Every: time.Second, Run: func(ctx context.Context) error {
		runs <- struct{}{}
		if len(runs) >= 4 {
			// The fourth run hangs until released: a run under way.
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		}
		time.Sleep(30 * time.Millisecond)
		return nil
	}})
	defer func() { cancel(); close(release); wg.Wait() }()
	for len(runs) < 4 {
		time.Sleep(5 * time.Millisecond)
	}
	delay, every := costs.Delays()
	if every[JobLogCopy] != time.Second {
		t.Errorf("schedule %s, want 1s", every[JobLogCopy])
	}
	// The third run started at least 20 ms late (the second overran its
	// 10 ms slot by 20 ms) and cost 30 ms.
	if d := delay[JobLogCopy]; d < 50*time.Millisecond {
		t.Errorf("worst delay %s, want at least 50ms (20ms late + 30ms run)", d)
	}
	before := delay[JobLogCopy]
	// The hung run keeps growing the delay while it is under way.
	time.Sleep(before + 50*time.Millisecond)
	if d, _ := costs.Delays(); d[JobLogCopy] <= before {
		t.Errorf("a run under way did not count: delay %s, was %s", d[JobLogCopy], before)
	}
}

func TestChainDelayNeedsEveryJob(t *testing.T) {
	st := ShippingStatus{JobDelay: map[string]time.Duration{JobLogBackup: time.Second, JobLogCopy: time.Second}}
	if _, _, ok := st.ChainDelay(); ok {
		t.Fatal("a chain without a restore run was measured")
	}
	st.JobDelay[JobLogRestore] = 2 * time.Second
	st.JobEvery = map[string]time.Duration{JobLogCopy: time.Minute, JobLogRestore: 2 * time.Minute}
	w, svc, ok := st.ChainDelay()
	if !ok || w != 4*time.Second || svc != 3*time.Minute {
		t.Errorf("chain %s + %s (%v), want 4s + 3m0s", w, svc, ok)
	}
}

// A failover's loss window is carried by the backup and the copy alone: the
// restore's delay and interval are not in it, and it is measured once both
// have run, before any restore.
func TestLossChainDelayIsBackupAndCopy(t *testing.T) {
	st := ShippingStatus{JobDelay: map[string]time.Duration{JobLogBackup: time.Second}}
	if _, _, ok := st.LossChainDelay(); ok {
		t.Fatal("a loss chain without a copy run was measured")
	}
	st.JobDelay[JobLogCopy] = 2 * time.Second
	st.JobEvery = map[string]time.Duration{JobLogCopy: time.Minute, JobLogRestore: 2 * time.Minute}
	w, svc, ok := st.LossChainDelay()
	if !ok || w != 3*time.Second || svc != time.Minute {
		t.Errorf("loss chain %s + %s (%v), want 3s + 1m0s", w, svc, ok)
	}
	st.JobDelay[JobLogRestore] = 10 * time.Second
	if w2, _, _ := st.LossChainDelay(); w2 != w {
		t.Errorf("the restore's delay moved the loss chain from %s to %s", w, w2)
	}
}

// A job whose first tick has not come has delayed nothing, and says so
// (delay 0, known), so a loss window's band does not wait on a log backup
// scheduled past the steady state; once its tick passes with no run
// started, the time since counts; a stopped schedule stops counting.
func TestAJobNotYetRunHasKnownDelay(t *testing.T) {
	clk := clock.New(100)
	var costs JobCosts
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	RunJobs(ctx, clk, &costs, &wg,
		Job{Name: JobLogBackup, Every: time.Hour, Run: func(context.Context) error { return nil }},
		Job{Name: JobLogCopy, Every: time.Second, Run: func(context.Context) error { return nil }})
	deadline := time.Now().Add(10 * time.Second)
	var delay, every map[string]time.Duration
	for {
		delay, every = costs.Delays()
		if _, ran := costs.Worst()[JobLogCopy]; ran || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	d, known := delay[JobLogBackup]
	if !known || d != 0 || every[JobLogBackup] != time.Hour {
		t.Errorf("a backup an hour away: delay %s known %v every %s, want 0, known, 1h", d, known, every[JobLogBackup])
	}
	st := ShippingStatus{JobDelay: delay, JobEvery: every}
	if _, _, ok := st.LossChainDelay(); !ok {
		t.Error("the loss chain is not measured while the backup's first tick is ahead")
	}
	cancel()
	wg.Wait()

	// A first tick passed with no run started counts the time since.
	var late JobCosts
	late.Scheduled(JobLogBackup, time.Minute, time.Now().Add(-time.Second))
	if d, _ := late.Delays(); d[JobLogBackup] < time.Second {
		t.Errorf("a first tick a second ago with no run: delay %s, want at least 1s", d[JobLogBackup])
	}
	late.Stopped(JobLogBackup)
	before, _ := late.Delays()
	time.Sleep(20 * time.Millisecond)
	if before[JobLogBackup] < time.Second {
		t.Errorf("stopping forgot the delay reached: %s, want at least 1s", before[JobLogBackup])
	}
	if after, _ := late.Delays(); after[JobLogBackup] != before[JobLogBackup] {
		t.Errorf("a stopped schedule still grows its delay: %s then %s", before[JobLogBackup], after[JobLogBackup])
	}
}
