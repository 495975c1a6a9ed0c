package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/aos"
	"github.com/bcdr-harness/bcdr/topology/appdb"
	"github.com/bcdr-harness/bcdr/topology/netlink"
)

// bringUp starts the default scenario's environment and returns it with
// the wall time from the start to the first healthy probe of both regions
// through the path a monitor outside each region takes. The provider's Up
// returns once every instance passed its load balancer's probe, so one
// probe each must answer: one that does not is an error, not a retry.
func bringUp(ctx context.Context, sc harness.Scenario) (topology.Environment, time.Duration, error) {
	spec := sc.Spec
	spec.BlobEngine = sc.BlobEngine()
	start := time.Now()
	env, err := topology.Up(ctx, spec, clock.New(sc.TimeScale()))
	if err != nil {
		return nil, 0, fmt.Errorf("bring up: %w", err)
	}
	c := &http.Client{Timeout: 5 * time.Second}
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		if err := probeHealth(ctx, c, topology.ProbeEndpoint(env.Region(r))+"/health"); err != nil {
			_ = env.Close(context.Background())
			return nil, 0, fmt.Errorf("region %s, first probe after bring-up: %w", r, err)
		}
	}
	return env, time.Since(start), nil
}

// probeHealth asks url once and wants 200.
func probeHealth(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body) // the connection is kept for the next probe
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health HTTP %d", resp.StatusCode)
	}
	return nil
}

// throughput is one run's write figures.
type throughput struct {
	Path, Direct float64 // acknowledged writes per wall second
	// PathOutcomes counts the whole path's writes by outcome (a write
	// whose attempts all timed out is unknown, not acknowledged).
	PathOutcomes string
	PathLost     bool // some write was not acknowledged
}

// measureWrites drives the harness's own workload (clients with retries
// and the history recorder, through the router, a load balancer, the AOS,
// SQL and the blob store) in closed loops, each client's next write sent as
// soon as its last was answered (Workload.RunUnpaced: no pacer, whose ticks
// would bound the figure instead of the path), and counts acknowledged
// writes for window, warmup after the first one; then the same number of
// clients write the same mix of journal entries and invoice rows with the
// same SQL (package appdb, as the AOS does) straight into the same
// PostgreSQL primary, closed loops too, for warmup and then window.
func measureWrites(ctx context.Context, env topology.Environment, sc harness.Scenario, warmup, window time.Duration) (throughput, error) {
	var t throughput
	clk := env.Clock()
	rec := history.NewRecorder(clk)
	var acked atomic.Int64
	first := make(chan struct{})
	var once sync.Once
	rec.OnAppend(func(op history.Op) {
		if op.Type == history.OK && op.Kind.IsWrite() {
			acked.Add(1)
			once.Do(func() { close(first) })
		}
	})
	wcfg := sc.Workload
	wl := harness.NewWorkload(wcfg, env.Router().URL(), rec, clk, sc.Seed, sc.Budgets.RetryBudget, topology.ProviderAttempt(sc.Spec.Provider))
	wctx, stop := context.WithCancel(ctx)
	defer wl.Wait()
	defer stop()
	wl.RunUnpaced(wctx)
	// The window opens warmup after the first acknowledged write, once
	// every instance's connection pool has had its share of writes.
	select {
	case <-ctx.Done():
		return t, ctx.Err()
	case <-first:
	case <-time.After(30 * time.Second):
		return t, fmt.Errorf("whole path: no write acknowledged within 30s (%s)", outcomes(rec.Ops()))
	}
	select {
	case <-ctx.Done():
		return t, ctx.Err()
	case <-time.After(warmup):
	}
	start, n0 := time.Now(), acked.Load()
	select {
	case <-ctx.Done():
		return t, ctx.Err()
	case <-time.After(window):
	}
	end, n1 := time.Now(), acked.Load()
	stop()
	wl.Wait()
	t.Path = float64(n1-n0) / end.Sub(start).Seconds()
	t.PathOutcomes = outcomes(rec.Ops())
	for _, c := range rec.Ops().Completions() {
		if c.Invoke.Kind.IsWrite() && c.Result.Type != history.OK && c.Result.Wall.Before(end) {
			t.PathLost = true
		}
	}

	dsn, err := primaryDSN(env)
	if err != nil {
		return t, err
	}
	db, err := sql.Open(string(appdb.Postgres), dsn)
	if err != nil {
		return t, fmt.Errorf("direct: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(wcfg.Clients)
	db.SetMaxIdleConns(wcfg.Clients)
	if _, err := directWrites(ctx, db, wcfg.Clients, wcfg.InvoiceShare, sc.Seed, warmup); err != nil {
		return t, fmt.Errorf("warm-up: %w", err)
	}
	d, err := directWrites(ctx, db, wcfg.Clients, wcfg.InvoiceShare, sc.Seed+1, window)
	if err != nil {
		return t, err
	}
	t.Direct = d
	return t, nil
}

// outcomes counts the writes of h by outcome, with the first error seen.
func outcomes(h history.History) string {
	count := map[history.Type]int{}
	first := ""
	for _, c := range h.Completions() {
		if !c.Invoke.Kind.IsWrite() {
			continue
		}
		count[c.Result.Type]++
		if first == "" && c.Result.Error != "" {
			first = c.Result.Error
		}
	}
	s := fmt.Sprintf("%d ok, %d failed, %d unknown", count[history.OK], count[history.Fail], count[history.Unknown])
	if first != "" {
		s += "; first error: " + first
	}
	return s
}

// primaryDSN is the application's connection string to the active
// region's PostgreSQL server, straight (no link).
func primaryDSN(env topology.Environment) (string, error) {
	pg, ok := env.SQL().(interface {
		DSN(addr string) string
		SQLAddr(r topology.RegionName) string
	})
	if !ok {
		return "", fmt.Errorf("direct: the %s SQL tier (%T) does not tell its address", env.Spec().Provider, env.SQL())
	}
	return pg.DSN(pg.SQLAddr(env.Router().Active())), nil
}

// directWrites runs clients closed loops of appdb writes for window and
// returns the acknowledged writes per second.
func directWrites(ctx context.Context, db *sql.DB, clients int, invoiceShare float64, seed int64, window time.Duration) (float64, error) {
	accounts := []string{"1100-cash", "1200-receivables", "2100-payables", "4000-revenue"}
	wctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	var ok atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed*1000 + int64(c)))
			for i := 0; wctx.Err() == nil; i++ {
				key := fmt.Sprintf("bench-%d-c%d-%d", time.Now().UnixNano(), c, i)
				var err error
				if rng.Float64() < invoiceShare {
					doc := make([]byte, 512+rng.Intn(1536))
					rng.Read(doc)
					sum := sha256.Sum256(doc)
					_, err = appdb.PostInvoice(wctx, db, appdb.Postgres, "inv-"+key, aos.ObjectKey("inv-"+key), hex.EncodeToString(sum[:]), rng.Int63n(5_000_000)+1, "a", "bench")
				} else {
					amount := rng.Int63n(1_000_000) + 1
					a, b := accounts[rng.Intn(len(accounts))], accounts[rng.Intn(len(accounts))]
					_, err = appdb.PostJournal(wctx, db, appdb.Postgres, "je-"+key, "a", "bench", []appdb.Line{{Account: a, Debit: amount}, {Account: b, Credit: amount}})
				}
				switch {
				case err == nil:
					ok.Add(1)
				case wctx.Err() == nil:
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if ok.Load() == 0 {
		if e, _ := firstErr.Load().(error); e != nil {
			return 0, fmt.Errorf("direct: no write succeeded: %w", e)
		}
		return 0, errors.New("direct: no write succeeded")
	}
	return float64(ok.Load()) / elapsed.Seconds(), nil
}

// faultProbe is one fault measured from injection to observed effect.
type faultProbe struct {
	Class  faults.Class
	Name   string
	Params map[string]string
	// Watch, when set, is the health URL an observer outside the
	// environment polls to see the fault's first effect (the target stops
	// answering), beside the fault's own verification once it is fully
	// applied.
	Watch func(topology.Environment) string
}

// faultProbes are one fault per class of the catalogue, chosen so that
// their effect shows at once (a crash, a refused connection, a region
// whose processes are gone), not after a probe's time-out.
var faultProbes = []faultProbe{
	{Class: faults.Hardware, Name: "instance-crash", Params: map[string]string{"region": "a", "instance": "0"}},
	{Class: faults.Network, Name: "link-partition", Params: map[string]string{"link": "wan"}},
	{Class: faults.Region, Name: "region-outage", Params: map[string]string{"region": "b"},
		Watch: func(env topology.Environment) string {
			return topology.ProbeEndpoint(env.Region(topology.RegionB)) + "/health"
		}},
}

// faultTimes is one fault's figures: from the moment its injection began
// to the moment it was verified fully applied, and (for a probe with a
// Watch) to the moment an outside observer first saw its target fail.
type faultTimes struct {
	Applied, FirstSeen time.Duration
	Watched            bool
}

// measureFault strikes p through faults.Apply, the path a drill takes,
// and returns the wall time from the fault-injected event's instant (the
// moment the injection began) to the moment the fault was observed to
// take effect (its verification, recorded with the event), and with a
// Watch the time to the first failed poll of its URL; then recovers.
func measureFault(ctx context.Context, env topology.Environment, p faultProbe) (faultTimes, error) {
	var ft faultTimes
	def, ok := faults.Lookup(p.Name)
	if !ok {
		return ft, fmt.Errorf("no fault %s in the catalogue", p.Name)
	}
	params := faults.Params{}
	for _, prm := range def.Params {
		params[prm.Name] = prm.Default
	}
	for k, v := range p.Params {
		params[k] = v
	}
	f, err := def.Build(params)
	if err != nil {
		return ft, fmt.Errorf("%s: %w", p.Name, err)
	}
	var down <-chan watched
	if p.Watch != nil {
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		var err error
		if down, err = watchDown(wctx, p.Watch(env)); err != nil {
			return ft, fmt.Errorf("%s: before the fault: %w", p.Name, err)
		}
	}
	rec := history.NewRecorder(env.Clock())
	var observed time.Time
	rec.OnAppend(func(op history.Op) {
		if op.Kind == history.Event && op.Key == history.EvFaultInjected {
			observed = time.Now()
		}
	})
	a, err := faults.Apply(ctx, env, rec, f, def, params, nil)
	if a != nil {
		defer func() { _ = a.Recover(ctx) }()
	}
	if err != nil {
		return ft, err
	}
	if !a.Verified {
		return ft, fmt.Errorf("%s was not observed to take effect: %s", p.Name, a.VerifyError)
	}
	ft.Applied = observed.Sub(a.Began)
	if down != nil {
		select {
		case w := <-down:
			if w.at.Before(a.Began) {
				return ft, fmt.Errorf("%s: the observer saw its target fail before the injection began (%s)", p.Name, w.why)
			}
			ft.FirstSeen, ft.Watched = w.at.Sub(a.Began), true
		case <-time.After(5 * time.Second):
			return ft, fmt.Errorf("%s: the outside observer still saw its target healthy 5s after the fault was applied", p.Name)
		}
	}
	return ft, nil
}

// watched is the first failed poll of a watchDown.
type watched struct {
	at  time.Time
	why string
}

// watchDown polls url from outside (its own HTTP client, keep-alive, one
// request at a time, each bounded at 100 ms) and sends on the returned
// channel when a poll first fails (an error or a status other than 200),
// then stops; it also stops when ctx ends. It returns once a first poll
// answered healthy, or with that poll's error.
func watchDown(ctx context.Context, url string) (<-chan watched, error) {
	c := &http.Client{Timeout: 100 * time.Millisecond, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	poll := func() error { return probeHealth(ctx, c, url) }
	if err := poll(); err != nil {
		return nil, fmt.Errorf("the outside observer's first poll of %s: %w", url, err)
	}
	out := make(chan watched, 1)
	go func() {
		defer c.CloseIdleConnections()
		for ctx.Err() == nil {
			if err := poll(); err != nil {
				if ctx.Err() == nil {
					out <- watched{at: time.Now(), why: err.Error()}
				}
				return
			}
		}
	}()
	return out, nil
}

// echo sends every byte back, until ln closes.
func echo(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
	}
}

// measureLink returns the median round trip of n small requests to a
// loopback echo server straight and through one link of the harness's
// embedded Toxiproxy (package netlink), alternating the two.
func measureLink(n int) (direct, linked time.Duration, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer ln.Close()
	go echo(ln)
	links := netlink.NewSet()
	defer links.Close()
	proxied, err := links.Add("bench", "echo", ln.Addr().String())
	if err != nil {
		return 0, 0, err
	}
	var conns [2]net.Conn
	var readers [2]*bufio.Reader
	for i, addr := range []string{ln.Addr().String(), proxied} {
		if conns[i], err = net.Dial("tcp", addr); err != nil {
			return 0, 0, err
		}
		defer conns[i].Close()
		readers[i] = bufio.NewReader(conns[i])
	}
	took := [2][]time.Duration{}
	msg := []byte("ping\n")
	for k := 0; k < n; k++ {
		for i := range conns {
			start := time.Now()
			if _, err := conns[i].Write(msg); err != nil {
				return 0, 0, err
			}
			if _, err := readers[i].ReadBytes('\n'); err != nil {
				return 0, 0, err
			}
			took[i] = append(took[i], time.Since(start))
		}
	}
	return medianDuration(took[0]), medianDuration(took[1]), nil
}

func medianDuration(d []time.Duration) time.Duration {
	f := make([]float64, len(d))
	for i, v := range d {
		f[i] = float64(v)
	}
	m, _, _, _ := summary(f)
	return time.Duration(m)
}

// drillResult is one region drill run as a separate process.
type drillResult struct {
	Wall    time.Duration
	Peak    int64 // bytes of PSS, the drill and every process it started
	Procs   int   // processes at the peak
	Samples int   // memory samples that read a process
	Verdict string
}

// runDrill runs `bcdr drill region-outage` at the default scale and
// samples the PSS of its process tree every interval until it exits.
func runDrill(ctx context.Context, bin, dir string, seed int, every time.Duration) (drillResult, error) {
	var r drillResult
	cmd := exec.CommandContext(ctx, bin, "drill", "region-outage", "--seed", fmt.Sprint(seed), "--out", dir, "--progress", "none")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(dir + ".log")
	if err != nil {
		return r, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r, fmt.Errorf("start drill: %w", err)
	}
	sampler := samplePeak(cmd.Process.Pid, every)
	werr := cmd.Wait()
	r.Wall = time.Since(start)
	r.Peak, r.Procs, r.Samples = sampler.Stop()
	var res struct {
		Verdict string            `json:"verdict"`
		Reason  string            `json:"reason"`
		Checks  []json.RawMessage `json:"checks"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		return r, fmt.Errorf("drill wrote no result (%v; log %s.log): %w", werr, dir, err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return r, fmt.Errorf("drill result: %w", err)
	}
	r.Verdict = res.Verdict
	if len(res.Checks) == 0 {
		// It never reached its checks (a bring-up that failed, say): its
		// wall time is not a drill's.
		return r, fmt.Errorf("the drill was not judged (%s, %s): %s", res.Verdict, r.Wall.Round(time.Millisecond), res.Reason)
	}
	if r.Samples == 0 {
		return r, errors.New("the drill's memory was never read")
	}
	return r, nil
}

// runSuites times `go test -count=1 ./suites/...`.
func runSuites(ctx context.Context, log string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-timeout", "60m", "./suites/...")
	f, err := os.Create(log)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	start := time.Now()
	err = cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("go test ./suites/... failed (%v): see %s", err, log)
	}
	return d, nil
}
