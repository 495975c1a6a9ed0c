package harness_test

import (
	"strings"
	"testing"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
)

// requirePass fails the test unless the run passed. A run that only fell
// too close to call on this machine (every check that did not pass is
// unknown for being within the harness's own timing noise, or the run's
// reason says so; harness.Outcome.Undecided) and that nothing else failed
// is skipped with the reason: a loaded machine decided nothing, which is
// neither the pass the test is about nor a failure of the harness.
func requirePass(t *testing.T, out *harness.Outcome) {
	t.Helper()
	if out.Result.Verdict == assertions.Pass {
		return
	}
	undecidedOnly := len(out.Undecided()) > 0
	for _, c := range out.Result.Checks {
		if c.Verdict != assertions.Pass {
			t.Logf("%s %s: %s", c.Name, c.Verdict, c.Explanation)
			if !(c.Verdict == assertions.Unknown && c.TooClose) {
				undecidedOnly = false
			}
		}
	}
	if out.Result.Verdict == assertions.Unknown && undecidedOnly && !t.Failed() {
		t.Skipf("too close to call on this machine, not judged: %s", strings.Join(out.Undecided(), "; "))
	}
	t.Fatalf("verdict %s, want pass: %s", out.Result.Verdict, out.Result.Reason)
}
