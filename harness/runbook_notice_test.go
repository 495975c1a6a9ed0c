package harness

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/fake"
)

// failoverAndBack runs the runbook's failover and failback on the fake
// environment with cfg, the failover judged possibly lossy (as decide
// leaves it when it asked for sign-off), and returns the history and the
// final snapshot of region a.
func failoverAndBack(t *testing.T, cfg RunbookConfig, notifier Notifier) (history.History, *topology.Snapshot) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env, rec, rb := fakeRunbook(ctx, t, cfg)
	if notifier != nil {
		rb.Notifier = notifier
	}
	rb.loss = &Notice{SignOff: true, ExpectedLoss: 7 * time.Minute, LossSince: time.Now().Add(-time.Second)}
	if err := rb.failover(ctx); err != nil {
		t.Fatalf("failover: %v", err)
	}
	if err := rb.failback(ctx); err != nil {
		t.Fatalf("failback: %v", err)
	}
	final, err := env.Snapshot(ctx, topology.RegionA)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return rec.Ops(), final
}

// fakeRunbook brings up a small fake environment (closed when the test
// ends) and a runbook with cfg on it, recording into a new recorder.
func fakeRunbook(ctx context.Context, t *testing.T, cfg RunbookConfig) (topology.Environment, *history.Recorder, *Runbook) {
	t.Helper()
	spec := topology.DefaultSpec()
	spec.Provider = fake.Name
	spec.InstancesPerRegion, spec.FaultDomains = 2, 2
	clk := clock.New(100)
	env, err := fake.Up(ctx, spec, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close(context.Background()) })
	rec := history.NewRecorder(clk)
	cfg.DetectAfter, cfg.SignOff = 1, "approve"
	return env, rec, NewRunbook(cfg, env, rec)
}

// The runbook posts a notice before each traffic switch, the failover's
// naming the expected loss, and the customer-notice check reads them.
func TestRunbookNotifiesBeforeEachSwitch(t *testing.T) {
	h, final := failoverAndBack(t, RunbookConfig{}, nil)
	notices, switches := h.Events(history.EvCustomerNotified), h.Events(history.EvFrontDoorSwitched)
	if len(notices) != 2 || len(switches) != 2 {
		t.Fatalf("notices %v, switches %v: want one of each per direction", notices, switches)
	}
	for i, dir := range []string{NoticeFailover, NoticeFailback} {
		if notices[i].Value["direction"] != dir || switches[i].Value["direction"] != dir || notices[i].Index > switches[i].Index {
			t.Errorf("%s: notice %v must precede switch %v", dir, notices[i], switches[i])
		}
	}
	if loss, _ := notices[0].Value["expected_loss_service_s"].(float64); loss != 420 || notices[0].Value["sign_off"] != true {
		t.Errorf("the failover notice must name the expected loss (420 s): %v", notices[0].Value)
	}
	if _, ok := notices[1].Value["expected_loss_service_s"]; ok {
		t.Errorf("the failback notice names a loss: %v", notices[1].Value)
	}
	if final.LimitedMode {
		t.Errorf("region a is still in limited mode after failback")
	}
	// sign-off was needed (the runbook judged the failover possibly lossy)
	// but decide did not run here: the check reads the notice as named.
	if r := (assertions.CustomerNotice{}).Check(assertions.Input{History: h}); r.Verdict != assertions.Pass {
		t.Errorf("customer-notice %s: %s", r.Verdict, r.Explanation)
	}
}

// The skip-customer-notice defect moves traffic without a notice, in both
// directions, and customer-notice fails.
func TestRunbookSkipsCustomerNotice(t *testing.T) {
	h, _ := failoverAndBack(t, RunbookConfig{SkipCustomerNotice: true}, nil)
	if n := h.Events(history.EvCustomerNotified); len(n) != 0 {
		t.Fatalf("notices posted despite the defect: %v", n)
	}
	r := (assertions.CustomerNotice{}).Check(assertions.Input{History: h})
	if r.Verdict != assertions.Fail || r.Violations != 2 {
		t.Errorf("customer-notice %s with %d violations, want fail with 2: %s", r.Verdict, r.Violations, r.Explanation)
	}
}

type refusingNotifier struct{}

func (refusingNotifier) Notify(context.Context, Notice) error {
	return errors.New("mail relay unreachable")
}

// A notification sink that fails does not stop the runbook; the failure
// is recorded and named by the check.
func TestRunbookGoesOnWhenTheNotifierFails(t *testing.T) {
	h, _ := failoverAndBack(t, RunbookConfig{}, refusingNotifier{})
	if n := h.Events(history.EvCustomerNoticeFailed); len(n) != 2 {
		t.Fatalf("notice failures %v, want 2", n)
	}
	r := (assertions.CustomerNotice{}).Check(assertions.Input{History: h})
	if r.Verdict != assertions.Fail {
		t.Errorf("customer-notice %s, want fail: %s", r.Verdict, r.Explanation)
	}
}

// The skip-limited-mode-off defect leaves region a in limited mode after
// failback, and records no limited-mode-off.
func TestRunbookSkipsLimitedModeOff(t *testing.T) {
	h, final := failoverAndBack(t, RunbookConfig{SkipLimitedModeOff: true}, nil)
	if _, ok := h.FirstEvent(history.EvLimitedModeOff); ok {
		t.Errorf("limited-mode-off recorded although the failback left it on")
	}
	if !final.LimitedMode {
		t.Errorf("region a is out of limited mode: the defect did nothing")
	}
}
