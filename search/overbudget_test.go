package search

import (
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/report"
)

// A search whose worst known moment passed, but where moments measured the
// figure over its budget too close to call, is not a pass: the largest of
// those is named (bcdr search then exits 2). Too close under the budget, or
// over it but known, does not count.
func TestOverBudgetTooCloseIsNotAPass(t *testing.T) {
	cand := func(n int, fig time.Duration, v assertions.Verdict, tooClose bool) Candidate {
		out := &harness.Outcome{Result: report.Result{Checks: []assertions.Result{
			{Name: "rpo", Verdict: v, ObservedServiceS: fig.Seconds(), BudgetServiceS: (15 * time.Minute).Seconds(), TooClose: tooClose}}}}
		return Candidate{N: n, Figure: fig, Verdict: v, TooClose: tooClose, Measured: true, Outcome: out}
	}
	cs := []Candidate{cand(1, 12*time.Minute, assertions.Pass, false), cand(2, 16*time.Minute, assertions.Unknown, true),
		cand(3, 18*time.Minute, assertions.Unknown, true), cand(4, 14*time.Minute, assertions.Unknown, true)}
	c, ok := (&Report{Figure: "rpo", Candidates: cs}).OverBudgetTooClose()
	if !ok || c.N != 3 {
		t.Errorf("got #%d %v, want #3 (18m, the largest over the budget)", c.N, ok)
	}
	if c, ok := (&Report{Figure: "rpo", Candidates: []Candidate{cs[0], cs[3]}}).OverBudgetTooClose(); ok {
		t.Errorf("a pass and a too-close figure under the budget: got #%d", c.N)
	}
}
