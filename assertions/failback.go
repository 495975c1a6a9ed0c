package assertions

import (
	"fmt"
	"net/http"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
)

// FailbackInterruption checks the BCDR article's "users interrupted at most a few
// minutes" during failback: the longest stretch without a successful write,
// from the last write acknowledged before the failback started to the first
// write acknowledged by the primary region after it finished, must be
// within Budgets.FailbackInterruption.
type FailbackInterruption struct{}

// Name is "failback-interruption".
func (FailbackInterruption) Name() string { return "failback-interruption" }

// Check measures the longest gap between acknowledged writes across failback.
func (FailbackInterruption) Check(in Input) Result {
	const name = "failback-interruption"
	h := in.History
	clk := h.Clock()
	start, ok := h.FirstEvent(history.EvFailbackStart)
	if !ok {
		return unknown(name, "no failback started, so its interruption could not be measured")
	}
	done, finished := eventAfter(h, history.EvFailbackDone, start)
	to := str(done.Value, "to")
	over := failbackOver(h, done, finished)
	acks := h.AcknowledgedWrites()
	r := Result{Name: name, Budget: in.Budgets.FailbackInterruption}

	w := walkFailbackWrites(h, acks, start, over, finished, to)
	worst, worstFrom, worstTo, resumed := w.worst, w.worstFrom, w.worstTo, w.resumed
	r.Observed = worst
	r.Window = window(worstFrom, worstTo)
	r.Ops = []int{start.Index, worstFrom.Index, worstTo.Index}
	if finished {
		r.Ops = append(r.Ops, done.Index)
	}
	failed, firstErr := failedWritesBetween(h, worstFrom, worstTo)
	r.Violations = failed

	steps := failbackSteps(h, start)
	stretch := fmt.Sprintf("no write acknowledged from service %s to %s (from %s to %s)",
		clock.Round(worstFrom.Service), clock.Round(worstTo.Service), describeOp(worstFrom), describeOp(worstTo))
	if failed > 0 {
		stretch += fmt.Sprintf("; %s failed or timed out in it (first: %s)", plural(failed, "write request", "write requests"), firstErr)
	}
	switch {
	case !finished:
		r.Verdict = Fail
		r.Explanation = fmt.Sprintf("failback started at service %s and never finished: writes were interrupted for %s: %s; %s",
			clock.Round(start.Service), clk.FormatSpan(worstFrom.Service, worstTo.Service), stretch, steps)
	case resumed == nil && worst > r.Budget:
		r.Verdict, r.overBudget = Fail, true
		r.Explanation = fmt.Sprintf("no write was acknowledged by region %s after failback-done at service %s: interrupted for %s to the end of the run, above the budget %s: %s; %s",
			to, clock.Round(done.Service), clk.FormatSpan(worstFrom.Service, worstTo.Service), clk.Format(r.Budget), stretch, steps)
	case resumed == nil:
		// Still interrupted when the run ended, but not yet for longer
		// than the budget: the run stopped too soon to tell.
		r.Verdict = Unknown
		r.Explanation = fmt.Sprintf("no write was acknowledged by region %s after failback-done at service %s, but the run ended %s into the interruption, within the budget %s: it cannot tell whether writes would have come back in time (lengthen the after phase); %s; %s",
			to, clock.Round(done.Service), clk.FormatSpan(worstFrom.Service, worstTo.Service), clk.Format(r.Budget), stretch, steps)
	case worst > r.Budget:
		r.Verdict, r.overBudget = Fail, true
		r.Explanation = fmt.Sprintf("writes were interrupted for %s during failback, above the budget %s: %s; %s. The front door stays drained from the drain to the switch: shorten the switchover (final log backup, restore, promote) or rebuild the old primary after the switch",
			clk.FormatSpan(worstFrom.Service, worstTo.Service), clk.Format(r.Budget), stretch, steps)
	default:
		r.Verdict = Pass
		r.Explanation = fmt.Sprintf("longest write interruption during failback %s, within the budget %s: %s; %s",
			clk.FormatSpan(worstFrom.Service, worstTo.Service), clk.Format(r.Budget), stretch, steps)
	}
	return finish(r, clk)
}

// writesWalk is what the acknowledged writes around failback showed.
type writesWalk struct {
	// The longest stretch without an acknowledged write, from worstFrom
	// to worstTo (the end of the run when writes never came back).
	worst              time.Duration
	worstFrom, worstTo history.Op
	// resumed is the first write acknowledged by the target region after
	// the failback was over, nil when none was.
	resumed *history.Op
	// openFrom opens the stretch still in progress when resumed is nil.
	openFrom history.Op
}

// walkFailbackWrites walks the acknowledged writes from failback-start:
// the stretch in progress opens at the last acknowledgement at or before
// start (or start itself) and ends at each next acknowledgement, until the
// first one by region to (any region when to is "") after over.
func walkFailbackWrites(h history.History, acks []history.Completion, start, over history.Op, finished bool, to string) writesWalk {
	prev := start
	var rest []history.Completion
	for _, c := range acks {
		if !c.Result.Wall.After(start.Wall) {
			prev = c.Result
		} else {
			rest = append(rest, c)
		}
	}
	w := writesWalk{worst: -1}
	for _, c := range rest {
		if gap := c.Result.Service - prev.Service; gap > w.worst {
			w.worst, w.worstFrom, w.worstTo = gap, prev, c.Result
		}
		prev = c.Result
		if finished && c.Result.Wall.After(over.Wall) && (to == "" || c.Result.Region == to) {
			op := c.Result
			w.resumed = &op
			return w
		}
	}
	// Writes never came back after the failback (or it never finished):
	// the interruption lasts to the end of the run.
	w.openFrom = prev
	end := lastOp(h)
	if gap := end.Service - prev.Service; gap >= w.worst {
		w.worst, w.worstFrom, w.worstTo = gap, prev, end
	}
	return w
}

// WritesBackAfterFailback tells whether h holds what failback-interruption
// needs to end its count: failback finished and a write was then
// acknowledged by the region failed back to after over, the moment the
// failback was over (failback-done, or the standby rebuilt after it). When
// not, openFrom opens the stretch still in progress. A drill's after phase
// waits on it (see harness), so a run whose writes were slowed past the
// after phase is not judged unknown for want of one. finished is false
// while no failback has finished.
func WritesBackAfterFailback(h history.History) (back bool, openFrom, over history.Op, finished bool) {
	start, done, over, finished := finishedFailback(h)
	if !finished {
		return false, history.Op{}, history.Op{}, false
	}
	w := walkFailbackWrites(h, h.AcknowledgedWrites(), start, over, true, str(done.Value, "to"))
	return w.resumed != nil, w.openFrom, over, true
}

// finishedFailback finds the first failback's start, its done event and
// the moment it was over (failbackOver); finished is false while no
// failback has finished.
func finishedFailback(h history.History) (start, done, over history.Op, finished bool) {
	start, ok := h.FirstEvent(history.EvFailbackStart)
	if !ok {
		return start, done, over, false
	}
	if done, finished = eventAfter(h, history.EvFailbackDone, start); !finished {
		return start, done, over, false
	}
	return start, done, failbackOver(h, done, true), true
}

// describeOp names an operation or event for an explanation.
func describeOp(op history.Op) string {
	if op.Kind == history.Event {
		return op.Key
	}
	return fmt.Sprintf("%s (%s)", op.Key, who(op))
}

// failbackOver is the moment the failback ended: the old primary rebuilt
// as a standby (history.EvStandbyRebuilt) when the runbook saw it after
// failback-done, failback-done otherwise.
func failbackOver(h history.History, done history.Op, finished bool) history.Op {
	if !finished {
		return done
	}
	if rb, ok := eventAfter(h, history.EvStandbyRebuilt, done); ok {
		return rb
	}
	return done
}

// failedWritesBetween counts write requests that failed or timed out with
// their outcome inside (from, to].
func failedWritesBetween(h history.History, from, to history.Op) (int, string) {
	n, first := 0, ""
	for _, c := range h.Completions() {
		if !c.Invoke.Kind.IsWrite() || c.Result.Type == history.OK || cancelled(c.Result) {
			continue
		}
		if c.Result.Wall.After(from.Wall) && !c.Result.Wall.After(to.Wall) {
			if n == 0 {
				first = fmt.Sprintf("%s at service %s, %s", c.Invoke.Key, clock.Round(c.Result.Service), outcome(c.Result))
			}
			n++
		}
	}
	return n, first
}

// failbackSteps lists the runbook's failback events with their times, so a
// reader sees where the time went.
func failbackSteps(h history.History, start history.Op) string {
	out := "failback steps:"
	n := 0
	for _, op := range h.Ops {
		if op.Kind != history.Event || op.Index < start.Index {
			continue
		}
		switch op.Key {
		case history.EvFailbackStart, history.EvResyncDone, history.EvFrontDoorDrained, history.EvLimitedModeOff, history.EvFailbackDone, history.EvRunbookError:
			out += fmt.Sprintf(" %s at %s,", op.Key, clock.Round(op.Service))
			n++
		}
		if op.Key == history.EvFailbackDone {
			break
		}
	}
	if n == 0 {
		return "no failback step recorded"
	}
	return out[:len(out)-1]
}

// BatchOutage checks the BCDR article's "the batch service might be unavailable for
// up to 25 minutes" around failback. Batch probes run through the front
// door; the outage is the longest stretch from the last successful batch
// run (or failback-start, whichever is later) before a failed probe to the
// next successful batch run, counting failures that began between
// failback-start and failback-done. Its resolution is the probe interval,
// so the figure is an upper bound.
type BatchOutage struct{}

// Name is "batch-outage".
func (BatchOutage) Name() string { return "batch-outage" }

// Check reads the batch probes around failback.
func (BatchOutage) Check(in Input) Result {
	const name = "batch-outage"
	h := in.History
	clk := h.Clock()
	start, ok := h.FirstEvent(history.EvFailbackStart)
	if !ok {
		return unknown(name, "no failback started, so the batch outage around it could not be measured")
	}
	done, finished := eventAfter(h, history.EvFailbackDone, start)
	over := failbackOver(h, done, finished)
	batches := completionsOf(h, history.Batch)
	r := Result{Name: name, Budget: in.Budgets.BatchOutage, Ops: []int{start.Index}}
	if finished {
		r.Ops = append(r.Ops, done.Index)
	}

	w := walkBatchProbes(h, batches, start, over, finished)
	worst, worstFrom, worstTo, worstFail, worstFails := w.worst, w.worstFrom, w.worstTo, w.worstFail, w.worstFails
	neverBack, okAfter, sparsest, probesInFailback := w.neverBack, w.okAfter, w.sparsest, w.probesInFailback
	r.Observed = worst
	if worstFails > 0 {
		r.Window = window(worstFrom, worstTo)
		r.Ops = append(r.Ops, worstFrom.Index, worstFail.Index, worstTo.Index)
		r.Violations = worstFails
	}
	stretch := ""
	if worstFails > 0 {
		stretch = fmt.Sprintf("batch unavailable from %s at service %s to %s at service %s; %s failed, the first %s %s",
			describeOp(worstFrom), clock.Round(worstFrom.Service), describeOp(worstTo), clock.Round(worstTo.Service),
			plural(worstFails, "batch probe", "batch probes"), worstFail.Key, outcome(worstFail))
	}
	switch {
	case neverBack && worst > r.Budget:
		r.Verdict, r.overBudget = Fail, true
		r.Explanation = fmt.Sprintf("the batch service did not come back after failback: %s, still down at the end of the run (%s), above the budget %s; %s",
			stretch, clk.FormatSpan(worstFrom.Service, worstFrom.Service+worst), clk.Format(r.Budget), failbackSteps(h, start))
	case neverBack:
		// Down when the run ended, not yet for longer than the budget.
		r.Verdict = Unknown
		r.Explanation = fmt.Sprintf("the batch service was still down when the run ended, %s into the outage, within the budget %s: the run cannot tell whether it would have come back in time (lengthen the after phase): %s; %s",
			clk.FormatSpan(worstFrom.Service, worstFrom.Service+worst), clk.Format(r.Budget), stretch, failbackSteps(h, start))
	case !finished:
		r.Verdict = Fail
		r.Explanation = fmt.Sprintf("failback started at service %s and never finished, so the batch service never returned to the primary region; %s",
			clock.Round(start.Service), failbackSteps(h, start))
	case worst > r.Budget:
		r.Verdict, r.overBudget = Fail, true
		r.Explanation = fmt.Sprintf("the batch service was unavailable for %s around failback, above the budget %s: %s; %s",
			clk.FormatSpan(worstFrom.Service, worstFrom.Service+worst), clk.Format(r.Budget), stretch, failbackSteps(h, start))
	case !okAfter:
		r.Verdict = Unknown
		r.Explanation = fmt.Sprintf("no batch probe succeeded after failback-done at service %s, so the run cannot tell when the batch service came back (probes every %s?)",
			clock.Round(done.Service), clk.Format(sparsest))
	case probesInFailback == 0 || sparsest > r.Budget:
		r.Verdict = Unknown
		r.Explanation = fmt.Sprintf("batch probes were too sparse around failback (%d during it, largest gap %s) to see an outage of %s",
			probesInFailback, clk.Format(sparsest), clk.Format(r.Budget))
	case worstFails == 0:
		r.Verdict = Pass
		r.Explanation = fmt.Sprintf("every batch probe around failback succeeded (%d probes between failback-start at %s and failback-done at %s, largest gap %s); budget %s",
			probesInFailback, clock.Round(start.Service), clock.Round(done.Service), clk.Format(sparsest), clk.Format(r.Budget))
	default:
		r.Verdict = Pass
		r.Explanation = fmt.Sprintf("the batch service was unavailable for at most %s around failback, within the budget %s: %s",
			clk.FormatSpan(worstFrom.Service, worstFrom.Service+worst), clk.Format(r.Budget), stretch)
	}
	return finish(r, clk)
}

// batchWalk is what the batch probes around failback showed.
type batchWalk struct {
	// The longest outage (0 when none) from worstFrom (the last success
	// or failback-start) to worstTo (the next success, or the end of the
	// run), the first of its worstFails failed probes worstFail.
	worst                         time.Duration
	worstFrom, worstTo, worstFail history.Op
	worstFails                    int
	neverBack                     bool          // still down when the run ended
	okAfter                       bool          // a probe succeeded after failback was over
	sparsest                      time.Duration // the largest gap between probes invoked during failback
	probesInFailback              int
}

// walkBatchProbes walks the batch probes in order: an outage begins with a
// probe that failed during failback (from start until over, when it
// finished) and lasts from the last success (or start, whichever is
// later) to the next success.
func walkBatchProbes(h history.History, batches []history.Completion, start, over history.Op, finished bool) batchWalk {
	var w batchWalk
	var lastOK history.Op
	haveOK := false
	down := false
	var downFrom, firstFail history.Op
	fails := 0
	w.worst = -1
	var prevInvoke *history.Op
	for _, c := range batches {
		if cancelled(c.Result) {
			continue
		}
		inv := c.Invoke
		if !inv.Wall.Before(start.Wall) && (!finished || !inv.Wall.After(over.Wall)) {
			w.probesInFailback++
			if prevInvoke != nil && inv.Service-prevInvoke.Service > w.sparsest {
				w.sparsest = inv.Service - prevInvoke.Service
			}
		}
		prevInvoke = &inv
		if c.Result.Type == history.OK {
			if down {
				if d := c.Result.Service - downFrom.Service; d > w.worst {
					w.worst, w.worstFrom, w.worstTo, w.worstFail, w.worstFails = d, downFrom, c.Result, firstFail, fails
				}
				down = false
			}
			lastOK, haveOK = c.Result, true
			if finished && c.Result.Wall.After(over.Wall) {
				w.okAfter = true
			}
			continue
		}
		if down {
			fails++
			continue
		}
		inFailback := c.Result.Wall.After(start.Wall) && (!finished || !c.Invoke.Wall.After(over.Wall))
		if !inFailback {
			continue
		}
		down, fails, firstFail = true, 1, c.Result
		downFrom = start
		if haveOK && lastOK.Wall.After(start.Wall) {
			downFrom = lastOK
		}
	}
	if down {
		end := lastOp(h)
		w.worst, w.worstFrom, w.worstTo, w.worstFail, w.worstFails = end.Service-downFrom.Service, downFrom, end, firstFail, fails
		w.neverBack = true
	}
	if w.worst < 0 {
		w.worst = 0
	}
	return w
}

// BatchBackAfterFailback tells whether h holds what batch-outage needs to
// end its count: failback finished, a batch probe then succeeded after
// over, the moment the failback was over (failback-done, or the standby
// rebuilt after it), and no outage is still open. When one is, openFrom
// opens it. A drill's after phase waits on it (see harness), so a run
// whose probes were slowed past the after phase is not judged unknown for
// want of one. finished is false while no failback has finished.
func BatchBackAfterFailback(h history.History) (back bool, openFrom, over history.Op, finished bool) {
	start, _, over, finished := finishedFailback(h)
	if !finished {
		return false, history.Op{}, history.Op{}, false
	}
	// The check's own walk: what the after phase waits on is what
	// batch-outage reads.
	w := walkBatchProbes(h, completionsOf(h, history.Batch), start, over, true)
	if w.neverBack {
		return false, w.worstFrom, over, true
	}
	return w.okAfter, history.Op{}, over, true
}

// refusedInLimitedMode tells whether a probe was answered with the
// limited-mode refusal (HTTP 423).
func refusedInLimitedMode(op history.Op) bool { return op.Status == http.StatusLocked }
