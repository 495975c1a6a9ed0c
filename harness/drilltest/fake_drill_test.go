package drilltest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology/fake"
)

// fakeDrill runs a built-in scenario on the in-memory provider.
func fakeDrill(t *testing.T, name string, set ...string) *harness.Outcome {
	t.Helper()
	sc, ok := harness.Builtin(name)
	if !ok {
		t.Fatalf("no built-in scenario %s", name)
	}
	sc.Spec.Provider = fake.Name
	if err := sc.SetAll(set); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := harness.Run(ctx, sc, harness.Options{Logf: func(f string, a ...any) {
		t.Logf("+%5.1fs "+f, append([]any{time.Since(start).Seconds()}, a...)...)
	}})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return out
}

func verdicts(out *harness.Outcome) map[string]assertions.Verdict {
	m := map[string]assertions.Verdict{}
	for _, c := range out.Result.Checks {
		m[c.Name] = c.Verdict
	}
	return m
}

// TestFakeRegionOutageDrillPasses runs the full region-outage runbook
// (detect, decide, fail over, limited mode, resync, planned failback) on
// the fake provider: every check must pass.
func TestFakeRegionOutageDrillPasses(t *testing.T) {
	// The fake fails back in tens of milliseconds: batch probes every 10s of
	// service time (the workload's 50 ms floor) are what lets batch-outage
	// see inside it.
	out := fakeDrill(t, "region-outage", "probe-every=10s")
	requirePass(t, out)
	if n := out.Result.Workload.AcknowledgedWrites; n == 0 {
		t.Error("no acknowledged write: the drill judged nothing")
	}
}

// TestFakeFailbackWithoutFinalLogBackupLosesWrites is the negative
// control: skipping the tail-of-log backup on failback must lose the
// writes acknowledged in region b since its last shipped backup, and
// failback-loss must say so.
func TestFakeFailbackWithoutFinalLogBackupLosesWrites(t *testing.T) {
	out := fakeDrill(t, "region-outage", "skip-final-log-backup=true")
	fb, ok := out.Check("failback-loss")
	if !ok {
		t.Fatalf("no failback-loss check; checks: %v", verdicts(out))
	}
	t.Logf("failback-loss %s, %d lost: %s", fb.Verdict, fb.LostCount, fb.Explanation)
	if fb.Verdict != assertions.Fail {
		logFailbackTimeline(t, out, "")
		t.Fatalf("failback-loss %s, want fail: %s", fb.Verdict, fb.Explanation)
	}
	if fb.LostCount == 0 || len(fb.Lost) == 0 || fb.Lost[0].Region != "b" {
		t.Errorf("failback-loss should name writes acknowledged in region b: %+v", fb)
	}
	// The defect staked a write taken after region b's newest log backup,
	// and no backup carried it before the switch: that write is lost.
	ev := out.History.Events(harness.EvUnshippedWrite)
	if len(ev) != 2 || ev[0].Value["phase"] != "before-drain" || ev[1].Value["phase"] != "at-switch" {
		t.Fatalf("want the staked write before the drain and its check at the switch, got %v", ev)
	}
	key, _ := ev[0].Value["key"].(string)
	if key == "" || key == "none" || ev[1].Value["shipped"] != false {
		t.Fatalf("no unshipped write staked before the switch: %v", ev)
	}
	named := false
	for _, l := range fb.Lost {
		named = named || l.Key == key
	}
	if !named {
		logFailbackTimeline(t, out, key)
		t.Errorf("the staked write %s is not among the writes failback-loss names as lost: %+v", key, fb.Lost)
	}
}

// logFailbackTimeline logs the runbook's events from the failback's start,
// and the requests carrying key, to explain a control that did not fail.
func logFailbackTimeline(t *testing.T, out *harness.Outcome, key string) {
	t.Helper()
	start, _ := out.History.FirstEvent(history.EvFailbackStart)
	for _, op := range out.History.Ops {
		switch {
		case op.Wall.Before(start.Wall):
		case op.Process == -1 && op.Key != history.EvWorkload && op.Key != history.EvHealth && op.Key != history.EvLag:
			t.Logf("svc %s wall %s %s %v", op.Service, op.Wall.Format("15:04:05.000"), op.Key, op.Value)
		case op.Process != -1 && key != "" && op.Key == key:
			t.Logf("svc %s wall %s %s %s region %s %s, %d tries", op.Service, op.Wall.Format("15:04:05.000"), op.Type, op.Key, op.Region, op.Error, op.Tries)
		}
	}
}

// TestFakeUnderProvisionedSecondaryFailsCapacity is the negative control of
// secondary-capacity on the fake provider: region b's client link answers
// 200 wall milliseconds late (the secondary-link-latency-ms defect), so its
// median write while failed over is far over twice the steady state's. A
// 10-minute retry budget gives an attempt 750 ms wall: the slow link slows
// the writes without timing them out.
func TestFakeUnderProvisionedSecondaryFailsCapacity(t *testing.T) {
	out := fakeDrill(t, "region-outage", "secondary-link-latency-ms=200", "retry-budget=10m")
	r, ok := out.Check("secondary-capacity")
	if !ok {
		t.Fatalf("no secondary-capacity check; checks: %v", verdicts(out))
	}
	t.Logf("secondary-capacity %s: %s", r.Verdict, r.Explanation)
	if r.Verdict == assertions.Unknown && r.TooClose {
		t.Skipf("too close to call on this machine: %s", r.Explanation)
	}
	if r.Verdict != assertions.Fail || !strings.Contains(r.Explanation, "median write") {
		t.Fatalf("secondary-capacity %s, want fail on latency: %s", r.Verdict, r.Explanation)
	}
	if r.Observed <= r.Budget {
		t.Errorf("observed %s within the budget %s", r.Observed, r.Budget)
	}
}

// TestFakeIgnoredReportingRequestFailsLimitedMode is a negative control of
// limited-mode on the fake provider: the customer's support request to
// restore financial reporting, halfway through the failed-over period, is
// ignored (ignore-reporting-request), so reports stay refused after it.
func TestFakeIgnoredReportingRequestFailsLimitedMode(t *testing.T) {
	out := fakeDrill(t, "region-outage", "ignore-reporting-request=true")
	r, ok := out.Check("limited-mode")
	if !ok {
		t.Fatalf("no limited-mode check; checks: %v", verdicts(out))
	}
	t.Logf("limited-mode %s: %s", r.Verdict, r.Explanation)
	if r.Verdict != assertions.Fail || r.Violations == 0 || !strings.Contains(r.Explanation, "after the support request to restore reporting") {
		t.Fatalf("limited-mode %s with %d violations, want fail naming the reports refused after the request: %s", r.Verdict, r.Violations, r.Explanation)
	}
}

// TestFakeNotificationSinkDownFailsCustomerNotice is the negative control
// of customer-notice through the real notification path on the fake
// provider: the sink answers 503 to every notice (notification-sink-down),
// so the runbook's posts are not delivered and no notice is received
// before either switch.
func TestFakeNotificationSinkDownFailsCustomerNotice(t *testing.T) {
	out := fakeDrill(t, "region-outage", "probe-every=10s", "notification-sink-down=true")
	r, ok := out.Check("customer-notice")
	if !ok {
		t.Fatalf("no customer-notice check; checks: %v", verdicts(out))
	}
	t.Logf("customer-notice %s: %s", r.Verdict, r.Explanation)
	if r.Verdict != assertions.Fail || r.Violations != 2 || !strings.Contains(r.Explanation, "HTTP 503") {
		t.Fatalf("customer-notice %s with %d violations, want fail with 2 naming the sink's 503: %s", r.Verdict, r.Violations, r.Explanation)
	}
	if n := out.History.Events(history.EvCustomerNotified); len(n) != 0 {
		t.Errorf("notices received from a sink that answers 503: %v", n)
	}
	if v := verdicts(out); v["rpo"] != assertions.Pass || v["failback-loss"] != assertions.Pass {
		t.Errorf("the defect reached beyond the notices: %v", v)
	}
}
