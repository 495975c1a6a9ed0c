package drilltest_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
)

// TestFakeCutoverFingerprintNamesPlantedDamage plants, at the failback's
// cutover on the fake provider, one invoice altered in the region taking
// over (corrupt-row-at-failback) and one object deleted from its bucket
// (drop-object-at-failback): cutover-fingerprint must fail and its
// bisection name exactly those two, with what each side holds; and the
// failover's cutover is still judged a subset.
func TestFakeCutoverFingerprintNamesPlantedDamage(t *testing.T) {
	out := fakeDrill(t, "region-outage", "probe-every=10s", "corrupt-row-at-failback=true", "drop-object-at-failback=true")
	planted := map[string]string{}
	for _, op := range out.History.Ops {
		if op.Kind == history.Event && op.Key == harness.EvCutoverDefect {
			if e, _ := op.Value["error"].(string); e != "" {
				t.Fatalf("defect %v could not be applied: %s", op.Value["defect"], e)
			}
			planted[op.Value["defect"].(string)], _ = op.Value["key"].(string)
		}
	}
	row, obj := planted["corrupt-row-at-failback"], planted["drop-object-at-failback"]
	if row == "" || obj == "" {
		t.Fatalf("the defects damaged nothing: %v", planted)
	}
	r, ok := out.Check("cutover-fingerprint")
	if !ok {
		t.Fatalf("no cutover-fingerprint check; checks: %v", verdicts(out))
	}
	t.Logf("planted %v; cutover-fingerprint %s: %s", planted, r.Verdict, r.Explanation)
	if r.Verdict != assertions.Fail || r.Violations != 2 {
		for _, c := range out.Evidence.Cutovers {
			if c.Blob != nil {
				b, _ := json.Marshal(c.Blob)
				t.Logf("%s cutover, blob fingerprint: %.3000s", c.Direction, b)
			}
		}
		t.Fatalf("cutover-fingerprint %s with %d violations, want fail naming the 2 planted: %s", r.Verdict, r.Violations, r.Explanation)
	}
	for _, want := range []string{"invoices " + row + " differs: region b has ", "objects " + obj + " only in region b", "missing from region a"} {
		if !strings.Contains(r.Explanation, want) {
			t.Errorf("explanation lacks %q", want)
		}
	}
	if out.Evidence == nil || len(out.Evidence.Cutovers) != 2 {
		t.Fatalf("the evidence keeps %d cutovers, want the failover and the failback", len(out.Evidence.Cutovers))
	}
}
