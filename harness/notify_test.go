package harness

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
)

func post(t *testing.T, url, method, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := LoopbackClient(5 * time.Second).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// The sink records a well-formed notice once, with what it said and the
// time it arrived, and refuses anything else, recording nothing.
func TestNotificationSinkRecordsWhatItReceives(t *testing.T) {
	rec := history.NewRecorder(clock.New(100))
	sink, err := StartNotificationSink(rec, false)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if !strings.HasPrefix(sink.URL(), "http://127.0.0.1:") {
		t.Fatalf("the sink listens at %s, want loopback", sink.URL())
	}
	good := `{"id":"n1","direction":"failover","from":"a","to":"b","message":"failing over","sign_off":true,"expected_loss_service_s":420,"sent_at":"2030-01-01T00:00:00Z"}`
	before := time.Now()
	for i, c := range []struct {
		method, body string
		want         int
	}{
		{http.MethodPost, good, http.StatusAccepted},
		{http.MethodPost, good, http.StatusOK}, // the same id again: a retry
		{http.MethodGet, "", http.StatusMethodNotAllowed},
		{http.MethodPost, `not json`, http.StatusBadRequest},
		{http.MethodPost, `{"id":"n2","direction":"failover","from":"a","to":"b","message":"x","extra":1}`, http.StatusBadRequest},
		{http.MethodPost, `{"id":"n3","direction":"sideways","from":"a","to":"b","message":"x"}`, http.StatusUnprocessableEntity},
		{http.MethodPost, `{"id":"n4","direction":"failback","from":"a","to":"a","message":"x"}`, http.StatusUnprocessableEntity},
		{http.MethodPost, `{"id":"","direction":"failback","from":"b","to":"a","message":"x"}`, http.StatusUnprocessableEntity},
		{http.MethodPost, `{"id":"n5","direction":"failback","from":"b","to":"a","message":""}`, http.StatusUnprocessableEntity},
		{http.MethodPost, `{"id":"n6","direction":"failover","from":"a","to":"b","message":"x","expected_loss_service_s":-1}`, http.StatusUnprocessableEntity},
		{http.MethodPost, `{"id":"n7","direction":"failback","from":"b","to":"a","message":"` + strings.Repeat("x", maxNoticeBytes) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		if got := post(t, sink.URL(), c.method, c.body); got != c.want {
			t.Errorf("request %d (%s %.60s): HTTP %d, want %d", i, c.method, c.body, got, c.want)
		}
	}
	got := rec.Ops().Events(history.EvCustomerNotified)
	if len(got) != 1 {
		t.Fatalf("recorded %d notices, want the one well-formed notice once: %v", len(got), got)
	}
	v := got[0].Value
	if v["id"] != "n1" || v["direction"] != "failover" || v["to"] != "b" || v["expected_loss_service_s"] != 420.0 ||
		v["sign_off"] != true || v["received_by"] != assertions.SinkReceivedBy {
		t.Errorf("recorded %v", v)
	}
	if got[0].Wall.Before(before) {
		t.Errorf("recorded at %v, before the notice was sent (%v)", got[0].Wall, before)
	}
	if sink.Requests() != 10 {
		t.Errorf("the sink counted %d posts, want 10 (every request but the GET)", sink.Requests())
	}
}

// Close stops the sink: nothing listens on its port any more, and closing
// again is harmless.
func TestNotificationSinkCloseStopsIt(t *testing.T) {
	sink, err := StartNotificationSink(history.NewRecorder(clock.New(100)), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	select {
	case <-sink.done:
	default:
		t.Fatal("the server still serves after Close")
	}
	_, err = LoopbackClient(time.Second).Post(sink.URL(), "application/json", strings.NewReader("{}"))
	if err == nil {
		t.Fatal("a closed sink still answers")
	}
}

// HTTPNotifier tries again on a 5xx and a transport timeout, at most
// NoticeAttempts times each bounded by the client's timeout, and not at
// all on a 4xx; the notice's id stays the same across attempts.
func TestHTTPNotifierRetriesBounded(t *testing.T) {
	n := Notice{Direction: NoticeFailover, From: "a", To: "b"}
	var calls atomic.Int64
	var mu sync.Mutex
	var ids []string
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := new(bytes.Buffer)
		buf.ReadFrom(r.Body)
		mu.Lock()
		ids = append(ids, strings.SplitN(strings.SplitN(buf.String(), `"id":"`, 2)[1], `"`, 2)[0])
		mu.Unlock()
		if calls.Add(1) < NoticeAttempts {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer flaky.Close()
	if err := (HTTPNotifier{URL: flaky.URL}).Notify(context.Background(), n); err != nil {
		t.Errorf("delivered on the last attempt, but: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls.Load() != NoticeAttempts || ids[0] == "" || ids[0] != ids[len(ids)-1] {
		t.Errorf("%d attempts with ids %v, want %d with one id", calls.Load(), ids, NoticeAttempts)
	}

	calls.Store(0)
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "no such tenant", http.StatusNotFound)
	}))
	defer refusing.Close()
	if err := (HTTPNotifier{URL: refusing.URL}).Notify(context.Background(), n); err == nil || !strings.Contains(err.Error(), "HTTP 404") || calls.Load() != 1 {
		t.Errorf("a 404: error %v after %d attempts, want one attempt naming HTTP 404", err, calls.Load())
	}

	calls.Store(0)
	release := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hanging.Close()
	defer close(release)
	err := (HTTPNotifier{URL: hanging.URL, Client: LoopbackClient(50 * time.Millisecond)}).Notify(context.Background(), n)
	if err == nil || calls.Load() != NoticeAttempts {
		t.Errorf("a sink that never answers: error %v after %d attempts, want an error after %d", err, calls.Load(), NoticeAttempts)
	}
}

// The notices never leave the machine: the client refuses to dial a
// non-loopback address, and notify-url takes only loopback hosts.
func TestNoticesStayOnLoopback(t *testing.T) {
	_, err := LoopbackClient(time.Second).Post("http://192.0.2.1:9/notices", "application/json", strings.NewReader("{}"))
	if err == nil || !strings.Contains(err.Error(), "stay on loopback") {
		t.Errorf("a post to a documentation address: %v, want refused before dialling", err)
	}
	for _, ok := range []string{"", "http://127.0.0.1:8080/hook", "http://localhost:9/x", "https://[::1]:8443/"} {
		if err := CheckNotifyURL(ok); err != nil {
			t.Errorf("notify-url %q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"http://192.0.2.1/hook", "http://10.0.0.1:80/", "ftp://127.0.0.1/x", "127.0.0.1:80", "http:///x", "http://no-such-host.invalid/x"} {
		if err := CheckNotifyURL(bad); err == nil {
			t.Errorf("notify-url %q accepted", bad)
		}
	}
	sc := DefaultScenario()
	if err := sc.Set("notify-url", "http://192.0.2.1/hook"); err == nil || sc.NotifyURL != "" {
		t.Errorf("--set notify-url off the machine: %v, value %q", err, sc.NotifyURL)
	}
	if err := sc.Set("notify-url", "http://127.0.0.1:9/hook"); err != nil || sc.NotifyURL != "http://127.0.0.1:9/hook" {
		t.Errorf("--set notify-url on loopback: %v, value %q", err, sc.NotifyURL)
	}
	sc.NotifyURL = "http://192.0.2.1/hook" // a scenario built in Go
	if err := CheckKnobs(sc); err == nil {
		t.Error("CheckKnobs took a notify-url off the machine")
	}
}
