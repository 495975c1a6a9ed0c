package suitetest

import (
	"testing"

	"github.com/bcdr-harness/bcdr/assertions"
)

func TestKnownIssueMatchesOnlyItsSymptom(t *testing.T) {
	orphan := "orphan-entry-1: 2 journal lines with no entry row (a partial entry, or data read outside one transaction while writes went on) in region b right after failover"
	for _, c := range []struct {
		r    assertions.Result
		want bool
	}{
		{assertions.Result{Name: "ledger", Verdict: assertions.Fail, Violations: 1, Explanation: "1 stored journal entry of 9 violate the ledger's rules: " + orphan}, true},
		{assertions.Result{Name: "ledger", Verdict: assertions.Fail, Violations: 2, Explanation: "2 stored journal entries of 9 violate: je-1: unbalanced; " + orphan}, false},
		{assertions.Result{Name: "ledger", Verdict: assertions.Unknown, Violations: 1, Explanation: orphan}, false},
		{assertions.Result{Name: "rpo", Verdict: assertions.Fail, Violations: 1, Explanation: orphan}, false},
		{assertions.Result{Name: "fault-domain-availability", Verdict: assertions.Fail, Explanation: "customers noticed the hardware fault (instance-freeze ...): 1 client request failed past the retry budget: context deadline exceeded"}, true},
		{assertions.Result{Name: "fault-domain-availability", Verdict: assertions.Fail, Explanation: "customers noticed the hardware fault (instance-freeze ...): 3 client requests failed past the retry budget: context deadline exceeded"}, false},
	} {
		if _, got := knownIssue(c.r); got != c.want {
			t.Errorf("%s %q: known %v, want %v", c.r.Name, c.r.Explanation, got, c.want)
		}
	}
}

func TestWithChecksAddsExpectedChecks(t *testing.T) {
	got := withChecks([]string{"validity"}, map[string]assertions.Verdict{"rpo": assertions.Pass, "validity": assertions.Pass, "ledger": assertions.Fail})
	if len(got) != 3 || got[0] != "validity" || got[1] != "ledger" || got[2] != "rpo" {
		t.Errorf("withChecks = %v", got)
	}
}
