package assertions

import (
	"fmt"
	"strings"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
)

// Judgement is what the checks made of a run: each check's result, the
// timing noise they were judged with, and the run's verdict with the
// reason when it is unknown.
type Judgement struct {
	Checks  []Result
	Noise   Noise
	Verdict Verdict
	Reason  string
}

// Judge is the one judge of every run: a drill, a suite row, a bcdr up
// session, and a saved run judged again (bcdr check). It runs the named
// checks on in, in order, and makes the run's verdict (RunVerdict). A check
// that cannot judge the run at all (Premise) is unknown with the reason; a
// name no check has is unknown; a failure that lies within the run's timing
// noise of its budget is unknown, too close to call (Noise.Apply); a bcdr
// up session's rto failure is unknown when the session ended within the
// budget (endedEarly). Everything it reads is in the Input, so the same
// input is judged the same.
func Judge(in Input, names []string) Judgement {
	noise := MeasureNoise(in.History)
	var out []Result
	for _, name := range names {
		out = append(out, judgeCheck(in, noise, name))
	}
	out = underDriven(out)
	v, reason := RunVerdict(in, out)
	return Judgement{Checks: out, Noise: noise, Verdict: v, Reason: reason}
}

func judgeCheck(in Input, noise Noise, name string) Result {
	if why := Premise(in.History, name); why != "" {
		return unknown(name, why)
	}
	c, ok := Lookup(name)
	if !ok {
		return unknown(name, fmt.Sprintf("no check is named %q", name))
	}
	return endedEarly(in, noise.Apply(c.Check(in)))
}

// timeBound are the checks whose failure rests on time or availability
// (how long an outage or a recovery took, how fast or how often requests
// were answered). A failure of any other check rests on data (writes lost,
// stores that disagree) or on what the runbook did, whatever the speed.
var timeBound = map[string]bool{
	"rto": true, "failback-interruption": true, "batch-outage": true, "fault-domain-availability": true,
	"replication-lag": true, "restored-after-failback": true, "secondary-capacity": true,
}

// underDriven makes a time-bound failure unknown when validity found that
// the run did not make enough writes before its fault, though none was
// refused (Result.UnderDriven): a machine too
// starved to drive the workload before the fault stretches every wait and
// request after it as well, so such a run cannot tell a broken promise from
// its own machine (the run is unknown through validity anyway; without
// this rule a starved machine reads as a broken promise). A failure that
// rests on data still fails: an acknowledged write lost is lost at any
// speed, whichever check found it.
func underDriven(results []Result) []Result {
	var val *Result
	for i := range results {
		if results[i].Name == "validity" && results[i].UnderDriven {
			val = &results[i]
		}
	}
	if val == nil {
		return results
	}
	for i, r := range results {
		if r.Verdict != Fail || !timeBound[r.Name] || r.LostCount > 0 {
			continue
		}
		r.Verdict, r.UnderDriven = Unknown, true
		r.Explanation = fmt.Sprintf("not a valid test of time: %s, so the machine did not drive the workload as designed, and this failure rests on time, which such a machine stretches too (the check found: %s)",
			strings.TrimPrefix(val.Explanation, "the run cannot tell: "), r.Explanation)
		results[i] = r
	}
	return results
}

// endedEarly makes a session's rto failure unknown when the session ended
// before the RTO budget was over after the region was lost: a drill runs
// until its failback and its after phase, so its end is part of the test,
// but a bcdr up session ends when its operator says, and writes not seen to
// recover by then are not writes that failed to recover.
func endedEarly(in Input, r Result) Result {
	h := in.History
	if _, live := liveSession(h); !live || r.Name != "rto" || r.Verdict != Fail || len(h.Ops) == 0 {
		return r
	}
	fault, ok := regionLossFault(h)
	if !ok {
		return r
	}
	clk := h.Clock()
	lasted := lastOp(h).Service - fault.Service
	if lasted >= in.Budgets.RTO {
		return r
	}
	return unknown(r.Name, fmt.Sprintf("the session ended %s after %s at service %s, before the RTO budget %s was over, and writes had not been seen to recover by then, so the run cannot tell whether they would have (the check found: %s)",
		clk.Format(lasted), faultName(fault), clock.Round(fault.Service), clk.Format(in.Budgets.RTO), r.Explanation))
}

// regionLossFault is the first recorded fault that took a region away.
func regionLossFault(h history.History) (history.Op, bool) {
	for _, op := range h.Events(history.EvFaultInjected) {
		if rl, _ := op.Value["region_loss"].(bool); rl {
			return op, true
		}
	}
	return history.Op{}, false
}

// Premise tells ("" if none) what a run lacks for the named check to judge
// it at all, whatever the check would find. Only a bcdr up session (its
// history has the live phase) lacks any (endedEarly is its other rule): with no fault injected, no promise
// was put to the test, so every check is unknown; with a region lost and no
// DR runbook watching (the live phase's runbook false), nothing failed
// over, so rto and failback-loss are unknown. A drill's faults and runbook
// are its scenario's: a drill without faults judges its steady state.
func Premise(h history.History, name string) string {
	runbook, live := liveSession(h)
	if !live {
		return ""
	}
	if len(h.Events(history.EvFaultInjected)) == 0 {
		return "no fault was injected during this bcdr up session, so no promise was put to the test (bcdr inject FAULT injects one)"
	}
	if runbook || (name != "rto" && name != "failback-loss") {
		return ""
	}
	if op, ok := regionLossFault(h); ok {
		return fmt.Sprintf("the DR runbook was not running in this bcdr up session (bcdr up --runbook runs it), so nothing failed over after %s at service %s and %s cannot be judged",
			faultName(op), clock.Round(op.Service), name)
	}
	return ""
}

// liveSession reads the live phase of a bcdr up session: live is false for
// any other run; runbook tells whether the DR runbook was watching (true
// when the phase does not say).
func liveSession(h history.History) (runbook, live bool) {
	for _, op := range h.Events(history.EvPhase) {
		if p, _ := op.Value["phase"].(string); p == history.PhaseLive {
			rb, said := op.Value["runbook"].(bool)
			return rb || !said, true
		}
	}
	return false, false
}

// RunVerdict is a run's verdict from its checks' results, with the reason
// when it is unknown. The verdict is the worst of them: fail beats unknown
// beats pass. Unknown for no check at all ("no check judged the run"); a
// pass is unknown when customer requests failed or went unknown where no
// check judged them (Unjudged). The reason of an unknown verdict is the
// check that could not tell, as "name: explanation": validity first (an
// invalid test explains the rest), then the first that had nothing to
// judge, then the first that was too close to call.
func RunVerdict(in Input, results []Result) (Verdict, string) {
	if len(results) == 0 {
		return Unknown, "no check judged the run"
	}
	var vs []Verdict
	for _, r := range results {
		vs = append(vs, r.Verdict)
	}
	switch v := Worst(vs...); v {
	case Fail:
		return v, ""
	case Pass:
		if why := Unjudged(in, results); why != "" {
			return Unknown, why
		}
		return v, ""
	}
	var first, tooClose *Result
	for i := range results {
		r := &results[i]
		switch {
		case r.Verdict != Unknown:
		case r.Name == "validity":
			return Unknown, UnknownReason(*r)
		case r.TooClose:
			if tooClose == nil {
				tooClose = r
			}
		case first == nil:
			first = r
		}
	}
	if first == nil {
		first = tooClose
	}
	return Unknown, UnknownReason(*first)
}

// UnknownReason is the reason a run gives for a check that could not tell.
func UnknownReason(r Result) string {
	return r.Name + ": " + r.Explanation
}
