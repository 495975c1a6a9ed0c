package assertions

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bcdr-harness/bcdr/history"
)

// The synthetic drill passes every region check; judged without its final
// snapshot, failback-loss has nothing to judge: it says unknown, and the
// run is unknown with the first such check as its reason.
func TestJudgeNothingToJudgeIsUnknown(t *testing.T) {
	names := RegionChecks()
	j := Judge(newDrill().input(2*time.Minute), names)
	if j.Verdict != Pass || j.Reason != "" || len(j.Checks) != len(names) {
		t.Fatalf("the synthetic drill: %s (%q)", j.Verdict, j.Reason)
	}
	in := newDrill().input(2 * time.Minute)
	in.Final = nil
	j = Judge(in, names)
	var first *Result
	for i, c := range j.Checks {
		if c.Name == "failback-loss" && c.Verdict != Unknown {
			t.Errorf("failback-loss without a final snapshot: %+v", c)
		}
		if c.Verdict == Unknown && first == nil {
			first = &j.Checks[i]
		}
	}
	if first == nil {
		t.Fatalf("no check said unknown without a final snapshot: %+v", j.Checks)
	}
	if j.Verdict != Unknown || j.Reason != first.Name+": "+first.Explanation {
		t.Errorf("run: %s (%q), want unknown for %s: %s", j.Verdict, j.Reason, first.Name, first.Explanation)
	}
}

// The run's verdict: nothing judged is unknown; a name no check has is
// unknown; fail needs no reason; an unknown run gives validity's reason
// first, then a check that had nothing to judge before one that was too
// close to call.
func TestRunVerdict(t *testing.T) {
	in := Input{History: history.History{Scale: 200}}
	if j := Judge(in, nil); j.Verdict != Unknown || j.Reason != "no check judged the run" {
		t.Errorf("no checks: %s (%q)", j.Verdict, j.Reason)
	}
	if j := Judge(in, []string{"no-such-check"}); j.Verdict != Unknown || !strings.Contains(j.Reason, `no check is named "no-such-check"`) {
		t.Errorf("an unknown name: %s (%q)", j.Verdict, j.Reason)
	}
	pass := Result{Name: "rpo", Verdict: Pass}
	near := Result{Name: "rto", Verdict: Unknown, TooClose: true, Explanation: "too close to call: over by 1s"}
	nothing := Result{Name: "ledger", Verdict: Unknown, Explanation: "no final snapshot"}
	invalid := Result{Name: "validity", Verdict: Unknown, Explanation: "the run cannot tell: too little traffic"}
	fail := Result{Name: "cross-store", Verdict: Fail, Explanation: "a document is missing"}
	for _, c := range []struct {
		name   string
		checks []Result
		want   Verdict
		reason string
	}{
		{"a fail", []Result{invalid, fail, pass}, Fail, ""},
		{"too close only", []Result{pass, near}, Unknown, "rto: too close to call: over by 1s"},
		{"nothing to judge before too close", []Result{near, nothing}, Unknown, "ledger: no final snapshot"},
		{"validity first", []Result{near, nothing, invalid}, Unknown, "validity: the run cannot tell: too little traffic"},
		{"pass", []Result{pass}, Pass, ""},
	} {
		v, reason := RunVerdict(in, c.checks)
		if v != c.want || reason != c.reason {
			t.Errorf("%s: %s (%q), want %s (%q)", c.name, v, reason, c.want, c.reason)
		}
	}
}

// session builds a bcdr up session's history: the live phase (runbook or
// not), writes, health checks, and the faults the test adds.
func session(runbook bool) *builder {
	b := newBuilder()
	b.event(history.EvPhase, map[string]any{"phase": history.PhaseLive, "runbook": runbook})
	b.at(time.Minute)
	b.event(history.EvHealth, map[string]any{"when": "before", "ok": true, "active": "a"})
	for i := 0; i < 20; i++ {
		b.at(time.Duration(2+i) * time.Minute)
		b.op(1, history.JournalEntry, "je-"+time.Duration(i).String(), history.OK, 200, "a", "aos-a-0", time.Second, nil)
	}
	return b
}

// A bcdr up session without a fault put no promise to the test: every
// check is unknown, with the reason; a drill without a fault judges its
// steady state.
func TestJudgeSessionWithoutFault(t *testing.T) {
	b := session(true)
	b.at(30 * time.Minute)
	b.event(history.EvHealth, map[string]any{"when": "after", "ok": true, "active": "a"})
	names := []string{"validity", "ledger", "cross-store"}
	j := Judge(Input{History: b.h, Budgets: DefaultBudgets()}, names)
	for _, c := range j.Checks {
		if c.Verdict != Unknown || !strings.Contains(c.Explanation, "no fault was injected during this bcdr up session") {
			t.Errorf("%s: %+v", c.Name, c)
		}
	}
	if j.Verdict != Unknown || !strings.HasPrefix(j.Reason, "validity: no fault was injected") {
		t.Errorf("run: %s (%q)", j.Verdict, j.Reason)
	}
	// The same history without the live phase is a drill's.
	drill := b.h
	drill.Ops = drill.Ops[1:]
	if v := Judge(Input{History: drill, Budgets: DefaultBudgets()}, []string{"validity"}).Checks[0]; v.Verdict != Pass {
		t.Errorf("a drill without a fault: validity %+v", v)
	}
}

// A region lost in a session without the runbook: rto and failback-loss
// cannot be judged; with the runbook, a session that ended before the RTO
// budget was over cannot tell whether writes would have recovered, one
// that lasted past it fails.
func TestJudgeSessionPremises(t *testing.T) {
	build := func(runbook bool, end time.Duration) Input {
		b := session(runbook)
		b.at(25 * time.Minute)
		b.event(history.EvFaultInjected, map[string]any{"fault": "region-outage", "region_loss": true, "verified": true})
		b.at(end)
		b.event(history.EvHealth, map[string]any{"when": "after", "ok": true, "active": "a"})
		return Input{History: b.h, Budgets: DefaultBudgets()}
	}
	j := Judge(build(false, time.Hour), []string{"rto", "failback-loss"})
	for _, c := range j.Checks {
		if c.Verdict != Unknown || !strings.Contains(c.Explanation, "runbook was not running") {
			t.Errorf("%s without the runbook: %+v", c.Name, c)
		}
	}
	if c := Judge(build(true, time.Hour), []string{"rto"}).Checks[0]; c.Verdict != Unknown || !strings.Contains(c.Explanation, "before the RTO budget") {
		t.Errorf("rto of a session ended within the budget: %+v", c)
	}
	if c := Judge(build(true, 5*time.Hour), []string{"rto"}).Checks[0]; c.Verdict != Fail {
		t.Errorf("rto of a session that never failed over in 5h: %+v", c)
	}
	// A drill's end is part of its test: the same history without the
	// live phase fails.
	in := build(true, time.Hour)
	in.History.Ops = in.History.Ops[1:]
	if c := Judge(in, []string{"rto"}).Checks[0]; c.Verdict != Fail {
		t.Errorf("rto of a drill that never failed over: %+v", c)
	}
}

// A run that made too few writes before its fault (a starved machine) is
// no test of time: a failure resting on time is unknown, one resting on
// lost data still fails, whichever check found it. The control: the same
// failures in a valid run fail.
func TestUnderDrivenRunJudgesNoTime(t *testing.T) {
	d := newDrill()
	in := d.input(time.Minute)
	d.loseFailedOverWrite(in)
	slow := faultDomainRun(12*time.Minute, "")
	missing := faultDomainRun(0, "je-80")

	names := []string{"validity", "failback-loss"}
	fda := []string{"validity", "fault-domain-availability"}
	require.Equal(t, Fail, Judge(in, names).Checks[1].Verdict)
	require.Equal(t, Fail, Judge(slow, fda).Checks[1].Verdict, "a customer request refused in a valid run fails")
	require.Equal(t, Fail, Judge(missing, fda).Checks[1].Verdict)

	for _, x := range []*Input{&in, &slow, &missing} {
		x.Budgets.MinWritesBeforeFault = 1_000_000
	}
	// A workload whose rate could never make the minimum is a scenario
	// that cannot be valid, not a slow machine: its failures stand.
	for _, x := range []*Input{&in, &slow, &missing} {
		withRate(x, 0.5)
	}
	require.False(t, Judge(slow, fda).Checks[0].UnderDriven)
	require.Equal(t, Fail, Judge(slow, fda).Checks[1].Verdict, "the rate, not the machine, made too few writes")
	for _, x := range []*Input{&in, &slow, &missing} {
		withRate(x, 1e9)
	}
	require.Equal(t, Fail, Judge(in, names).Checks[1].Verdict, "a lost write is lost at any speed")
	starved := Judge(slow, fda)
	require.Equal(t, Unknown, starved.Checks[0].Verdict)
	got := starved.Checks[1]
	require.Equal(t, Unknown, got.Verdict, got.Explanation)
	require.Contains(t, got.Explanation, "not a valid test of time")
	require.Contains(t, got.Explanation, "acknowledged writes before the fault")
	require.Contains(t, got.Explanation, "je-72", "what the check found is kept")
	require.Equal(t, Unknown, starved.Verdict)
	got = Judge(missing, fda).Checks[1]
	require.Equal(t, Fail, got.Verdict, "a write missing after a fault-domain loss is lost at any speed: %s", got.Explanation)

	// Few writes with one of them refused is an environment that did not
	// work, not a slow machine: the failure stands.
	for i, op := range slow.History.Ops {
		if op.Type == history.OK && op.Kind.IsWrite() && op.Service < 5*time.Minute {
			slow.History.Ops[i].Type, slow.History.Ops[i].Status = history.Fail, 503
			break
		}
	}
	refused := Judge(slow, fda)
	require.False(t, refused.Checks[0].UnderDriven, refused.Checks[0].Explanation)
	require.Equal(t, Fail, refused.Checks[1].Verdict)
}

// withRate records the workload's rate (writes per wall second) as the
// harness does, replacing any recorded before.
func withRate(in *Input, rate float64) {
	ops := in.History.Ops[:0:0]
	for _, op := range in.History.Ops {
		if !(op.Kind == history.Event && op.Key == history.EvWorkload) {
			ops = append(ops, op)
		}
	}
	in.History.Ops = append(ops, history.Op{Index: len(ops), Process: -1, Type: history.Info, Kind: history.Event,
		Key: history.EvWorkload, Value: map[string]any{"rate": rate, "clients": 4}})
}
