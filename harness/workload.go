package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/bcdr-harness/bcdr/assertions"
	"io"
	"math/rand"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/aos"
	"github.com/bcdr-harness/bcdr/topology/appdb"
)

// Workload drives finance traffic through the front door and records every
// operation. Writes carry idempotency keys, so a retry never applies twice.
type Workload struct {
	cfg   WorkloadConfig
	url   string
	rec   *history.Recorder
	clk   *clock.Clock
	seed  int64
	retry time.Duration // wall time a client retries one request
	// attempt is one attempt's time-out (wall nanoseconds): during the
	// warm-up of a workload sized from latency, the ceiling; then the
	// sized one.
	attempt atomic.Int64
	sizing  topology.Attempt
	warm    warmup
	client  *http.Client
	wg      sync.WaitGroup
	// pacingLate is the worst lateness of a pacing tick (wall nanoseconds).
	pacingLate atomic.Int64
}

// PacingLate is how late the workload's pacing ticks came at worst: a
// loaded machine delays the offered writes as it delays every schedule.
func (w *Workload) PacingLate() time.Duration { return time.Duration(w.pacingLate.Load()) }

// NewWorkload prepares clients against the router at url. sizing is the
// provider's attempt sizing (topology.ProviderAttempt): its floor, and
// whether the attempt is sized from the latency of the first
// WarmupWrites writes (see SizeAttempt).
func NewWorkload(cfg WorkloadConfig, url string, rec *history.Recorder, clk *clock.Clock, seed int64, retryBudget time.Duration, sizing topology.Attempt) *Workload {
	retry := clk.Wall(retryBudget)
	if retry < 300*time.Millisecond {
		retry = 300 * time.Millisecond
	}
	tr := &http.Transport{DialContext: (&net.Dialer{Timeout: time.Second}).DialContext, MaxIdleConnsPerHost: 64}
	w := &Workload{cfg: cfg, url: url, rec: rec, clk: clk, seed: seed, retry: retry, sizing: sizing,
		client: &http.Client{Transport: tr}}
	w.warm.budget = retryBudget
	floor := assertions.AttemptTimeout(retry, sizing.Floor)
	if !sizing.FromLatency {
		w.attempt.Store(int64(floor))
		w.warm.done = true
		rec.Event(history.EvWorkload, map[string]any{"attempt_ms": ms(floor), "retry_ms": ms(retry), "sized_from": "floor",
			"rate": cfg.Rate, "clients": cfg.Clients})
		return w
	}
	// Until the warm-up is measured the clients wait as long as the retry
	// budget lets two attempts wait: the warm-up's own requests are not
	// cut short by the figure they are measuring.
	w.attempt.Store(int64(max(assertions.AttemptCeiling(retry), floor)))
	return w
}

// WarmupWrites is how many acknowledged writes a workload sized from
// latency measures before it sizes its attempt (about 3 wall seconds at
// the default rate, within the steady state).
const WarmupWrites = 200

// warmup gathers the latency of the first acknowledged writes.
type warmup struct {
	mu      sync.Mutex
	done    bool
	lat     []time.Duration
	budget  time.Duration // the retry budget (service time)
	started int           // writes sent during the warm-up
}

// noteWrite counts a write's latency (invoke to answer, wall) towards the
// warm-up while it lasts, and sizes the attempt once it has WarmupWrites.
func (w *Workload) noteWrite(lat time.Duration, ok bool) {
	w.warm.mu.Lock()
	defer w.warm.mu.Unlock()
	if w.warm.done {
		return
	}
	w.warm.started++
	if ok {
		w.warm.lat = append(w.warm.lat, lat)
	}
	if len(w.warm.lat) >= WarmupWrites {
		w.sizeLocked("measured")
	}
}

// EndWarmup sizes the attempt from what the warm-up measured so far, if
// it has not yet: the harness calls it as the steady state ends, so no
// fault's latency is measured as the machine's.
func (w *Workload) EndWarmup() {
	w.warm.mu.Lock()
	defer w.warm.mu.Unlock()
	if !w.warm.done {
		w.sizeLocked("steady state ended")
	}
}

// sizeLocked sets the attempt from the warm-up's latencies and records it
// with what was measured (history.EvWorkload; the checks read attempt_ms
// back). With no acknowledged write measured, the floor stands. Must hold
// w.warm.mu.
func (w *Workload) sizeLocked(why string) {
	w.warm.done = true
	warmAttempt := time.Duration(w.attempt.Load())
	floor := assertions.AttemptTimeout(w.retry, w.sizing.Floor)
	v := append([]time.Duration(nil), w.warm.lat...)
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	value := map[string]any{"retry_ms": ms(w.retry), "sized_from": "latency", "warmup_end": why,
		"floor_ms": ms(floor), "ceiling_ms": ms(max(assertions.AttemptCeiling(w.retry), floor)),
		"factor": assertions.AttemptFactor, "warmup_attempt_ms": ms(warmAttempt),
		"warmup_writes": len(v), "warmup_failed": w.warm.started - len(v), "rate": w.cfg.Rate, "clients": w.cfg.Clients}
	attempt := floor
	if len(v) > 0 {
		p99 := v[(len(v)*99+99)/100-1]
		var capped bool
		var fits float64
		attempt, capped, fits = assertions.SizeAttempt(p99, w.retry, w.sizing.Floor, w.warm.budget)
		value["warmup_p50_ms"], value["warmup_p99_ms"], value["warmup_max_ms"] = ms(v[(len(v)+1)/2-1]), ms(p99), ms(v[len(v)-1])
		value["capped"] = capped
		if fits > 0 {
			value["scale_fits"] = fits
		}
	}
	w.attempt.Store(int64(attempt))
	value["attempt_ms"] = ms(attempt)
	w.rec.Event(history.EvWorkload, value)
}

// attempt is the outcome of one HTTP try.
type attempt struct {
	status   int
	region   string
	instance string
	err      error
	// maybeApplied is true when the request may have reached an AOS and
	// done its work although no success came back.
	maybeApplied bool
}

func (w *Workload) try(ctx context.Context, method, path string, body []byte) attempt {
	// Several attempts fit in the retry budget, so one attempt stuck on a
	// frozen instance leaves room to retry on a healthy one.
	ctx, cancel := context.WithTimeout(ctx, time.Duration(w.attempt.Load()))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, w.url+path, bytes.NewReader(body))
	if err != nil {
		return attempt{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		var op *net.OpError
		refused := errors.As(err, &op) && op.Op == "dial"
		return attempt{err: err, maybeApplied: !refused}
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	a := attempt{status: resp.StatusCode, region: resp.Header.Get(aos.HeaderRegion), instance: resp.Header.Get(aos.HeaderInstance)}
	if resp.StatusCode >= 300 {
		a.err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(msg))
		// 502 from a balancer and 5xx from an AOS may follow work done;
		// a 503 from the router or a balancer with no instance did none.
		a.maybeApplied = resp.StatusCode == http.StatusBadGateway || (resp.StatusCode >= 500 && a.instance != "")
	}
	return a
}

// call runs one operation with retries inside the retry budget and records it.
func (w *Workload) call(ctx context.Context, process int, kind history.Kind, key, method, path string, body []byte, value map[string]any) history.Op {
	invoked := w.rec.Append(history.Op{Process: process, Type: history.Invoke, Kind: kind, Key: key, Value: value})
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 10 * time.Millisecond
	b.MaxInterval = 100 * time.Millisecond
	b.MaxElapsedTime = w.retry
	last := attempt{err: errors.New("not sent: the workload stopped first")}
	maybe := false
	tries := 0
	_ = backoff.Retry(func() error {
		if ctx.Err() != nil {
			return backoff.Permanent(ctx.Err())
		}
		tries++
		last = w.try(ctx, method, path, body)
		maybe = maybe || last.maybeApplied
		switch {
		case last.err == nil:
			return nil
		case last.status == http.StatusBadRequest || last.status == http.StatusNotFound || last.status == aos.StatusLimited:
			return backoff.Permanent(last.err) // definite answers: retrying changes nothing
		}
		return last.err
	}, backoff.WithContext(b, ctx))
	out := history.Op{Process: process, Kind: kind, Key: key, Region: last.region, Inst: last.instance,
		Status: last.status, Tries: tries, Value: value}
	if kind.IsWrite() && ctx.Err() == nil {
		w.noteWrite(time.Since(invoked.Wall), last.err == nil)
	}
	switch {
	case last.err == nil:
		out.Type = history.OK
	case maybe:
		out.Type, out.Error = history.Unknown, last.err.Error()
	default:
		out.Type, out.Error = history.Fail, last.err.Error()
	}
	return w.rec.Append(out)
}

var accounts = []string{"1100-cash", "1200-receivables", "2100-payables", "4000-revenue", "5000-cogs", "6100-payroll", "6200-rent"}

// Run drives writes until ctx ends. Throughput is paced to the configured rate.
func (w *Workload) Run(ctx context.Context) {
	tokens := make(chan struct{})
	w.wg.Add(1)
	goSafe(ctx, "the workload pacer", func() {
		defer w.wg.Done()
		defer close(tokens)
		period := time.Duration(float64(time.Second) / w.cfg.Rate)
		t := time.NewTicker(period)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if late := int64(lateBy(&last, period)); late > w.pacingLate.Load() {
					w.pacingLate.Store(late)
				}
				select {
				case tokens <- struct{}{}:
				default: // every client is busy: the op is not offered
				}
			}
		}
	})
	w.clients(ctx, func() bool { _, ok := <-tokens; return ok })
}

// RunUnpaced drives writes until ctx ends with no pacer: each client sends
// its next write as soon as its last one is answered (closed loops), so
// the throughput is whatever the path takes. It measures the path's
// capacity (make bench); drills use Run, whose offered rate is the
// scenario's.
func (w *Workload) RunUnpaced(ctx context.Context) {
	w.clients(ctx, func() bool { return ctx.Err() == nil })
}

// clients starts the workload's clients; each sends one write (a journal
// entry or an invoice, by the invoice share) each time next allows, until
// next says no more.
func (w *Workload) clients(ctx context.Context, next func() bool) {
	for c := 0; c < w.cfg.Clients; c++ {
		w.wg.Add(1)
		goSafe(ctx, fmt.Sprintf("workload client %d", c), func() {
			defer w.wg.Done()
			rng := rand.New(rand.NewSource(w.seed*1000 + int64(c)))
			for n := 1; next(); n++ {
				key := fmt.Sprintf("s%d-c%d-%d", w.seed, c, n)
				if rng.Float64() < w.cfg.InvoiceShare {
					w.invoice(ctx, c, "inv-"+key, rng)
				} else {
					w.journal(ctx, c, "je-"+key, rng)
				}
			}
		})
	}
}

func (w *Workload) journal(ctx context.Context, process int, key string, rng *rand.Rand) {
	amount := int64(rng.Intn(1_000_000) + 1)
	a, b := accounts[rng.Intn(len(accounts))], accounts[rng.Intn(len(accounts))]
	lines := []appdb.Line{{Account: a, Debit: amount}, {Account: b, Credit: amount}}
	body, _ := json.Marshal(aos.JournalRequest{Key: key, Lines: lines})
	w.call(ctx, process, history.JournalEntry, key, http.MethodPost, "/journal", body, map[string]any{"amount": amount})
}

func (w *Workload) invoice(ctx context.Context, process int, key string, rng *rand.Rand) {
	doc := make([]byte, 512+rng.Intn(1536))
	rng.Read(doc)
	sum := sha256.Sum256(doc)
	amount := int64(rng.Intn(5_000_000) + 1)
	body, _ := json.Marshal(aos.InvoiceRequest{Key: key, Amount: amount, Document: doc})
	w.call(ctx, process, history.Invoice, key, http.MethodPost, "/invoices", body,
		map[string]any{"amount": amount, "sha256": hex.EncodeToString(sum[:]), "object": aos.ObjectKey(key)})
}

// Probes runs the batch, report and maintenance probes through the front
// door every cfg.ProbeEvery (service time) until ctx ends. Each kind has
// its own loop: a probe of one kind retrying through a failover does not
// hold back the others, so batch-outage sees batch probes at the interval
// it is told.
func (w *Workload) Probes(ctx context.Context) {
	every := w.clk.Wall(w.cfg.ProbeEvery)
	if every < 50*time.Millisecond {
		every = 50 * time.Millisecond
	}
	base := w.cfg.Clients // process numbers of the probes follow the clients'
	w.probeLoop(ctx, "the batch probes", every, func(i int) {
		w.call(ctx, base, history.Batch, fmt.Sprint("batch-", i), http.MethodPost, "/batch/run", []byte("{}"), nil)
	})
	w.probeLoop(ctx, "the report probes", every, func(i int) {
		w.call(ctx, base+1, history.Report, fmt.Sprint("report-", i), http.MethodGet, "/reports/financial", nil, nil)
	})
	w.probeLoop(ctx, "the maintenance probes", every, func(i int) {
		kind := "update"
		if i%2 == 1 {
			kind = "package-deployment"
		}
		w.call(ctx, base+2, history.Maintenance, fmt.Sprint("maint-", i), http.MethodPost, "/maintenance",
			[]byte(`{"kind":"`+kind+`"}`), map[string]any{"kind": kind})
	})
}

// probeLoop calls probe(i) on every tick of every until ctx ends; a tick
// that comes while the previous probe still runs is dropped.
func (w *Workload) probeLoop(ctx context.Context, name string, every time.Duration, probe func(i int)) {
	w.wg.Add(1)
	goSafe(ctx, name, func() {
		defer w.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			probe(i)
		}
	})
}

// Wait blocks until every client and probe has stopped (after ctx ends);
// a warm-up still under way ends with what it measured.
func (w *Workload) Wait() { w.wg.Wait(); w.EndWarmup() }
