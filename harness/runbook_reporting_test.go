package harness

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology/aos"
)

// statusOf is the HTTP status of one request through the front door.
func statusOf(t *testing.T, url, method, path, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// reportingAfterRequest fails over on the fake environment with cfg,
// carries out the support request to restore financial reporting, and
// returns the history and the status of a report and a maintenance
// request through the front door before and after it.
func reportingAfterRequest(t *testing.T, cfg RunbookConfig) (h history.History, before, after [2]int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env, rec, rb := fakeRunbook(ctx, t, cfg)
	if err := rb.failover(ctx); err != nil {
		t.Fatalf("failover: %v", err)
	}
	url := env.Router().URL()
	probe := func() [2]int {
		return [2]int{statusOf(t, url, http.MethodGet, "/reports/financial", ""),
			statusOf(t, url, http.MethodPost, "/maintenance", `{"kind":"update"}`)}
	}
	before = probe()
	rb.restoreReporting(ctx)
	after = probe()
	return rec.Ops(), before, after
}

// The support request restores financial reporting in region b alone:
// reports refused before it and served after, maintenance refused
// throughout, and both steps recorded.
func TestRunbookRestoresReportingOnRequest(t *testing.T) {
	h, before, after := reportingAfterRequest(t, RunbookConfig{})
	if before != [2]int{aos.StatusLimited, aos.StatusLimited} {
		t.Errorf("before the request: report %d, maintenance %d; want both refused (423)", before[0], before[1])
	}
	if after != [2]int{http.StatusOK, aos.StatusLimited} {
		t.Errorf("after the request: report %d, maintenance %d; want the report served, maintenance refused", after[0], after[1])
	}
	req, ok := h.FirstEvent(history.EvSupportRequest)
	restored, ok2 := h.FirstEvent(history.EvReportingRestored)
	if !ok || !ok2 || req.Index > restored.Index || req.Value["request"] != history.RequestRestoreReporting {
		t.Errorf("support-request then reporting-restored must be recorded: %v %v", req, restored)
	}
}

// The two defects: the request ignored (reports stay refused, nothing
// restored is recorded), or carried out by leaving limited mode
// (maintenance accepted).
func TestRunbookReportingRequestDefects(t *testing.T) {
	h, _, after := reportingAfterRequest(t, RunbookConfig{IgnoreReportingRequest: true})
	if after[0] != aos.StatusLimited {
		t.Errorf("ignored request: report %d, want still refused", after[0])
	}
	if _, ok := h.FirstEvent(history.EvReportingRestored); ok {
		t.Errorf("reporting-restored recorded for an ignored request")
	}
	if _, ok := h.FirstEvent(history.EvSupportRequest); !ok {
		t.Errorf("the ignored request itself must be recorded")
	}
	_, _, after = reportingAfterRequest(t, RunbookConfig{ReportingRequestLiftsLimitedMode: true})
	if after[0] != http.StatusOK || after[1] != http.StatusAccepted {
		t.Errorf("request lifting limited mode: report %d, maintenance %d; want 200 and 202", after[0], after[1])
	}
}
