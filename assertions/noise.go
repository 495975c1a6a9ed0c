package assertions

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
)

// Noise is the harness's own timing noise over a run, in wall time, read
// from the recorded history: how late timers fired (a loaded machine), how
// long the machine work of a log-shipping round and a blob replication
// round took, how slow the slowest request was in steady state. At a time
// scale of 200 every wall millisecond of it is 200 service milliseconds
// that no policy of the environment spent, so a figure within this noise of
// its budget cannot be told from a broken promise: Judge makes it unknown.
type Noise struct {
	// TimerLateMaxMS is the worst lateness of the harness's 10 ms probe
	// ticker; TimerLateP99MS its 99th percentile.
	TimerLateMaxMS float64 `json:"timer_late_max_ms"`
	TimerLateP99MS float64 `json:"timer_late_p99_ms"`
	// PacingLateMaxMS is the worst lateness of the workload's pacing ticks.
	PacingLateMaxMS float64 `json:"pacing_late_max_ms"`
	// SamplerLateMaxMS is the worst gap between two lag samples beyond the
	// sampler's period.
	SamplerLateMaxMS float64 `json:"sampler_late_max_ms"`
	// ShipWallMS is the worst wall cost of shipping one log backup (backup,
	// copy and restore jobs) in steady state; BlobRoundWallMS of one blob
	// replication round.
	ShipWallMS      float64 `json:"ship_wall_ms"`
	BlobRoundWallMS float64 `json:"blob_round_wall_ms"`
	// RequestWallMS is the slowest acknowledged write before the first
	// fault (invoke to acknowledgement).
	RequestWallMS float64 `json:"request_wall_ms"`
	// FailoverWallMS is the wall time of the failover's steps (fence,
	// promote, blob, limited mode), summed.
	FailoverWallMS float64 `json:"failover_wall_ms"`
	// MachineWallMS is the longest stretch of machine work the clock ran
	// at the machine scale for (judged at its wall value, not scaled).
	MachineWallMS float64 `json:"machine_wall_ms"`
	// MachineWaitMaxMS is the longest any one thread of the run's
	// processes (the harness, the servers and instances it started)
	// waited for a CPU within one tick of the machine-wait meter;
	// MachineWaitMS sums the ticks' longest waits over the whole run.
	MachineWaitMaxMS float64 `json:"machine_wait_max_ms,omitempty"`
	MachineWaitMS    float64 `json:"machine_wait_ms,omitempty"`
	// SQLChainWallMS bounds what the machine added to the age of a write
	// the SQL secondary lacked in steady state: the worst delays (lateness
	// against the schedule plus wall cost) of a log backup, a copy and a
	// restore; SQLChainTicksS is one copy and one restore interval (service
	// seconds), the ticks a late chain may miss. The band of a
	// replication-lag failure resting on SQL log shipping.
	SQLChainWallMS float64 `json:"sql_chain_wall_ms,omitempty"`
	SQLChainTicksS float64 `json:"sql_chain_ticks_s,omitempty"`
	// SQLLossChainWallMS and SQLLossChainTicksS are the same for a
	// failover's loss window: the worst delays of a log backup and a copy,
	// and one copy interval (a failover restores whatever was copied, so
	// the restore job moves no end of it). The band of rpo.
	SQLLossChainWallMS float64 `json:"sql_loss_chain_wall_ms,omitempty"`
	SQLLossChainTicksS float64 `json:"sql_loss_chain_ticks_s,omitempty"`
	// BlobChainWallMS is the worst delay (lateness plus wall cost) of a
	// blob replication round in steady state, for an engine that schedules
	// its own rounds: the band of a replication-lag failure resting on the
	// blob store (a round copies everything pending).
	BlobChainWallMS float64 `json:"blob_chain_wall_ms,omitempty"`
	// Scale is the base time scale the noise is multiplied by.
	Scale float64 `json:"time_scale"`

	waits []waitTick   // the machine-wait meter's ticks
	ops   []history.Op // to place a check's window in wall time
	// machine are the stretches the clock ran at the machine scale (a wall
	// second is a service second); sleeps the runbook's deliberate waits
	// (a timer, on no run queue).
	machine, sleeps []span
}

// covers tells whether the span holds all of [from, to].
func (s span) covers(from, to time.Time) bool { return !from.Before(s.from) && !to.After(s.to) }

// waitTick is one tick of the machine-wait meter: the longest wait of a
// thread between from and to.
type waitTick struct {
	from, to time.Time
	wait     time.Duration
}

// MachineWaitIn is the sum of the meter's per-tick longest waits over the
// ticks that overlap [from, to] (wall time): at most this much of a chain
// of steps that ran then was spent waiting for a CPU.
func (n Noise) MachineWaitIn(from, to time.Time) time.Duration {
	var sum time.Duration
	for _, t := range n.waits {
		if t.to.After(from) && t.from.Before(to) {
			sum += t.wait
		}
	}
	// A chain cannot have waited longer than the stretch lasted.
	return min(sum, max(to.Sub(from), 0))
}

// chainWaitIn is MachineWaitIn for a check's figure, weighed by what the
// clock made of each tick: a tick inside a deliberate sleep of the runbook
// counts nothing (the chain that ends the figure was a timer then, on no
// run queue; its lateness at wake-up is timer lateness, already in the
// band), a tick inside a machine-time stretch counts 1/scale (the clock
// turned its wall seconds into as many service seconds, not scale times
// as many), any other tick in full. A tick only partly inside counts in
// full: the band stays an upper bound.
func (n Noise) chainWaitIn(from, to time.Time) time.Duration {
	scale := n.Scale
	if scale < 1 {
		scale = 1
	}
	inside := func(spans []span, t waitTick) bool {
		for _, s := range spans {
			if s.covers(t.from, t.to) {
				return true
			}
		}
		return false
	}
	var sum time.Duration
	for _, t := range n.waits {
		if !t.to.After(from) || !t.from.Before(to) {
			continue
		}
		switch {
		case inside(n.sleeps, t):
		case inside(n.machine, t):
			sum += time.Duration(float64(t.wait) / scale)
		default:
			sum += t.wait
		}
	}
	return min(sum, max(to.Sub(from), 0))
}

// wallWindow places the stretch a check's figure was measured over in wall
// time: the window's operations, or for replication-lag (whose figure is
// the age of the backlog at its worst sample) the backlog's age back from
// that sample.
func (n Noise) wallWindow(r Result) (time.Time, time.Time, bool) {
	if r.Window == nil {
		return time.Time{}, time.Time{}, false
	}
	at := func(i int) (time.Time, bool) {
		if i >= 0 && i < len(n.ops) && n.ops[i].Index == i {
			return n.ops[i].Wall, true
		}
		return time.Time{}, false
	}
	to, ok := at(r.Window.EndOp)
	if !ok {
		return time.Time{}, time.Time{}, false
	}
	if r.Name == "replication-lag" {
		scale := n.Scale
		if scale <= 0 {
			scale = 1
		}
		return to.Add(-time.Duration(float64(r.Observed) / scale)), to, true
	}
	from, ok := at(r.Window.StartOp)
	return from, to, ok
}

// sqlChain is the band of a figure that rests on SQL log shipping, when
// the engine measured its jobs' delays, in wall time. Two figures rest on
// it (rpo's window is sign-off's too). replication-lag, when its worst sample was SQL's: the worst backup,
// copy and restore delays plus one copy and one restore interval (a chain
// that missed its tick by a little waits one more). rpo, whose window runs
// from the earliest write no copied log backup held to the loss: the
// machine lengthens it only by delaying the backup and the copy that would
// have carried that write (a failover restores whatever was copied, and a
// CPU wait of a client or a server elsewhere in the window moves neither
// end of it), so its band is those two delays and one copy interval; a
// history without them is banded by the whole chain.
func (n Noise) sqlChain(r Result) (time.Duration, string, bool) {
	scale := n.Scale
	if scale <= 0 {
		scale = 1
	}
	band := func(jobsMS, ticksS float64, jobsWhat, ticksWhat string) (time.Duration, string, bool) {
		jobs := msDur(jobsMS)
		ticks := time.Duration(ticksS * float64(time.Second) / scale)
		return jobs + ticks, fmt.Sprintf("the worst %s delays (late start plus run) %s + %s %s",
			jobsWhat, clock.Round(jobs), ticksWhat, clock.Round(ticks)), true
	}
	switch {
	case lossWindowed(r.Name) && n.SQLLossChainWallMS > 0:
		return band(n.SQLLossChainWallMS, n.SQLLossChainTicksS, "log backup and copy", "one copy interval")
	case (lossWindowed(r.Name) || (r.Name == "replication-lag" && r.lagStore == lagSQL)) && n.SQLChainWallMS > 0:
		return band(n.SQLChainWallMS, n.SQLChainTicksS, "log backup, copy and restore", "one copy and one restore interval")
	case r.Name == "replication-lag" && r.lagStore == lagBlob && n.BlobChainWallMS > 0:
		// One job: a round copies everything pending, so a late or slow
		// round delays what it carries by its delay and no more.
		d := msDur(n.BlobChainWallMS)
		return d, "the worst blob replication round delay (late start plus run) " + clock.Round(d).String(), true
	}
	return 0, "", false
}

// lossWindowed tells whether a check's figure is the failover's loss
// window (setLossWindow): rpo's, and sign-off's, which holds the same
// window to what the customer consented to.
func lossWindowed(check string) bool { return check == "rpo" || check == "sign-off" }

// clientRetryStep is the longest pause of a client between two attempts
// (harness/workload.go): the resolution of "the first write after".
const clientRetryStep = 100 * time.Millisecond

func msDur(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// Jitter is the scheduling noise every figure carries: the worst of the
// timer, pacing and sampler lateness.
func (n Noise) Jitter() time.Duration {
	return msDur(math.Max(n.TimerLateMaxMS, math.Max(n.PacingLateMaxMS, n.SamplerLateMaxMS)))
}

// For is the noise band of a check in wall time, with what it is made of
// (0 for a check whose figure is not a time, or is judged at wall value).
func (n Noise) For(check string) (time.Duration, string) {
	band, parts, _ := n.band(check)
	return band, parts
}

// band is For, and whether check judges a time figure at all.
func (n Noise) band(check string) (time.Duration, string, bool) {
	j := n.Jitter()
	parts := []string{"timer lateness " + clock.Round(j).String()}
	add := func(d time.Duration, what string) {
		if d > 0 {
			j += d
			parts = append(parts, what+" "+clock.Round(d).String())
		}
	}
	switch check {
	case "rpo", "sign-off":
		add(msDur(n.ShipWallMS), "one log shipping round")
	case "replication-lag":
		add(msDur(math.Max(n.ShipWallMS, n.BlobRoundWallMS)), "one shipping or replication round")
	case "cross-store":
		add(msDur(n.BlobRoundWallMS), "one blob replication round")
	case "failback-interruption", "batch-outage", "fault-domain-availability":
		add(msDur(n.RequestWallMS), "the slowest steady-state request")
		add(clientRetryStep, "a client's retry step")
	case "rto":
		add(msDur(n.RequestWallMS), "the slowest steady-state request")
		add(msDur(n.FailoverWallMS), "the failover's machine steps")
	default:
		return 0, "", false
	}
	return j, strings.Join(parts, " + "), true
}

// MeasureNoise reads a run's timing noise from its history: the
// timing-noise event, the lag samples (their period and the engines' job
// costs), the steady-state writes and the runbook's machine steps.
func MeasureNoise(h history.History) Noise {
	n := Noise{Scale: h.Scale}
	firstFault := lastOp(h)
	if f, ok := h.FirstEvent(history.EvFaultInjected); ok {
		firstFault = f
	}
	samplerEvery := 0.0
	if ev, ok := h.FirstEvent(history.EvTimingNoise); ok {
		n.TimerLateMaxMS, _ = num(ev.Value["timer_late_max_ms"])
		n.TimerLateP99MS, _ = num(ev.Value["timer_late_p99_ms"])
		n.PacingLateMaxMS, _ = num(ev.Value["pacing_late_max_ms"])
		samplerEvery, _ = num(ev.Value["sampler_every_ms"])
	}
	var prev *history.Op
	for _, op := range h.Events(history.EvLag) {
		if prev != nil && samplerEvery > 0 {
			gap := float64(op.Wall.Sub(prev.Wall))/float64(time.Millisecond) - samplerEvery
			n.SamplerLateMaxMS = math.Max(n.SamplerLateMaxMS, gap)
		}
		op := op
		prev = &op
		if op.Index > firstFault.Index {
			continue // the steady state's costs: a failover's rebuild is not one round
		}
		if v, ok := num(op.Value["sql_ship_wall_ms"]); ok {
			n.ShipWallMS = math.Max(n.ShipWallMS, v)
		}
		if v, ok := num(op.Value["sql_chain_wall_ms"]); ok {
			n.SQLChainWallMS = math.Max(n.SQLChainWallMS, v)
			t, _ := num(op.Value["sql_chain_ticks_s"])
			n.SQLChainTicksS = math.Max(n.SQLChainTicksS, t)
		}
		if v, ok := num(op.Value["sql_loss_chain_wall_ms"]); ok {
			n.SQLLossChainWallMS = math.Max(n.SQLLossChainWallMS, v)
			t, _ := num(op.Value["sql_loss_chain_ticks_s"])
			n.SQLLossChainTicksS = math.Max(n.SQLLossChainTicksS, t)
		}
		if v, ok := num(op.Value["blob_round_wall_ms"]); ok {
			n.BlobRoundWallMS = math.Max(n.BlobRoundWallMS, v)
		}
		if v, ok := num(op.Value["blob_chain_wall_ms"]); ok {
			n.BlobChainWallMS = math.Max(n.BlobChainWallMS, v)
		}
	}
	for _, c := range h.AcknowledgedWrites() {
		if c.Result.Index > firstFault.Index {
			break
		}
		n.RequestWallMS = math.Max(n.RequestWallMS, float64(c.Result.Wall.Sub(c.Invoke.Wall))/float64(time.Millisecond))
	}
	for _, op := range h.Events(history.EvFailoverStep) {
		if v, ok := num(op.Value["wall_ms"]); ok {
			n.FailoverWallMS += v
		}
	}
	n.ops = h.Ops
	for _, op := range h.Events(history.EvMachineWait) {
		w, ok := num(op.Value["max_ms"])
		if !ok {
			continue
		}
		period, _ := num(op.Value["period_ms"])
		// A thread's wait is counted when it next runs, so one tick may
		// report a wait that built up over several: no tick counts more
		// than its own length.
		wait := msDur(w)
		if period > 0 {
			wait = min(wait, msDur(period))
		}
		n.waits = append(n.waits, waitTick{from: op.Wall.Add(-msDur(period)), to: op.Wall, wait: wait})
		n.MachineWaitMaxMS = math.Max(n.MachineWaitMaxMS, w)
		n.MachineWaitMS += w
	}
	for _, op := range h.Events(history.EvMachineTime) {
		if v, ok := num(op.Value["wall_ms"]); ok {
			n.MachineWallMS = math.Max(n.MachineWallMS, v)
		}
	}
	n.machine, n.sleeps = spans(h, history.EvMachineTime), spans(h, history.EvPolicySleep)
	return n
}

// spans pairs the begin and end events of a kind of stretch, in order; a
// stretch never ended (the run was cut) is left out.
func spans(h history.History, kind string) []span {
	var out []span
	var open *time.Time
	for _, op := range h.Events(kind) {
		if b, _ := op.Value["begin"].(bool); b {
			w := op.Wall
			open = &w
			continue
		}
		if open != nil {
			out = append(out, span{from: *open, to: op.Wall})
			open = nil
		}
	}
	return out
}

// Apply turns a failure that rests only on a time figure within the noise
// band of its budget into unknown, and notes the band on the result.
func (n Noise) Apply(r Result) Result {
	if r.Verdict == Fail && !r.overBudget && len(r.timeouts) > 0 {
		return n.applyTimeouts(r)
	}
	band, parts, timed := n.band(r.Name)
	if !timed {
		return r
	}
	if chain, what, ok := n.sqlChain(r); ok {
		// The SQL secondary's backlog is delayed by the machine only
		// through the jobs that carry it, which are measured: their
		// delays, not every CPU wait of every process in the window.
		band, parts = n.Jitter()+chain, "timer lateness "+clock.Round(n.Jitter()).String()+" + "+what
	} else if from, to, ok := n.wallWindow(r); ok {
		if w := n.chainWaitIn(from, to); w > 0 {
			band += w
			parts += " + CPU waits in the window " + clock.Round(w).String()
		}
	}
	if band <= 0 {
		return r
	}
	scale := n.Scale
	if scale <= 0 {
		scale = 1
	}
	bandSvc := time.Duration(float64(band) * scale)
	r.NoiseServiceS, r.NoiseWallS = bandSvc.Seconds(), band.Seconds()
	if r.Verdict != Fail || !r.overBudget || r.Observed-bandSvc > r.Budget {
		return r
	}
	r.Verdict = Unknown
	r.TooClose = true
	decide := decideScale(scale, r.Budget, bandSvc)
	r.DecideScale = decide
	r.Explanation = fmt.Sprintf("too close to call: %s is over the budget %s by %s, within the harness's own timing noise of %s service (%s wall: %s) at scale %g; rerun with --scale %g, where that noise would be about %s. %s",
		clock.Round(r.Observed), clock.Round(r.Budget), clock.Round(r.Observed-r.Budget), clock.Round(bandSvc),
		clock.Round(band), parts, scale, decide, clock.Round(time.Duration(float64(band)*decide)), r.Explanation)
	return r
}

// decideScale is the scale at which the same wall noise would be a tenth
// of the budget (at least 1).
func decideScale(scale float64, budget, bandSvc time.Duration) float64 {
	return math.Max(1, math.Floor(scale*float64(budget)/10/float64(bandSvc)))
}

// AttemptTimeout is how long a client waits for one attempt of a request
// (wall time) when it may retry for retryWall: a few attempts fit in the
// retry budget, never under AttemptFloor nor the provider's floor (a
// request's round trip is machine work, judged at its wall value). The
// workload uses it and records it (history.EvWorkload).
func AttemptTimeout(retryWall, providerFloor time.Duration) time.Duration {
	return max(retryWall/4, AttemptFloor, providerFloor)
}

// AttemptCeiling is the longest attempt time-out of a client that may
// retry for retryWall: two attempts fit in the retry budget, so one stuck
// on a frozen instance leaves room for one on a healthy instance, and a
// request never waits much past the budget the fault-domain check holds it
// to.
func AttemptCeiling(retryWall time.Duration) time.Duration { return retryWall / 2 }

// AttemptFactor is how many times the 99th percentile of the requests
// measured before the first fault a client's attempt waits, when the
// attempt is sized from latency (SizeAttempt).
const AttemptFactor = 3

// SizeAttempt is the attempt time-out sized from the latency the run's
// requests showed before the first fault (their 99th percentile, wall):
// AttemptFactor times it, never under AttemptTimeout (the floors) nor over
// AttemptCeiling. capped says the ceiling cut it: at this scale the retry
// budget is too short in wall time for the requests this machine serves,
// and fits is the highest scale at which the sized attempt would fit
// (0 when p99 is 0).
func SizeAttempt(p99, retryWall, providerFloor time.Duration, retryBudget time.Duration) (attempt time.Duration, capped bool, fits float64) {
	lo := AttemptTimeout(retryWall, providerFloor)
	hi := max(AttemptCeiling(retryWall), lo)
	want := time.Duration(AttemptFactor) * p99
	if p99 > 0 {
		fits = math.Floor(float64(retryBudget) / float64(2*want))
	}
	switch {
	case want <= lo:
		return lo, false, fits
	case want > hi:
		return hi, true, fits
	}
	return want, false, fits
}

// runAttempt is the attempt time-out the run's clients used, as the
// workload recorded it; for a history without that record, the one the
// retry budget gives.
func runAttempt(h history.History, b Budgets) time.Duration {
	if ev, ok := h.FirstEvent(history.EvWorkload); ok {
		if ms, ok := ev.Value["attempt_ms"].(float64); ok && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	return AttemptTimeout(h.Clock().Wall(b.RetryBudget), 0)
}

// AttemptFloor is the shortest attempt time-out of a client.
const AttemptFloor = 150 * time.Millisecond

// applyTimeouts makes a failure that rests only on time-outs unknown when,
// during each of them, the run's processes (the harness's included) waited
// for a CPU by at least one attempt's time-out: a stalled machine explains
// each, so the run cannot tell a broken promise from it. Only waits inside
// each request count: the run's worst timer lateness may lie elsewhere.
func (n Noise) applyTimeouts(r Result) Result {
	attempt := max(r.attempt, AttemptFloor)
	worst := time.Duration(-1)
	for _, s := range r.timeouts {
		stall := n.MachineWaitIn(s.from, s.to)
		if stall < attempt {
			return r
		}
		if worst < 0 || stall < worst {
			worst = stall
		}
	}
	r.Verdict, r.TooClose = Unknown, true
	r.Explanation = fmt.Sprintf("too close to call: the failure rests on %d request(s) that timed out, and during each the run's processes (the harness's included) waited for a CPU at least %s (an attempt times out after %s): a stalled machine explains them. %s",
		len(r.timeouts), clock.Round(worst), clock.Round(attempt), r.Explanation)
	return r
}
