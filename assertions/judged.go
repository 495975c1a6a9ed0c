package assertions

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/history"
)

// span is a stretch of wall time of the run.
type span struct {
	from, to time.Time
}

func (s span) holds(c history.Completion) bool {
	return !c.Result.Wall.Before(s.from) && !c.Invoke.Wall.After(s.to)
}

// regionSpan is the stretch the region promise governs: from the first
// region-loss fault (or the failover, whatever caused it) to a retry budget
// after the failback, or after the region-loss fault's recovery when no
// failover happened, or the end of the run. Customer requests in it are the
// business of rto and the failback checks, not of fault-domain-availability.
func regionSpan(h history.History, retry time.Duration) (span, bool) {
	var start *history.Op
	for _, op := range h.Events(history.EvFaultInjected) {
		if rl, _ := op.Value["region_loss"].(bool); rl {
			op := op
			start = &op
			break
		}
	}
	fo, failedOver := h.FirstEvent(history.EvFailoverStart)
	if failedOver && (start == nil || fo.Wall.Before(start.Wall)) {
		start = &fo
	}
	if start == nil {
		return span{}, false
	}
	end := lastOp(h).Wall
	if fb, ok := h.FirstEvent(history.EvFailbackDone); ok {
		end = fb.Wall
	} else if !failedOver {
		for _, rec := range h.Events(history.EvFaultRecovered) {
			if rec.Index > start.Index && faultName(rec) == faultName(*start) {
				end = rec.Wall
				break
			}
		}
	}
	return span{from: start.Wall, to: end.Add(h.Clock().Wall(retry))}, true
}

// availabilityFaults are the injected faults fault-domain-availability
// judges: hardware and network faults that do not take a region away.
func availabilityFault(op history.Op) bool {
	if rl, _ := op.Value["region_loss"].(bool); rl {
		return false
	}
	class, single, ok := faultClass(op)
	return ok && !single && (class == faults.Hardware || class == faults.Network)
}

// faultClass is the class of the fault a fault-injected event records, and
// whether it takes what the model runs only one of per region. The event
// carries both (class, single_instance); a history saved before it did is
// judged by the fault catalogue. ok is false for a fault neither knows.
func faultClass(op history.Op) (class faults.Class, singleInstance, ok bool) {
	if c, has := op.Value["class"].(string); has {
		single, _ := op.Value["single_instance"].(bool)
		return faults.Class(c), single, true
	}
	d, ok := faults.Lookup(faultName(op))
	return d.Class, d.SingleInstance, ok
}

// heldBy tells whether any of the spans holds the completion.
func heldBy(spans []span, c history.Completion) bool {
	for _, s := range spans {
		if s.holds(c) {
			return true
		}
	}
	return false
}

// singleInstanceSpans are the windows of the faults that take what the
// model runs only one of per region (faults.Definition.SingleInstance): the
// outage they cause is expected; what they promise is no loss. Each lasts
// a retry budget (service time) past the fault's recovery.
func singleInstanceSpans(h history.History, retry time.Duration) []span {
	var out []span
	for _, op := range h.Events(history.EvFaultInjected) {
		if _, single, ok := faultClass(op); !ok || !single {
			continue
		}
		end := lastOp(h).Wall
		for _, rec := range h.Events(history.EvFaultRecovered) {
			if rec.Index > op.Index && faultName(rec) == faultName(op) {
				end = rec.Wall
				break
			}
		}
		out = append(out, span{from: op.Wall, to: end.Add(h.Clock().Wall(retry))})
	}
	return out
}

// customerRequest tells whether a completion is a customer's request that
// went wrong: a write, batch run or report that failed or went unknown,
// neither cut short by the end of the run nor refused by limited mode.
func customerFailure(c history.Completion) bool {
	k := c.Invoke.Kind
	if !k.IsWrite() && k != history.Batch && k != history.Report {
		return false
	}
	return c.Result.Type != history.OK && !cancelled(c.Result) && !refusedInLimitedMode(c.Result)
}

// Unjudged tells ("" if none) about customer requests that failed or went
// unknown where none of the checks that ran judged them: outside every
// hardware or network fault's window when fault-domain-availability ran,
// outside a single-instance fault's window (its outage is expected) when rpo
// ran, outside the region-loss stretch when rto ran, outside the failback when
// failback-interruption or batch-outage ran (a check that said unknown
// judged nothing). A run with such requests cannot pass.
func Unjudged(in Input, results []Result) string {
	h := in.History
	judging := map[string]bool{}
	for _, r := range results {
		if r.Verdict != Unknown {
			judging[r.Name] = true
		}
	}
	retry := h.Clock().Wall(in.Budgets.RetryBudget)
	var windows []span
	if judging["fault-domain-availability"] {
		for _, f := range hardwareFaults(h) {
			windows = append(windows, span{from: f.inject.Wall, to: f.recover.Wall.Add(retry)})
		}
	}
	if judging["rpo"] {
		// A single-instance fault's outage is expected; rpo judges that it
		// lost nothing.
		windows = append(windows, singleInstanceSpans(h, in.Budgets.RetryBudget)...)
	}
	if rs, ok := regionSpan(h, in.Budgets.RetryBudget); ok && judging["rto"] {
		to := rs.to
		if fb, ok := h.FirstEvent(history.EvFailbackStart); ok {
			to = fb.Wall
		}
		windows = append(windows, span{from: rs.from, to: to})
	}
	if fb, ok := h.FirstEvent(history.EvFailbackStart); ok && (judging["failback-interruption"] || judging["batch-outage"]) {
		end := lastOp(h).Wall
		if done, ok := eventAfter(h, history.EvFailbackDone, fb); ok {
			end = failbackOver(h, done, true).Wall.Add(retry)
		}
		windows = append(windows, span{from: fb.Wall, to: end})
	}
	var unjudged []history.Completion
	for _, c := range h.Completions() {
		if !customerFailure(c) {
			continue
		}
		judged := false
		for _, w := range windows {
			if w.holds(c) {
				judged = true
				break
			}
		}
		if !judged {
			unjudged = append(unjudged, c)
		}
	}
	if len(unjudged) == 0 {
		return ""
	}
	if why := stalledTimeouts(h, in.Budgets, unjudged); why != "" {
		return why
	}
	return fmt.Sprintf("%s failed or went unknown where no check that ran judged them (%s), so the run cannot pass: the checks its faults call for were skipped, said unknown, or no fault explains the failures",
		plural(len(unjudged), "customer request", "customer requests"), describeFailures(unjudged))
}

// timeoutSpans returns the wall stretch of every write that failed between
// from and to, or nil if any of them failed with a definite error (an HTTP
// error, a refused connection): only time-outs may be a stalled machine.
func timeoutSpans(h history.History, from, to time.Time) []span {
	var out []span
	for _, c := range h.Completions() {
		if !c.Invoke.Kind.IsWrite() || c.Result.Type == history.OK || cancelled(c.Result) ||
			c.Result.Wall.Before(from) || c.Result.Wall.After(to) {
			continue
		}
		if c.Result.Type != history.Unknown || !timedOut(c.Result) {
			return nil
		}
		out = append(out, span{from: c.Invoke.Wall, to: c.Result.Wall})
	}
	return out
}

// timedOut tells whether a request's last attempt ended by running out of
// time rather than by an answer or a refusal.
func timedOut(op history.Op) bool {
	e := op.Error
	return strings.Contains(e, "deadline exceeded") || strings.Contains(e, "Timeout") || strings.Contains(e, "timeout")
}

// stalledTimeouts explains unjudged failures that are all time-outs, each
// during a stall of the machine (the run's processes waiting
// for a CPU) at least as long as a client's attempt: too close to call, with
// the scale that would decide. "" if any of them is not so.
func stalledTimeouts(h history.History, b Budgets, cs []history.Completion) string {
	n := MeasureNoise(h)
	attempt := runAttempt(h, b)
	least := time.Duration(-1)
	for _, c := range cs {
		if c.Result.Type != history.Unknown || !timedOut(c.Result) {
			return ""
		}
		stall := n.MachineWaitIn(c.Invoke.Wall, c.Result.Wall)
		if stall < attempt {
			return ""
		}
		if least < 0 || stall < least {
			least = stall
		}
	}
	// An attempt lasts a quarter of the retry budget in wall time.
	scale := math.Max(1, math.Floor(float64(b.RetryBudget)/4/float64(2*least)))
	return fmt.Sprintf("too close to call: %s timed out where no check judged them (%s), and during each the run's processes (the harness's included) waited for a CPU at least %s, longer than a client's attempt (%s): a stalled machine explains them; rerun with --scale %g, where an attempt lasts twice that stall",
		plural(len(cs), "customer request", "customer requests"), describeFailures(cs), clock.Round(least), clock.Round(attempt), scale)
}
