package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
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
// leaves it when it asked for sign-off), its notices posted to a
// notification sink on loopback (down: answering 503; closed: closed
// before the failover) unless notifier replaces it, and returns the
// history, the final snapshot of region a and the sink.
func failoverAndBack(t *testing.T, cfg RunbookConfig, notifier Notifier, sinkState ...string) (history.History, *topology.Snapshot, *NotificationSink) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env, rec, rb := fakeRunbook(ctx, t, cfg)
	sink := noticeSink(t, rec, rb, slices.Contains(sinkState, "down"))
	if slices.Contains(sinkState, "closed") {
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
	}
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
	return rec.Ops(), final, sink
}

// noticeSink starts a notification sink as a run does (closed when the
// test ends) and points rb's notices at it.
func noticeSink(t *testing.T, rec *history.Recorder, rb *Runbook, down bool) *NotificationSink {
	t.Helper()
	sink, err := startNotices(rec, down, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	sink.Use(rb, "")
	return sink
}

// fakeRunbook brings up a small fake environment (closed when the test
// ends) and a runbook with cfg on it, recording into a new recorder. Its
// notices go nowhere until a sink is given (noticeSink).
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
	h, final, _ := failoverAndBack(t, RunbookConfig{}, nil)
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
	for _, n := range notices {
		if n.Value["received_by"] != assertions.SinkReceivedBy || n.Value["id"] == "" {
			t.Errorf("a notice not recorded by the sink: %v", n.Value)
		}
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
	h, _, _ := failoverAndBack(t, RunbookConfig{SkipCustomerNotice: true}, nil)
	if n := h.Events(history.EvCustomerNotified); len(n) != 0 {
		t.Fatalf("notices posted despite the defect: %v", n)
	}
	r := (assertions.CustomerNotice{}).Check(assertions.Input{History: h})
	if r.Verdict != assertions.Fail || r.Violations != 2 {
		t.Errorf("customer-notice %s with %d violations, want fail with 2: %s", r.Verdict, r.Violations, r.Explanation)
	}
}

// The notification sink answers 503 to every notice (the
// notification-sink-down defect): the runbook tries each notice a bounded
// number of times, records it undelivered and goes on; no notice is
// received, and customer-notice fails naming the sink's answer.
func TestRunbookGoesOnWhenTheSinkIsDown(t *testing.T) {
	h, _, sink := failoverAndBack(t, RunbookConfig{}, nil, "down")
	if n := h.Events(history.EvCustomerNotified); len(n) != 0 {
		t.Fatalf("a sink that answers 503 recorded notices: %v", n)
	}
	failed := h.Events(history.EvCustomerNoticeFailed)
	if len(failed) != 2 || !strings.Contains(fmt.Sprint(failed[0].Value["error"]), "HTTP 503") {
		t.Fatalf("notice failures %v, want 2 naming HTTP 503", failed)
	}
	if got := sink.Requests(); got != 2*NoticeAttempts {
		t.Errorf("the sink saw %d posts, want %d (two notices, %d attempts each)", got, 2*NoticeAttempts, NoticeAttempts)
	}
	r := (assertions.CustomerNotice{}).Check(assertions.Input{History: h})
	if r.Verdict != assertions.Fail || r.Violations != 2 || !strings.Contains(r.Explanation, "HTTP 503") {
		t.Errorf("customer-notice %s with %d violations, want fail with 2 naming HTTP 503: %s", r.Verdict, r.Violations, r.Explanation)
	}
}

// A sink that is closed (nothing listens on its port) takes no notice:
// the runbook goes on, and customer-notice fails.
func TestRunbookGoesOnWhenTheSinkIsClosed(t *testing.T) {
	h, _, _ := failoverAndBack(t, RunbookConfig{}, nil, "closed")
	if n := h.Events(history.EvCustomerNoticeFailed); len(n) != 2 {
		t.Fatalf("notice failures %v, want 2", n)
	}
	r := (assertions.CustomerNotice{}).Check(assertions.Input{History: h})
	if r.Verdict != assertions.Fail || r.Violations != 2 {
		t.Errorf("customer-notice %s with %d violations, want fail with 2: %s", r.Verdict, r.Violations, r.Explanation)
	}
}

// believingNotifier says every notice went out and posts nothing.
type believingNotifier struct{}

func (believingNotifier) Notify(context.Context, Notice) error { return nil }

// The runbook's belief is not a notice: a notifier that reports success
// but posts nothing leaves the sink without a record, and customer-notice
// fails.
func TestRunbookBeliefIsNoNotice(t *testing.T) {
	h, _, sink := failoverAndBack(t, RunbookConfig{}, believingNotifier{})
	if n := h.Events(history.EvCustomerNotified); len(n) != 0 || sink.Requests() != 0 {
		t.Fatalf("notices recorded without a post: %v (%d posts)", n, sink.Requests())
	}
	if n := h.Events(history.EvCustomerNoticeFailed); len(n) != 0 {
		t.Fatalf("the believing notifier failed: %v", n)
	}
	r := (assertions.CustomerNotice{}).Check(assertions.Input{History: h})
	if r.Verdict != assertions.Fail || r.Violations != 2 {
		t.Errorf("customer-notice %s with %d violations, want fail with 2: %s", r.Verdict, r.Violations, r.Explanation)
	}
}

// A webhook (notify-url) gets every notice as well; its failure is
// recorded with its target and is not the customers' notice: the check
// still passes on what the sink received.
func TestRunbookPostsToTheWebhookToo(t *testing.T) {
	var mu sync.Mutex
	var got []NoticePayload
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p NoticePayload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
		if p.Direction == NoticeFailback {
			http.Error(w, "full", http.StatusInsufficientStorage)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, rec, rb := fakeRunbook(ctx, t, RunbookConfig{})
	sink := noticeSink(t, rec, rb, false)
	sink.Use(rb, hook.URL)
	if err := rb.failover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rb.failback(ctx); err != nil {
		t.Fatal(err)
	}
	h := rec.Ops()
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1+NoticeAttempts || got[0].Direction != NoticeFailover || got[1].Direction != NoticeFailback {
		t.Errorf("the webhook got %+v, want the failover's notice and %d attempts of the failback's", got, NoticeAttempts)
	}
	failed := h.Events(history.EvCustomerNoticeFailed)
	if len(failed) != 1 || failed[0].Value["target"] != "webhook" {
		t.Fatalf("notice failures %v, want the webhook's one", failed)
	}
	if r := (assertions.CustomerNotice{}).Check(assertions.Input{History: h}); r.Verdict != assertions.Pass {
		t.Errorf("customer-notice %s, want pass (the sink received both): %s", r.Verdict, r.Explanation)
	}
}

// The skip-limited-mode-off defect leaves region a in limited mode after
// failback, and records no limited-mode-off.
func TestRunbookSkipsLimitedModeOff(t *testing.T) {
	h, final, _ := failoverAndBack(t, RunbookConfig{SkipLimitedModeOff: true}, nil)
	if _, ok := h.FirstEvent(history.EvLimitedModeOff); ok {
		t.Errorf("limited-mode-off recorded although the failback left it on")
	}
	if !final.LimitedMode {
		t.Errorf("region a is out of limited mode: the defect did nothing")
	}
}
