// Package lb is the traffic layer of the model: a load balancer per region
// that probes its AOS instances and sends requests only to healthy ones, and
// the router (front door) that sends clients to the active region.
package lb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/ports"
)

// listener serves a handler on a stable loopback address that survives Stop/Start.
type listener struct {
	mu   sync.Mutex
	addr string
	srv  *http.Server
	h    http.Handler
}

func (l *listener) start() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.srv != nil {
		return nil
	}
	addr := l.addr
	ln, err := ports.Relisten(addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	l.addr = ln.Addr().String()
	l.srv = &http.Server{Handler: l.h, ReadHeaderTimeout: 5 * time.Second}
	go func(s *http.Server) { _ = s.Serve(ln) }(l.srv)
	return nil
}

func (l *listener) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.srv != nil {
		_ = l.srv.Close()
		l.srv = nil
	}
}

func (l *listener) running() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.srv != nil }

func transport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
	}
}

type backend struct {
	id      string
	url     *url.URL
	proxy   *httputil.ReverseProxy
	healthy atomic.Bool

	mu      sync.Mutex
	fails   int    // consecutive failed probes
	lastErr string // why the instance was last taken out
}

// UnhealthyThreshold is how many probes in a row must fail before the load
// balancer takes an instance out (as a cloud load balancer's unhealthy
// threshold): one slow probe on a loaded host does not empty a region. A
// request that fails on an instance takes it out at once.
const UnhealthyThreshold = 2

// probed records a probe's outcome.
func (be *backend) probed(err error) {
	be.mu.Lock()
	defer be.mu.Unlock()
	if err == nil {
		be.fails = 0
		be.healthy.Store(true)
		return
	}
	be.fails++
	if be.fails >= UnhealthyThreshold || !be.healthy.Load() {
		be.lastErr = "probe: " + err.Error()
		be.healthy.Store(false)
	}
}

// isItself reads a healthy answer to a probe: an instance names itself
// ({"instance": ID}), and an answer that names another instance comes from
// another server on the instance's address (the instance is down and its
// port taken), which must not get the instance's traffic: it could be the
// other region's instance, writing to the other region's database.
func (be *backend) isItself(body io.Reader) error {
	var h struct {
		Instance string `json:"instance"`
	}
	if json.NewDecoder(io.LimitReader(body, 4096)).Decode(&h) != nil || h.Instance == "" || h.Instance == be.id {
		return nil
	}
	return fmt.Errorf("%s answered on %s's address %s: not this instance", h.Instance, be.id, be.url.Host)
}

// failed takes the instance out after a request failed on it.
func (be *backend) failed(err error) {
	be.mu.Lock()
	defer be.mu.Unlock()
	be.lastErr = "request: " + err.Error()
	be.healthy.Store(false)
}

func (be *backend) why() string {
	be.mu.Lock()
	defer be.mu.Unlock()
	if be.lastErr == "" {
		return "not probed yet"
	}
	return be.lastErr
}

// Balancer is one region's load balancer.
type Balancer struct {
	region   topology.RegionName
	ln       listener
	backends []*backend
	next     atomic.Uint64
	probe    time.Duration
	rounds   atomic.Int64 // probe rounds completed
	client   *http.Client
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// NewBalancer balances over the instances (id -> host:port), probing each
// every probe (wall time), and starts serving on a loopback port.
func NewBalancer(region topology.RegionName, ids, addrs []string, probe time.Duration) (*Balancer, error) {
	b := &Balancer{region: region, probe: probe, client: &http.Client{Timeout: probeTimeout(probe), Transport: transport()}}
	tr := transport()
	for i, a := range addrs {
		u := &url.URL{Scheme: "http", Host: a}
		be := &backend{id: ids[i], url: u}
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.Transport = tr
		rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			be.failed(err) // passive health check: stop sending at once
			w.Header().Set("X-Bcdr-Instance", be.id)
			http.Error(w, "load balancer: instance "+be.id+" failed: "+err.Error(), http.StatusBadGateway)
		}
		be.proxy = rp
		b.backends = append(b.backends, be)
	}
	b.ln.h = http.HandlerFunc(b.serve)
	if err := b.ln.start(); err != nil {
		return nil, fmt.Errorf("load balancer %s: %w", region, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	b.wg.Add(1)
	go b.probeLoop(ctx)
	return b, nil
}

func probeTimeout(probe time.Duration) time.Duration {
	t := probe
	if t > time.Second {
		t = time.Second
	}
	if t < 200*time.Millisecond {
		t = 200 * time.Millisecond
	}
	return t
}

// Addr is where the balancer listens.
func (b *Balancer) Addr() string { b.ln.mu.Lock(); defer b.ln.mu.Unlock(); return b.ln.addr }

// Healthy lists the ids of instances that passed their last probe.
func (b *Balancer) Healthy() []string {
	var out []string
	for _, be := range b.backends {
		if be.healthy.Load() {
			out = append(out, be.id)
		}
	}
	return out
}

func (b *Balancer) probeLoop(ctx context.Context) {
	defer b.wg.Done()
	t := time.NewTicker(b.probe)
	defer t.Stop()
	b.probeAll(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.probeAll(ctx)
		}
	}
}

func (b *Balancer) probeAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, be := range b.backends {
		wg.Add(1)
		go func(be *backend) {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, be.url.String()+"/health", nil)
			resp, err := b.client.Do(req)
			if err == nil {
				if resp.StatusCode != http.StatusOK {
					msg, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
					err = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
				} else {
					err = be.isItself(resp.Body)
				}
				resp.Body.Close()
			}
			be.probed(err)
		}(be)
	}
	wg.Wait()
	b.rounds.Add(1)
}

// Unhealthy says, for each instance out of rotation, why it was taken out.
func (b *Balancer) Unhealthy() map[string]string {
	out := map[string]string{}
	for _, be := range b.backends {
		if !be.healthy.Load() {
			out[be.id] = be.why()
		}
	}
	return out
}

// ProbeNow probes every instance at once (after a restart, for instance).
func (b *Balancer) ProbeNow(ctx context.Context) { b.probeAll(ctx) }

func (b *Balancer) serve(w http.ResponseWriter, r *http.Request) {
	n := len(b.backends)
	start := int(b.next.Add(1))
	for i := 0; i < n; i++ {
		be := b.backends[(start+i)%n]
		if be.healthy.Load() {
			be.proxy.ServeHTTP(w, r)
			return
		}
	}
	w.Header().Set("X-Bcdr-Region", string(b.region))
	http.Error(w, "load balancer "+string(b.region)+": no healthy instance ("+b.backends[start%n].id+": "+b.backends[start%n].why()+")", http.StatusServiceUnavailable)
}

// Stop takes the balancer down (region outage); Start brings it back.
func (b *Balancer) Stop() { b.ln.stop() }

// Start serves again on the same address.
func (b *Balancer) Start() error { return b.ln.start() }

// Running tells whether the balancer serves.
func (b *Balancer) Running() bool { return b.ln.running() }

// Close stops probing and serving.
func (b *Balancer) Close() {
	b.cancel()
	b.wg.Wait()
	b.ln.stop()
}

// Router is the front door.
type Router struct {
	ln      listener
	mu      sync.RWMutex
	active  topology.RegionName
	drained bool
	proxies map[topology.RegionName]*httputil.ReverseProxy
}

// NewRouter routes to targets (region -> host:port of the region's client
// link), starting with active, and serves on a loopback port.
func NewRouter(targets map[topology.RegionName]string, active topology.RegionName) (*Router, error) {
	rt := &Router{active: active, proxies: map[topology.RegionName]*httputil.ReverseProxy{}}
	tr := transport()
	for reg, addr := range targets {
		reg := reg
		rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: addr})
		rp.Transport = tr
		rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			w.Header().Set("X-Bcdr-Region", string(reg))
			http.Error(w, "front door: region "+string(reg)+" unreachable: "+err.Error(), http.StatusBadGateway)
		}
		rt.proxies[reg] = rp
	}
	rt.ln.h = http.HandlerFunc(rt.serve)
	if err := rt.ln.start(); err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	return rt, nil
}

func (rt *Router) serve(w http.ResponseWriter, r *http.Request) {
	rt.mu.RLock()
	active, drained := rt.active, rt.drained
	rt.mu.RUnlock()
	if drained {
		http.Error(w, "front door: draining for a planned switch", http.StatusServiceUnavailable)
		return
	}
	rt.proxies[active].ServeHTTP(w, r)
}

// URL is where clients send requests.
func (rt *Router) URL() string {
	rt.ln.mu.Lock()
	defer rt.ln.mu.Unlock()
	return "http://" + rt.ln.addr
}

// Active is the region receiving traffic.
func (rt *Router) Active() topology.RegionName {
	rt.mu.RLock()
	defer rt.mu.RUnlock()
	return rt.active
}

// SwitchTo sends new requests to region r.
func (rt *Router) SwitchTo(r topology.RegionName) error {
	if _, ok := rt.proxies[r]; !ok {
		return errors.New("router: no such region " + string(r))
	}
	rt.mu.Lock()
	rt.active, rt.drained = r, false
	rt.mu.Unlock()
	return nil
}

// Drain refuses new requests until the next SwitchTo.
func (rt *Router) Drain() error { rt.mu.Lock(); rt.drained = true; rt.mu.Unlock(); return nil }

// Close stops serving.
func (rt *Router) Close() { rt.ln.stop() }
