package assertions

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
)

func judgeOne(t *testing.T, in Input, name string) Result {
	t.Helper()
	j := Judge(in, []string{name})
	if len(j.Checks) != 1 || j.Checks[0].Name != name {
		t.Fatalf("Judge(%s) gave %+v", name, j.Checks)
	}
	return j.Checks[0]
}

// A figure over its budget by less than the run's measured timing noise is
// too close to call: unknown, saying by how much and which scale decides.
func TestJudgeTooCloseToCallIsUnknown(t *testing.T) {
	d := newDrill()
	d.sqlLag = 16 * 60  // 1 minute over the 15-minute budget
	d.shipWallMS = 1500 // a shipping round cost 1.5 s wall: 5 service minutes at scale 200
	r := judgeOne(t, d.input(time.Minute), "replication-lag")
	if r.Verdict != Unknown || !r.TooClose {
		t.Fatalf("verdict %s (too close %t), want unknown: %s", r.Verdict, r.TooClose, r.Explanation)
	}
	for _, want := range []string{"too close to call", "over the budget 15m0s by 1m0s", "one shipping or replication round 1.5s", "--scale 60"} {
		if !strings.Contains(r.Explanation, want) {
			t.Errorf("explanation lacks %q: %s", want, r.Explanation)
		}
	}
	if r.DecideScale != 60 {
		t.Errorf("decide scale %g, want 60 (noise 5 min at 200 is 1.5 min at 60: a tenth of the budget)", r.DecideScale)
	}
	if r.NoiseServiceS < 300 || r.NoiseWallS < 1.5 {
		t.Errorf("noise %gs service %gs wall, want at least 5 min and 1.5 s", r.NoiseServiceS, r.NoiseWallS)
	}
}

// The negative control of the noise band: a defect well past its budget
// still fails, and with no noise measured a figure just over fails too.
func TestJudgeStillFailsBeyondTheNoise(t *testing.T) {
	d := newDrill()
	d.sqlLag = 30 * 60
	d.shipWallMS = 1500
	if r := judgeOne(t, d.input(time.Minute), "replication-lag"); r.Verdict != Fail || r.TooClose {
		t.Errorf("a lag of 30 min against 15 with 5 min of noise: %s (too close %t), want fail", r.Verdict, r.TooClose)
	}
	d = newDrill()
	d.sqlLag = 16 * 60
	if r := judgeOne(t, d.input(time.Minute), "replication-lag"); r.Verdict != Fail {
		t.Errorf("a lag of 16 min with no noise measured: %s, want fail: %s", r.Verdict, r.Explanation)
	}
}

// Noise never excuses a failure that is not a time figure.
func TestJudgeNoiseDoesNotExcuseLoss(t *testing.T) {
	d := newDrill()
	d.shipWallMS = 60_000 // a whole minute of wall noise
	in := d.input(time.Minute)
	// Lose a write acknowledged by region b while failed over.
	lost := ""
	for _, c := range in.History.AcknowledgedWrites() {
		if c.Result.Region == "b" {
			lost = c.Invoke.Key
		}
	}
	in.Final = d.snapshot("a", func(k string) bool { return k != lost })
	if r := judgeOne(t, in, "failback-loss"); r.Verdict != Fail {
		t.Errorf("a write lost across failback with a minute of noise: %s, want fail: %s", r.Verdict, r.Explanation)
	}
}

func TestMeasureNoiseReadsTheHistory(t *testing.T) {
	b := newBuilder()
	b.event(history.EvTimingNoise, map[string]any{"timer_late_max_ms": 12.0, "pacing_late_max_ms": 30.0, "sampler_every_ms": 300.0})
	b.at(time.Minute)
	b.event(history.EvLag, map[string]any{"sql_ship_wall_ms": 400.0, "blob_round_wall_ms": 50.0})
	b.at(4 * time.Minute) // 900 ms wall after the last sample at scale 200: 600 ms late
	b.event(history.EvLag, map[string]any{"sql_ship_wall_ms": 100.0})
	n := MeasureNoise(b.h)
	if n.TimerLateMaxMS != 12 || n.PacingLateMaxMS != 30 || n.ShipWallMS != 400 || n.BlobRoundWallMS != 50 {
		t.Errorf("noise %+v", n)
	}
	if n.SamplerLateMaxMS < 599 || n.SamplerLateMaxMS > 601 {
		t.Errorf("sampler lateness %g ms, want 600", n.SamplerLateMaxMS)
	}
	if j := n.Jitter(); j != 600*time.Millisecond {
		t.Errorf("jitter %s, want the worst lateness 600ms", j)
	}
	if band, _ := n.For("rpo"); band != time.Second {
		t.Errorf("rpo band %s, want jitter 600ms + one shipping round 400ms", band)
	}
	if band, _ := n.For("ledger"); band != 0 {
		t.Errorf("ledger has a noise band %s; it judges no time", band)
	}
}

// CPU waits of the run's processes inside a check's window widen its band:
// a lag 5 minutes over its budget whose backlog built up while the servers
// waited 100 ms for a CPU every service minute (2 s wall in 20 minutes) is
// too close to call; with 5 ms per minute it still fails.
func TestJudgeMachineWaitInTheWindow(t *testing.T) {
	for _, c := range []struct {
		waitMS float64
		want   Verdict
	}{{100, Unknown}, {5, Fail}} {
		// The lag grows a minute a minute up to 20 minutes: the worst
		// sample's backlog built up over the 20 minutes before it.
		b := newBuilder()
		for m := 1; m <= 25; m++ {
			b.at(time.Duration(m) * time.Minute)
			b.event(history.EvMachineWait, map[string]any{"max_ms": c.waitMS, "period_ms": 300.0})
			b.event(history.EvLag, map[string]any{"sql_lag_s": float64(60 * min(m, 20)), "sql_restored": true, "blob_lag_s": 0.0})
		}
		r := judgeOne(t, Input{History: b.h, Budgets: DefaultBudgets()}, "replication-lag")
		if r.Verdict != c.want {
			t.Errorf("waits of %gms a minute: %s, want %s: %s", c.waitMS, r.Verdict, c.want, r.Explanation)
		}
		if c.want == Unknown && !strings.Contains(r.Explanation, "CPU waits in the window 2s") {
			t.Errorf("the explanation does not name the CPU waits: %s", r.Explanation)
		}
	}
}

func TestMachineWaitIn(t *testing.T) {
	b := newBuilder()
	for i := 1; i <= 5; i++ {
		b.at(time.Duration(i) * time.Minute) // 300 ms wall apart at scale 200
		b.event(history.EvMachineWait, map[string]any{"max_ms": float64(10 * i), "period_ms": 300.0})
	}
	n := MeasureNoise(b.h)
	if n.MachineWaitMaxMS != 50 || n.MachineWaitMS != 150 {
		t.Fatalf("max %g sum %g, want 50 and 150", n.MachineWaitMaxMS, n.MachineWaitMS)
	}
	e := b.h.Epoch
	// Ticks end at 300, 600, ... 1500 ms wall and each covers the 300 ms before.
	if got := n.MachineWaitIn(e.Add(650*time.Millisecond), e.Add(1000*time.Millisecond)); got != 70*time.Millisecond {
		t.Errorf("waits in 650..1000 ms = %s, want the ticks ending at 900 and 1200 (30+40 ms)", got)
	}
	if got := n.MachineWaitIn(e.Add(2*time.Second), e.Add(3*time.Second)); got != 0 {
		t.Errorf("waits after the last tick = %s, want 0", got)
	}
}

// rto's "stay successful" resting on writes that timed out while the run's
// processes waited for a CPU longer than an attempt's time-out is too close
// to call; the same time-outs on a quiet machine, or a definite error,
// still fail.
func TestRTOTimeOutsOnAStalledMachine(t *testing.T) {
	build := func(waitMS float64, errText string, typ history.Type) Input {
		b := newBuilder()
		b.event(history.EvFaultInjected, map[string]any{"fault": "region-outage", "region_loss": true, "verified": true})
		b.at(10 * time.Minute)
		b.event(history.EvFailoverDone, map[string]any{"from": "a", "to": "b"})
		for i := 0; i < 5; i++ {
			b.at(b.t + time.Minute)
			b.op(1, history.JournalEntry, fmt.Sprintf("ok-%d", i), history.OK, 200, "b", "b-0", time.Second, nil)
		}
		b.at(b.t + time.Minute)
		_, res := b.op(1, history.JournalEntry, "late", typ, 0, "", "", 2*time.Minute, nil)
		b.h.Ops[res.Index].Error = errText
		if waitMS > 0 {
			b.event(history.EvMachineWait, map[string]any{"max_ms": waitMS, "period_ms": 600.0})
		}
		b.at(b.t + time.Minute)
		b.event(history.EvFailbackStart, map[string]any{"from": "b", "to": "a"})
		return Input{History: b.h, Budgets: DefaultBudgets()}
	}
	deadline := `Post "http://127.0.0.1:1/journal": context deadline exceeded`
	if r := judgeOne(t, build(400, deadline, history.Unknown), "rto"); r.Verdict != Unknown || !r.TooClose ||
		!strings.Contains(r.Explanation, "waited for a CPU") {
		t.Errorf("time-out during a 400 ms CPU wait: %s (too close %t): %s", r.Verdict, r.TooClose, r.Explanation)
	}
	if r := judgeOne(t, build(0, deadline, history.Unknown), "rto"); r.Verdict != Fail {
		t.Errorf("time-out on a quiet machine: %s, want fail: %s", r.Verdict, r.Explanation)
	}
	if r := judgeOne(t, build(400, "HTTP 500: region b refused the write", history.Fail), "rto"); r.Verdict != Fail {
		t.Errorf("a definite error during a CPU wait: %s, want fail: %s", r.Verdict, r.Explanation)
	}
}

// A steady-state write that timed out while the run's processes waited for
// a CPU longer than an attempt leaves the run unknown as too close to call,
// with the scale that decides; the same time-out on a quiet machine is an
// unjudged failure.
func TestUnjudgedTimeOutWithinNoise(t *testing.T) {
	build := func(waitMS float64) Input {
		b := newBuilder()
		b.at(time.Minute)
		b.op(1, history.JournalEntry, "je-1", history.OK, 200, "a", "aos-a-1", time.Second, nil)
		b.at(5 * time.Minute)
		_, res := b.op(1, history.JournalEntry, "je-2", history.Unknown, 0, "", "", 2*time.Minute, nil)
		b.h.Ops[res.Index].Error = `Post "http://127.0.0.1:1/journal": context deadline exceeded`
		if waitMS > 0 {
			b.event(history.EvMachineWait, map[string]any{"max_ms": waitMS, "period_ms": 600.0})
		}
		return Input{History: b.h, Budgets: DefaultBudgets()}
	}
	why := Unjudged(build(300), nil)
	for _, want := range []string{"too close to call", "je-2", "waited for a CPU at least 300ms", "--scale 50"} {
		if !strings.Contains(why, want) {
			t.Errorf("stalled: %q lacks %q", why, want)
		}
	}
	why = Unjudged(build(0), nil)
	if strings.Contains(why, "too close") || !strings.Contains(why, "cannot pass") {
		t.Errorf("quiet: %q, want an unjudged failure", why)
	}
}

// A failback interruption of 30 minutes against 5 on a machine whose
// processes waited for a CPU most of every tick: with nothing known of the
// window it is too close to call; when the runbook recorded that it slept
// through the window (the slow-switchover defect's delay), or that the
// clock ran at the machine scale then, the waits of other processes did
// not stretch the figure and it fails.
func TestChainWaitsExcludeSleepsAndWeighMachineTime(t *testing.T) {
	for _, c := range []struct {
		name    string
		stretch string // "", history.EvPolicySleep, history.EvMachineTime
		want    Verdict
	}{{"nothing recorded", "", Unknown}, {"a deliberate sleep", history.EvPolicySleep, Fail}, {"machine time", history.EvMachineTime, Fail}} {
		b := newBuilder()
		const tick = 200 * time.Millisecond // wall
		svc := func(wall time.Duration) time.Duration { return time.Duration(float64(wall) * b.h.Scale) }
		start := b.event(history.EvFrontDoorDrained, nil)
		var end history.Op
		for w := tick; w <= 46*tick; w += tick {
			b.at(svc(w))
			b.event(history.EvMachineWait, map[string]any{"max_ms": 190.0, "period_ms": 200.0})
			switch {
			case w == 2*tick && c.stretch != "":
				b.event(c.stretch, map[string]any{"begin": true})
			case w == 43*tick && c.stretch != "":
				b.event(c.stretch, map[string]any{"begin": false})
			case w == 45*tick:
				end = b.event("first-write-after", nil)
			}
		}
		r := Result{Name: "failback-interruption", Verdict: Fail, overBudget: true, Observed: end.Service - start.Service,
			Budget: 5 * time.Minute, Window: &Window{StartOp: start.Index, EndOp: end.Index}}
		got := MeasureNoise(b.h).Apply(r)
		if got.Verdict != c.want {
			t.Errorf("%s: %s, want %s (noise %.1fs wall): %s", c.name, got.Verdict, c.want, got.NoiseWallS, got.Explanation)
		}
	}
}

// The attempt time-out a check weighs time-outs against is the one the
// clients used, as the workload recorded it (a provider's floor included);
// a history without that record falls back to the retry budget's.
func TestRunAttemptIsTheRecordedOne(t *testing.T) {
	b := Budgets{RetryBudget: 2 * time.Minute}
	rec := history.NewRecorder(clock.New(100))
	if got, want := runAttempt(rec.Ops(), b), 300*time.Millisecond; got != want {
		t.Errorf("without a record: %s, want %s (a quarter of 1.2 s)", got, want)
	}
	rec.Event(history.EvWorkload, map[string]any{"attempt_ms": 600.0, "retry_ms": 1200.0})
	if got, want := runAttempt(rec.Ops(), b), 600*time.Millisecond; got != want {
		t.Errorf("recorded: %s, want %s", got, want)
	}
	if got := AttemptTimeout(1200*time.Millisecond, 600*time.Millisecond); got != 600*time.Millisecond {
		t.Errorf("AttemptTimeout with a provider floor: %s, want 600ms", got)
	}
}

// A replication-lag failure on SQL log shipping is banded by the delays of
// the jobs that carry the backlog (measured by the engine), not by every
// CPU wait of every process in the window: a 40-minute log backup interval
// (lag 41 minutes against 15) fails on a machine whose processes waited for
// a CPU in every tick, as long as the backup, copy and restore themselves
// were delayed little; a lag a minute over the budget stays too close to
// call when those jobs were delayed by seconds.
func TestReplicationLagBandIsTheChainsDelay(t *testing.T) {
	for _, c := range []struct {
		lagMin  int
		chainMS float64
		want    Verdict
		says    string
	}{
		{41, 900, Fail, "exceeded the RPO budget"},
		{16, 2000, Unknown, "worst log backup, copy and restore delays (late start plus run) 2s + one copy and one restore interval 600ms"},
		{20, 300, Fail, "exceeded the RPO budget"},
	} {
		b := newBuilder()
		for m := 1; m <= c.lagMin+5; m++ {
			b.at(time.Duration(m) * time.Minute)
			// Every tick of the meter saw a thread wait its whole length.
			b.event(history.EvMachineWait, map[string]any{"max_ms": 300.0, "period_ms": 300.0})
			b.event(history.EvLag, map[string]any{"sql_lag_s": float64(60 * min(m, c.lagMin)), "sql_restored": true, "blob_lag_s": 0.0,
				"sql_chain_wall_ms": c.chainMS, "sql_chain_ticks_s": 120.0})
		}
		r := judgeOne(t, Input{History: b.h, Budgets: DefaultBudgets()}, "replication-lag")
		if r.Verdict != c.want || !strings.Contains(r.Explanation, c.says) {
			t.Errorf("lag %dm, chain %gms: %s, want %s saying %q: %s", c.lagMin, c.chainMS, r.Verdict, c.want, c.says, r.Explanation)
		}
		if strings.Contains(r.Explanation, "CPU waits in the window") {
			t.Errorf("lag %dm: the SQL chain's band still counts every CPU wait in the window: %s", c.lagMin, r.Explanation)
		}
	}
	// Without the engine's job delays (a history saved before they were
	// recorded) the band is still the CPU waits in the window.
	b := newBuilder()
	for m := 1; m <= 46; m++ {
		b.at(time.Duration(m) * time.Minute)
		b.event(history.EvMachineWait, map[string]any{"max_ms": 300.0, "period_ms": 300.0})
		b.event(history.EvLag, map[string]any{"sql_lag_s": float64(60 * min(m, 41)), "sql_restored": true, "blob_lag_s": 0.0})
	}
	if r := judgeOne(t, Input{History: b.h, Budgets: DefaultBudgets()}, "replication-lag"); r.Verdict != Unknown || !strings.Contains(r.Explanation, "CPU waits in the window") {
		t.Errorf("an old history's lag band: %s: %s", r.Verdict, r.Explanation)
	}
}

// rpo's window rests on SQL log shipping too: it is banded by the delays of
// the backup and copy that would have shipped its earliest lost write, not
// by every CPU wait of every process in the window. On a machine whose
// processes waited for a CPU through every tick (a window of 18 service
// minutes holds 5.4 s of such waits at scale 200, as much as the window
// itself), a loss window of 18m30s still fails when the chain was delayed
// by 300 ms; a window a minute over the budget stays too close to call
// when the chain was delayed by seconds. The restore job moves no end of the
// window (a failover restores whatever was copied): when the engine measured
// the backup's and copy's delays apart, the band is those and one copy
// interval, so a slow restore leaves a window 2m30s over the budget failing.
func TestRPOBandIsTheChainsDelay(t *testing.T) {
	for _, c := range []struct {
		lost                 time.Duration
		chainMS, lossChainMS float64
		want                 Verdict
		says                 string
	}{
		{18*time.Minute + 30*time.Second, 300, 0, Fail, "exceeds the RPO budget"},
		{16 * time.Minute, 2000, 0, Unknown, "worst log backup, copy and restore delays (late start plus run) 2s + one copy and one restore interval 600ms"},
		{40 * time.Minute, 300, 0, Fail, "exceeds the RPO budget"},
		{17*time.Minute + 30*time.Second, 2000, 200, Fail, "exceeds the RPO budget"},
		{16 * time.Minute, 2000, 200, Unknown, "worst log backup and copy delays (late start plus run) 200ms + one copy interval 300ms"},
	} {
		d := loadedLateDrill()
		d.chainMS, d.lossChainMS = c.chainMS, c.lossChainMS
		in := d.input(c.lost)
		r := judgeOne(t, in, "rpo")
		if r.Verdict != c.want || !strings.Contains(r.Explanation, c.says) {
			t.Errorf("loss %s, chain %gms: %s, want %s saying %q: %s", c.lost, c.chainMS, r.Verdict, c.want, c.says, r.Explanation)
		}
		if strings.Contains(r.Explanation, "CPU waits in the window") {
			t.Errorf("loss %s: the SQL chain's band still counts every CPU wait in the window: %s", c.lost, r.Explanation)
		}
		// sign-off reads the same window (granted here, so it passes):
		// the band it reports is rpo's.
		s := judgeOne(t, in, "sign-off")
		if s.Verdict != Pass || s.NoiseWallS != r.NoiseWallS {
			t.Errorf("loss %s, chain %gms: sign-off %s with band %gs wall, want a pass with rpo's %gs: %s", c.lost, c.chainMS, s.Verdict, s.NoiseWallS, r.NoiseWallS, s.Explanation)
		}
	}
	// Without the engine's job delays the band is the CPU waits in the
	// window, which here cover the whole window: unknown.
	if r := judgeOne(t, loadedLateDrill().input(18*time.Minute+30*time.Second), "rpo"); r.Verdict != Unknown || !strings.Contains(r.Explanation, "CPU waits in the window") {
		t.Errorf("rpo without the chain's delays: %s: %s", r.Verdict, r.Explanation)
	}
}

// loadedLateDrill is a drill whose region is lost at service 45m (room for
// a window of 40 minutes) on a machine whose processes waited for a CPU
// through every tick.
func loadedLateDrill() *drill {
	d := newDrill()
	d.fault, d.foStart = 45*time.Minute, 50*time.Minute
	d.failbackDrained, d.failbackDone = 66*time.Minute, 67*time.Minute
	d.waitMS = 50
	return d
}

// A sized attempt is AttemptFactor times the measured p99, kept between the
// floors and half the retry budget; past the ceiling it says so and names
// the scale at which it would fit.
func TestSizeAttempt(t *testing.T) {
	budget := 2 * time.Minute
	for _, c := range []struct {
		name        string
		p99, retry  time.Duration
		floor, want time.Duration
		capped      bool
		fits        float64
	}{
		{"fast requests keep the floor", 50 * time.Millisecond, 2400 * time.Millisecond, 600 * time.Millisecond, 600 * time.Millisecond, false, 400},
		{"between floor and ceiling", 300 * time.Millisecond, 2400 * time.Millisecond, 600 * time.Millisecond, 900 * time.Millisecond, false, 66},
		{"past the ceiling", 500 * time.Millisecond, 2400 * time.Millisecond, 600 * time.Millisecond, 1200 * time.Millisecond, true, 40},
		{"floor over the ceiling wins", 300 * time.Millisecond, 1200 * time.Millisecond, 800 * time.Millisecond, 800 * time.Millisecond, true, 66},
		{"nothing measured", 0, 1200 * time.Millisecond, 600 * time.Millisecond, 600 * time.Millisecond, false, 0},
	} {
		got, capped, fits := SizeAttempt(c.p99, c.retry, c.floor, budget)
		if got != c.want || capped != c.capped || fits != c.fits {
			t.Errorf("%s: SizeAttempt(%s, %s, %s) = %s, capped %t, fits %g; want %s, %t, %g",
				c.name, c.p99, c.retry, c.floor, got, capped, fits, c.want, c.capped, c.fits)
		}
	}
}

// A blob lag over the budget on a loaded machine is banded by the rounds'
// worst delay (a round copies everything pending), not by every CPU wait
// in the backlog's age: well over fails, within the delay is unknown, and
// a history without the rounds' delays falls back to the CPU waits.
func TestBlobLagBandIsTheRoundsDelay(t *testing.T) {
	for _, c := range []struct {
		lag     float64 // service seconds
		chainMS float64
		want    Verdict
		says    string
	}{
		{20 * 60, 300, Fail, "blob replication"},
		{16 * 60, 900, Unknown, "the worst blob replication round delay (late start plus run) 900ms"},
		{16 * 60, 0, Unknown, "CPU waits in the window"},
	} {
		d := loadedLateDrill()
		d.sqlLag, d.blobLag, d.blobChainMS = 60, c.lag, c.chainMS
		r := judgeOne(t, d.input(time.Minute), "replication-lag")
		if r.Verdict != c.want || !strings.Contains(r.Explanation, c.says) {
			t.Errorf("blob lag %gs, round delay %gms: %s, want %s saying %q: %s", c.lag, c.chainMS, r.Verdict, c.want, c.says, r.Explanation)
		}
		if c.chainMS > 0 && strings.Contains(r.Explanation, "CPU waits in the window") {
			t.Errorf("blob lag %gs: the band still counts every CPU wait in the window: %s", c.lag, r.Explanation)
		}
	}
}
