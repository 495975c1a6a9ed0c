package fake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/aos"
	"github.com/bcdr-harness/bcdr/topology/appdb"
)

// Instance is an in-process AOS: the API of package aos (the same routes,
// headers, status codes and limited-mode 423) over the fake SQL server and
// bucket, reached through the region's aos-sql and aos-blob links.
type Instance struct {
	cfg     aos.Config
	sqlURL  string
	blobURL string
	client  *http.Client
	srv     *svc

	mu     sync.Mutex
	killed bool
	thaw   chan struct{} // non-nil while frozen
}

var _ topology.Instance = (*Instance)(nil)

func newInstance(cfg aos.Config, sqlAddr, blobAddr string, client *http.Client) (*Instance, error) {
	in := &Instance{cfg: cfg, sqlURL: "http://" + sqlAddr, blobURL: "http://" + blobAddr, client: client}
	var err error
	in.srv, err = newSvc(in.handler())
	return in, err
}

// ID is the instance name.
func (in *Instance) ID() string { return in.cfg.ID() }

// Region is the instance's region.
func (in *Instance) Region() topology.RegionName { return topology.RegionName(in.cfg.Region) }

// FaultDomain is the instance's fault domain.
func (in *Instance) FaultDomain() int { return in.cfg.FaultDomain }

// Index is the instance's number within its region.
func (in *Instance) Index() int { return in.cfg.Index }

// Addr is where the instance listens.
func (in *Instance) Addr() string { return in.srv.address() }

// Targets names the instance's in-process server (topology.Targeter).
func (in *Instance) Targets() []topology.Target {
	return []topology.Target{serverTarget(in.srv, "AOS instance "+in.ID())}
}

// Kill crashes the instance: its listener and connections close.
func (in *Instance) Kill(context.Context) error {
	in.mu.Lock()
	in.killed = true
	if in.thaw != nil {
		close(in.thaw)
		in.thaw = nil
	}
	in.mu.Unlock()
	in.srv.stop()
	return nil
}

// Freeze makes the instance hang: connections are accepted, nothing answers.
func (in *Instance) Freeze(context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.killed {
		return fmt.Errorf("%s is not running", in.ID())
	}
	if in.thaw == nil {
		in.thaw = make(chan struct{})
	}
	return nil
}

// Thaw resumes a frozen instance.
func (in *Instance) Thaw(context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.thaw != nil {
		close(in.thaw)
		in.thaw = nil
	}
	return nil
}

// Restart starts a killed instance again.
func (in *Instance) Restart(context.Context) error {
	in.mu.Lock()
	in.killed = false
	in.mu.Unlock()
	return in.srv.start()
}

// Alive tells whether the instance runs and is not frozen.
func (in *Instance) Alive() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return !in.killed && in.thaw == nil && in.srv.running()
}

func (in *Instance) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", in.health)
	mux.HandleFunc("POST /journal", in.postJournal)
	mux.HandleFunc("POST /invoices", in.postInvoice)
	mux.HandleFunc("GET /invoices/{key}", in.getInvoice)
	mux.HandleFunc("POST /batch/run", in.runBatch)
	mux.HandleFunc("GET /reports/financial", in.report)
	mux.HandleFunc("POST /maintenance", in.maintenance)
	mux.HandleFunc("GET /admin/mode", in.getMode)
	mux.HandleFunc("POST /admin/mode", in.setMode)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.mu.Lock()
		thaw := in.thaw
		in.mu.Unlock()
		if thaw != nil { // frozen: the request hangs until thawed or abandoned
			select {
			case <-thaw:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set(aos.HeaderRegion, in.cfg.Region)
		w.Header().Set(aos.HeaderInstance, in.cfg.ID())
		mux.ServeHTTP(w, r)
	})
}

// ctx bounds a request's work by the server's own timeout, as the real AOS does.
func (in *Instance) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), in.cfg.RequestTimeout)
}

func (in *Instance) exec(ctx context.Context, o Op) (execResult, error) {
	var res execResult
	err := call(ctx, in.client, http.MethodPost, in.sqlURL+"/exec", nil, o, &res)
	return res, err
}

func (in *Instance) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := call(ctx, in.client, http.MethodGet, in.sqlURL+"/ping", nil, nil, nil); err != nil {
		fail(w, http.StatusServiceUnavailable, fmt.Errorf("sql unreachable: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"region": in.cfg.Region, "instance": in.cfg.ID(), "fault_domain": in.cfg.FaultDomain})
}

func (in *Instance) postJournal(w http.ResponseWriter, r *http.Request) {
	var req aos.JournalRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.Key == "" {
		fail(w, http.StatusBadRequest, errors.New("bad journal entry: want {key, lines}"))
		return
	}
	if err := appdb.Balanced(req.Lines); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := in.ctx(r)
	defer cancel()
	res, err := in.exec(ctx, Op{Kind: opJournal, Key: req.Key, Region: in.cfg.Region, Instance: in.cfg.ID(), Lines: req.Lines})
	if err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	status := http.StatusCreated
	if res.Replayed {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"key": req.Key, "replayed": res.Replayed})
}

func (in *Instance) postInvoice(w http.ResponseWriter, r *http.Request) {
	var req aos.InvoiceRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&req); err != nil || req.Key == "" || len(req.Document) == 0 {
		fail(w, http.StatusBadRequest, errors.New("bad invoice: want {key, amount, document}"))
		return
	}
	ctx, cancel := in.ctx(r)
	defer cancel()
	sum := sha256.Sum256(req.Document)
	hexSum := hex.EncodeToString(sum[:])
	obj := aos.ObjectKey(req.Key)
	// The document goes first: a row never names a document that was not stored.
	put, err := http.NewRequestWithContext(ctx, http.MethodPut, in.blobURL+"/o/"+obj, bytesReader(req.Document))
	if err == nil {
		var resp *http.Response
		if resp, err = in.client.Do(put); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
	}
	if err != nil {
		fail(w, http.StatusServiceUnavailable, fmt.Errorf("store document: %w", err))
		return
	}
	res, err := in.exec(ctx, Op{Kind: opInvoice, Key: req.Key, ObjectKey: obj, SHA256: hexSum, Amount: req.Amount,
		Region: in.cfg.Region, Instance: in.cfg.ID()})
	if err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	status := http.StatusCreated
	if res.Replayed {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"key": req.Key, "object": obj, "sha256": hexSum, "replayed": res.Replayed})
}

func (in *Instance) getInvoice(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := in.ctx(r)
	defer cancel()
	key := r.PathValue("key")
	res, err := in.exec(ctx, Op{Kind: opGetInvoice, Key: key})
	switch {
	case err != nil:
		fail(w, http.StatusServiceUnavailable, err)
	case !res.Found:
		fail(w, http.StatusNotFound, fmt.Errorf("no invoice %s", key))
	default:
		writeJSON(w, http.StatusOK, map[string]any{"key": key, "object": res.Object, "sha256": res.SHA256, "amount": res.Amount})
	}
}

func (in *Instance) limited(ctx context.Context) (bool, error) {
	if in.cfg.IgnoreLimitedMode {
		return false, nil
	}
	res, err := in.exec(ctx, Op{Kind: opGetMode})
	return res.Limited, err
}

func (in *Instance) runBatch(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := in.ctx(r)
	defer cancel()
	tb, err := in.exec(ctx, Op{Kind: opTrial})
	if err == nil {
		_, err = in.exec(ctx, Op{Kind: opBatch, Job: "trial-balance", Region: in.cfg.Region, Instance: in.cfg.ID(),
			Entries: tb.Lines, Balanced: tb.Debits == tb.Credits})
	}
	if err != nil {
		fail(w, http.StatusServiceUnavailable, fmt.Errorf("batch: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"job": "trial-balance", "lines": tb.Lines, "balanced": tb.Debits == tb.Credits})
}

func (in *Instance) report(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := in.ctx(r)
	defer cancel()
	lim, err := in.limited(ctx)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	if lim {
		res, err := in.exec(ctx, Op{Kind: opGetMode})
		if err != nil {
			fail(w, http.StatusServiceUnavailable, err)
			return
		}
		if !res.Reporting {
			fail(w, aos.StatusLimited, errors.New("limited mode: financial reporting is unavailable while failed over"))
			return
		}
	}
	tb, err := in.exec(ctx, Op{Kind: opTrial})
	if err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"report": "trial-balance", "debits": tb.Debits, "credits": tb.Credits, "lines": tb.Lines})
}

func (in *Instance) maintenance(w http.ResponseWriter, r *http.Request) {
	var req aos.MaintenanceRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil ||
		(req.Kind != "update" && req.Kind != "package-deployment") {
		fail(w, http.StatusBadRequest, errors.New("bad maintenance request: kind must be update or package-deployment"))
		return
	}
	ctx, cancel := in.ctx(r)
	defer cancel()
	lim, err := in.limited(ctx)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	if lim {
		fail(w, aos.StatusLimited, fmt.Errorf("limited mode: %s is refused while failed over", req.Kind))
		return
	}
	if _, err := in.exec(ctx, Op{Kind: opMaintenance, Job: req.Kind, Region: in.cfg.Region}); err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"kind": req.Kind, "accepted": true})
}

func (in *Instance) getMode(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := in.ctx(r)
	defer cancel()
	res, err := in.exec(ctx, Op{Kind: opGetMode})
	if err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, aos.ModeRequest{Limited: res.Limited, Reporting: res.Limited && res.Reporting})
}

func (in *Instance) setMode(w http.ResponseWriter, r *http.Request) {
	var req aos.ModeRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := in.ctx(r)
	defer cancel()
	if _, err := in.exec(ctx, Op{Kind: opSetMode, Limited: req.Limited, Reporting: req.Reporting}); err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, req)
}
