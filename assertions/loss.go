package assertions

import (
	"fmt"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
)

// lossMoment is the moment a region's data became unreachable, which the
// data-loss checks (rpo, sign-off, cross-store) measure to: the region-lost
// event a fault recorded for the region the runbook failed over from (the
// last one before the failover), else the first region-lost event, else
// the first region-loss fault's injection (or the first fault: a failover
// after a fault that took no region away, or a region never lost whole,
// such as an isolated one whose data stayed reachable).
func lossMoment(h history.History) (history.Op, bool) {
	lost := h.Events(history.EvRegionLost)
	if fo, ok := h.FirstEvent(history.EvFailoverStart); ok {
		from := str(fo.Value, "from")
		var last *history.Op
		for _, op := range lost {
			op := op
			if op.Wall.Before(fo.Wall) && (from == "" || str(op.Value, "region") == from) {
				last = &op
			}
		}
		if last != nil {
			return *last, true
		}
	}
	if len(lost) > 0 {
		return lost[0], true
	}
	return faultTime(h)
}

// lossName names the moment of loss for explanations: "region a lost at
// service 1h25m (region-lost, by replication-stall-then-loss)".
func lossName(op history.Op) string {
	if op.Key == history.EvRegionLost {
		return fmt.Sprintf("region %s lost at service %s (region-lost, by %s)", str(op.Value, "region"), clock.Round(op.Service), faultName(op))
	}
	return fmt.Sprintf("%s at service %s", faultName(op), clock.Round(op.Service))
}

// regionLost tells whether the run lost a region or failed over, so that
// blob loss inside the RPO window before the moment of loss is allowed.
func regionLost(h history.History) bool {
	if len(h.Events(history.EvRegionLost)) > 0 {
		return true
	}
	if _, ok := h.FirstEvent(history.EvFailoverStart); ok {
		return true
	}
	for _, op := range h.Events(history.EvFaultInjected) {
		if rl, _ := op.Value["region_loss"].(bool); rl {
			return true
		}
	}
	return false
}

// guardWindow checks a result's own consistency: every lost write it
// reports must have been acknowledged inside the window it reports (a
// check that puts hundreds of writes lost over 42 minutes in a 2-minute
// window is itself wrong). Writes outside are named; a pass becomes
// unknown, since the figure it passed on does not cover what was lost.
//
// A region is not lost in an instant: its processes are killed while the
// injection runs, and a write can be acknowledged in between. An
// acknowledgement after the window's end but before the region-loss
// injection that opened it had finished is inside the loss. So is a write
// in flight at the loss: sent before the window's end, committed by the
// region before it went, its acknowledgement reaching the client after
// (the client stamps the acknowledgement when the answer arrives). Only a
// lost write sent after the loss, which the lost region must not have
// taken, or acknowledged before the window's start, is outside it.
func guardWindow(r Result, h history.History) Result {
	if r.Window == nil || len(r.Lost) == 0 {
		return r
	}
	clk := h.Clock()
	end := r.Window.End
	for _, op := range h.Events(history.EvFaultInjected) {
		rl, _ := op.Value["region_loss"].(bool)
		took, ok := num(op.Value["inject_wall_s"])
		if !rl || !ok || op.Service > r.Window.End {
			continue
		}
		if e := clk.At(op.Wall.Add(time.Duration(took * float64(time.Second)))); e > end {
			end = e
		}
	}
	var outside []LostWrite
	for _, l := range r.Lost {
		if l.AckSvc < r.Window.Start || l.InvokeSvc > end {
			outside = append(outside, l)
		}
	}
	if len(outside) == 0 {
		return r
	}
	r.Explanation += fmt.Sprintf("; INCONSISTENT: %s acknowledged outside the reported window (service %s to %s), e.g. %s at service %s, so the window does not measure the loss",
		plural(len(outside), "lost write was", "lost writes were"), clock.Round(r.Window.Start), clock.Round(r.Window.End), outside[0].Key, clock.Round(outside[0].AckSvc))
	if r.Verdict == Pass {
		r.Verdict = Unknown
	}
	return r
}
