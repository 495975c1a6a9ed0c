package harness

import (
	"strings"

	"github.com/bcdr-harness/bcdr/assertions"
)

// tooClosePrefix opens the explanation of a check, and the reason of a
// run, that was too close to call.
const tooClosePrefix = "too close to call"

// Undecided lists what left the run too close to call: each check that
// was (assertions.Result.TooClose) and the run's own reason when it says
// so (time-outs during a stalled machine). Empty when nothing was.
func (o *Outcome) Undecided() []string {
	reason := ""
	if o.Result.Verdict == assertions.Unknown {
		reason = o.Result.Reason
	}
	return undecided(o.Result.Checks, reason)
}

// MachineUndecided tells whether a check is unknown for the machine alone:
// its figure within the run's timing noise of its budget (TooClose), or a
// run too starved to drive its workload (UnderDriven: validity, and a
// time-bound failure made unknown for it).
func MachineUndecided(c assertions.Result) bool {
	return c.Verdict == assertions.Unknown && (c.TooClose || c.UnderDriven)
}

// undecided lists the checks that were too close to call (or under-driven), then the run's
// reason when it says it was (and is not one of those checks: a run gives
// a check that could not tell as its reason, assertions.RunVerdict).
func undecided(checks []assertions.Result, runReason string) []string {
	var out []string
	for _, c := range checks {
		if MachineUndecided(c) {
			out = append(out, assertions.UnknownReason(c))
		}
	}
	if strings.HasPrefix(runReason, tooClosePrefix) {
		out = append(out, "run: "+runReason)
	}
	return out
}

// tooCloseReason tells whether a run's reason says it was too close to
// call: a reason of its own that says so, or a check that was.
func tooCloseReason(checks []assertions.Result, runReason string) bool {
	if strings.HasPrefix(runReason, tooClosePrefix) {
		return true
	}
	for _, c := range checks {
		if MachineUndecided(c) && runReason == assertions.UnknownReason(c) {
			return true
		}
	}
	return false
}

// TooCloseOnly tells whether a run (its checks and its reason, "" for
// none) was too close to call and nothing else: every check that did not
// pass is unknown for being within the harness's own timing noise
// (assertions.Result.TooClose) or for a machine too starved to drive the
// workload before the fault (assertions.Result.UnderDriven), the reason is empty or says the run was
// too close to call (itself, or by naming such a check), and at least one
// of them was. reason lists what was,
// for a test's skip line. A test skips such a run: a loaded machine
// decided nothing, which is neither a pass nor a failure. Any other
// unknown, or any fail, is not too close only (ok false).
func TooCloseOnly(checks []assertions.Result, runReason string) (reason string, ok bool) {
	for _, c := range checks {
		if c.Verdict != assertions.Pass && !MachineUndecided(c) {
			return "", false
		}
	}
	if runReason != "" && !tooCloseReason(checks, runReason) {
		return "", false
	}
	u := undecided(checks, runReason)
	if len(u) == 0 {
		return "", false
	}
	return strings.Join(u, "; "), true
}
