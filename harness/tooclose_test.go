package harness_test

import (
	"testing"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
)

func TestTooCloseOnly(t *testing.T) {
	pass := assertions.Result{Name: "rpo", Verdict: assertions.Pass}
	near := assertions.Result{Name: "failback-interruption", Verdict: assertions.Unknown, TooClose: true, Explanation: "too close to call: over by 1s"}
	unknown := assertions.Result{Name: "validity", Verdict: assertions.Unknown, Explanation: "too little traffic"}
	fail := assertions.Result{Name: "ledger", Verdict: assertions.Fail, Explanation: "2 entries unbalanced"}
	starved := assertions.Result{Name: "validity", Verdict: assertions.Unknown, UnderDriven: true, Explanation: "only 9 writes before the fault"}
	slowed := assertions.Result{Name: "rto", Verdict: assertions.Unknown, UnderDriven: true, Explanation: "not a valid test of time"}
	for _, c := range []struct {
		name   string
		checks []assertions.Result
		reason string
		want   string
		ok     bool
	}{
		{"all passed", []assertions.Result{pass}, "", "", false},
		{"no checks", nil, "", "", false},
		{"one too close", []assertions.Result{pass, near}, "", "failback-interruption: too close to call: over by 1s", true},
		{"one too close, the run's reason", []assertions.Result{pass, near}, "failback-interruption: too close to call: over by 1s", "failback-interruption: too close to call: over by 1s", true},
		{"too close, the run's reason another check", []assertions.Result{pass, near}, "ledger: no final snapshot", "", false},
		{"the run's reason only", []assertions.Result{pass}, "too close to call: 3 requests timed out", "run: too close to call: 3 requests timed out", true},
		{"too close and another unknown", []assertions.Result{near, unknown}, "", "", false},
		{"too close and a fail", []assertions.Result{near, fail}, "", "", false},
		{"too close, the run unknown for another reason", []assertions.Result{near}, "customer requests failed", "", false},
		{"a fail alone", []assertions.Result{fail}, "", "", false},
		{"under-driven", []assertions.Result{starved, slowed, pass}, "validity: only 9 writes before the fault",
			"validity: only 9 writes before the fault; rto: not a valid test of time", true},
		{"under-driven and a fail", []assertions.Result{starved, fail}, "", "", false},
	} {
		got, ok := harness.TooCloseOnly(c.checks, c.reason)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: got %q, %v; want %q, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}
