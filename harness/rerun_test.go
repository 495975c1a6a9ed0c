package harness

import (
	"testing"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/report"
)

func TestRerunScaleIsBounded(t *testing.T) {
	out := func(decide float64) *Outcome {
		return &Outcome{Result: report.Result{TimeScale: 100, Verdict: assertions.Unknown, Checks: []assertions.Result{
			{Name: "rpo", Verdict: assertions.Pass},
			{Name: "failback-interruption", Verdict: assertions.Unknown, TooClose: true, DecideScale: decide, Explanation: "too close to call: ..."},
		}}}
	}
	if s, _ := out(40).RerunScale(0); s != 40 {
		t.Errorf("decide at 40 from 100: rerun scale %g, want 40 (2.5 times as long)", s)
	}
	if s, why := out(1).RerunScale(0); s != 0 || why == "" {
		t.Errorf("decide at 1 from 100: rerun scale %g (%q), want none: the rerun would take 100 times as long", s, why)
	}
	if s, _ := out(40).RerunScale(2); s != 0 {
		t.Errorf("decide at 40 from 100 with at most twice as long: rerun scale %g, want none", s)
	}
	if u := out(1).Undecided(); len(u) != 1 || u[0] != "failback-interruption: too close to call: ..." {
		t.Errorf("undecided %q", u)
	}
	decided := &Outcome{Result: report.Result{TimeScale: 100, Verdict: assertions.Fail, Checks: []assertions.Result{{Name: "rpo", Verdict: assertions.Fail}}}}
	if u := decided.Undecided(); len(u) != 0 {
		t.Errorf("a decided run lists %q as undecided", u)
	}
	starved := &Outcome{Result: report.Result{TimeScale: 200, Verdict: assertions.Unknown, Checks: []assertions.Result{
		{Name: "validity", Verdict: assertions.Unknown, UnderDriven: true, Explanation: "only 12 acknowledged writes before the fault (need 50)"},
		{Name: "rto", Verdict: assertions.Unknown, UnderDriven: true},
	}}}
	if s, why := starved.RerunScale(0); s != 100 || why == "" {
		t.Errorf("a run too starved to drive its workload at 200: rerun scale %g (%q), want 100", s, why)
	}
	invalid := &Outcome{Result: report.Result{TimeScale: 200, Verdict: assertions.Unknown, Checks: []assertions.Result{
		{Name: "validity", Verdict: assertions.Unknown, Explanation: "no health check before the faults"}}}}
	if s, _ := invalid.RerunScale(0); s != 0 {
		t.Errorf("an invalid run the machine does not explain: rerun scale %g, want none", s)
	}
}
