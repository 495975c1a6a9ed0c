package drilltest_test

import (
	"testing"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
)

// requirePass fails the test unless the run passed. A run that only fell
// too close to call on this machine (harness.TooCloseOnly) and that
// nothing else failed is skipped with the reason: a loaded machine decided
// nothing, which is neither the pass the test is about nor a failure of
// the harness.
func requirePass(t *testing.T, out *harness.Outcome) {
	t.Helper()
	if out.Result.Verdict == assertions.Pass {
		return
	}
	for _, c := range out.Result.Checks {
		if c.Verdict != assertions.Pass {
			t.Logf("%s %s: %s", c.Name, c.Verdict, c.Explanation)
		}
	}
	if why, ok := harness.TooCloseOnly(out.Result.Checks, out.Result.Reason); ok && !t.Failed() {
		t.Skipf("too close to call on this machine, not judged: %s", why)
	}
	t.Fatalf("verdict %s, want pass: %s", out.Result.Verdict, out.Result.Reason)
}
