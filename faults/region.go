package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

func init() {
	Register(Definition{Name: "region-outage", Class: Region, RegionLoss: true, Targets: "region",
		Help:   "every process of a region down at once and its links cut (a region-wide disaster); powered back on at recovery",
		Params: []Param{{"region", "a", "region to lose"}},
		Build: func(p Params) (Fault, error) {
			r, err := p.Region("region")
			if err != nil {
				return nil, err
			}
			return &regionOutage{region: r}, nil
		}})
	Register(Definition{Name: "region-isolation", Class: Region, RegionLoss: true, Targets: "region",
		Needs:  []topology.Capability{topology.CapClientPath},
		Help:   "clients cut off from a region (its client link cut) while its AOS, SQL, blob store and WAN stay up; customers see an outage",
		Params: []Param{{"region", "a", "region to isolate"}},
		Build: func(p Params) (Fault, error) {
			r, err := p.Region("region")
			if err != nil {
				return nil, err
			}
			return &isolation{region: r}, nil
		}})
	Register(Definition{Name: "region-flapping", Class: Region, Targets: "region",
		Help: "a region goes down (as in an outage) and comes back, again and again, each down shorter than the decision window",
		Params: []Param{{"region", "a", "region that flaps"}, {"down", "5m", "each outage, service time (1m-4h)"},
			{"up", "5m", "time up between outages, service time (1m-4h)"}, {"cycles", "3", "outages (1-10)"}},
		Build: func(p Params) (Fault, error) {
			r, err := p.Region("region")
			if err != nil {
				return nil, err
			}
			down, err := p.Duration("down", time.Minute, 4*time.Hour)
			if err != nil {
				return nil, err
			}
			up, err := p.Duration("up", time.Minute, 4*time.Hour)
			if err != nil {
				return nil, err
			}
			n, err := p.Int("cycles", 1, 10)
			if err != nil {
				return nil, err
			}
			return &flapping{region: r, down: down, up: up, cycles: n, outage: &regionOutage{region: r}}, nil
		},
		Pick: func(rng *rand.Rand, _ topology.Spec) Params {
			return Params{"region": "a", "down": fmt.Sprintf("%dm", 2+rng.IntN(6)), "up": fmt.Sprintf("%dm", 3+rng.IntN(6)),
				"cycles": strconv.Itoa(2 + rng.IntN(2))}
		}})
	Register(Definition{Name: "replication-stall-then-loss", Class: Region, RegionLoss: true, Targets: "region",
		Help: "the WAN fails first (log shipping and blob replication stall while the primary keeps taking writes), then the region is lost: failing over could lose data, so sign-off must be asked",
		Params: []Param{{"region", "a", "region that is lost (the primary)"},
			{"stall", "5m", "how long replication stalls before the region is lost, service time (1m-24h)"}},
		Build: func(p Params) (Fault, error) {
			r, err := p.Region("region")
			if err != nil {
				return nil, err
			}
			st, err := p.Duration("stall", time.Minute, 24*time.Hour)
			if err != nil {
				return nil, err
			}
			return &stallThenLoss{region: r, stall: st, outage: &regionOutage{region: r}}, nil
		},
		Pick: func(rng *rand.Rand, _ topology.Spec) Params {
			return Params{"region": "a", "stall": fmt.Sprintf("%dm", 2+rng.IntN(6))}
		}})
	Register(Definition{Name: "failback-fault", Class: Region, Targets: "region (the failed-over one), AOS or SQL",
		After: history.EvFailbackStart,
		Help:  "a second fault while the failback runs: region b's AOS instances of one fault domain, or its SQL server, fail; needs a region-loss fault first",
		Params: []Param{{"region", "b", "region the environment failed over to"}, {"target", "aos", "aos (one fault domain's instances) or sql (the server, restarted on recovery)"},
			{"domain", "0", "fault domain of the AOS instances (0-4)"}},
		Build: func(p Params) (Fault, error) {
			r, err := p.Region("region")
			if err != nil {
				return nil, err
			}
			t, err := p.OneOf("target", "aos", "sql")
			if err != nil {
				return nil, err
			}
			d, err := p.Int("domain", 0, 4)
			if err != nil {
				return nil, err
			}
			if t == "sql" {
				return &failbackFault{Fault: &sqlCrash{name: "failback-fault", region: r}}, nil
			}
			return &failbackFault{Fault: &instances{name: "failback-fault", region: r, pick: func(in topology.Instance) bool { return in.FaultDomain() == d },
				target: fmt.Sprintf("fault domain %d", d)}}, nil
		},
		Pick: func(rng *rand.Rand, spec topology.Spec) Params {
			return Params{"region": "b", "target": []string{"aos", "sql"}[rng.IntN(2)], "domain": strconv.Itoa(rng.IntN(max(min(spec.FaultDomains, 5), 1)))}
		}})
}

// regionLinks are the links that end in a region.
func regionLinks(r topology.RegionName) []string {
	return []string{topology.LinkName(topology.LinkClient, r), topology.LinkName(topology.LinkAOSSQL, r),
		topology.LinkName(topology.LinkAOSBlob, r), topology.LinkWAN}
}

// regionOutage is the primitive region fault: every process down, every
// link that ends in the region cut.
type regionOutage struct {
	region topology.RegionName
	health string
	hook   LossHook
}

// OnRegionLoss sets the hook told when the region is lost and back.
func (f *regionOutage) OnRegionLoss(h LossHook) { f.hook = h }

func (f *regionOutage) tell(lost bool, at time.Time) {
	if f.hook != nil {
		f.hook(f.region, lost, at)
	}
}

func (f *regionOutage) Name() string     { return "region-outage" }
func (f *regionOutage) Claims() []string { return regionClaims(f.region) }
func (f *regionOutage) CheckTarget(env topology.Environment) error {
	return checkRegion(env, f.Name(), f.region)
}

func (f *regionOutage) Inject(ctx context.Context, env topology.Environment) error {
	// The region's data is unreachable from the first cut on.
	f.tell(true, time.Now())
	var errs []error
	for _, n := range regionLinks(f.region) {
		if l, ok := env.Links().Get(n); ok {
			errs = append(errs, l.Cut())
		}
	}
	errs = append(errs, env.Region(f.region).Stop(ctx))
	return errors.Join(errs...)
}

func (f *regionOutage) Recover(ctx context.Context, env topology.Environment) error {
	for _, n := range regionLinks(f.region) {
		if l, ok := env.Links().Get(n); ok {
			if err := l.Restore(); err != nil {
				return err
			}
		}
	}
	if err := env.Region(f.region).Start(ctx); err != nil {
		return err
	}
	f.tell(false, time.Now())
	return nil
}

// Verify checks that every AOS process of the region is gone and that
// neither its load balancer nor its client path answers a health probe.
func (f *regionOutage) Verify(ctx context.Context, env topology.Environment) error {
	reg := env.Region(f.region)
	for _, in := range reg.Instances() {
		if in.Alive() {
			return fmt.Errorf("region %s: %s still alive", f.region, in.ID())
		}
	}
	for _, url := range []string{reg.Endpoint(), topology.ProbeEndpoint(reg)} {
		if code, err := httpHealth(ctx, url, time.Second); err == nil && code == http.StatusOK {
			return fmt.Errorf("region %s still answers health probes at %s", f.region, url)
		} else if err != nil {
			f.health = err.Error()
		} else {
			f.health = fmt.Sprintf("HTTP %d", code)
		}
	}
	return nil
}

func (f *regionOutage) Evidence() map[string]any {
	return map[string]any{"health_probe": f.health}
}

// isolation cuts the clients off from a region; its data plane stays up.
type isolation struct {
	region           topology.RegionName
	client, dataPath string
}

func (f *isolation) Name() string     { return "region-isolation" }
func (f *isolation) Claims() []string { return regionClaims(f.region) }
func (f *isolation) link() string     { return topology.LinkName(topology.LinkClient, f.region) }

func (f *isolation) CheckTarget(env topology.Environment) error {
	if err := checkRegion(env, f.Name(), f.region); err != nil {
		return err
	}
	if _, ok := env.Links().Get(f.link()); !ok {
		return &Error{fmt.Sprintf("fault region-isolation: the environment has no link %s", f.link())}
	}
	return nil
}

func (f *isolation) Inject(ctx context.Context, env topology.Environment) error {
	l, _ := env.Links().Get(f.link())
	return l.Cut()
}

func (f *isolation) Recover(ctx context.Context, env topology.Environment) error {
	l, _ := env.Links().Get(f.link())
	return l.Restore()
}

// Verify probes the region the way clients reach it (must fail) and its
// load balancer from inside (must answer: the data plane is up).
func (f *isolation) Verify(ctx context.Context, env topology.Environment) error {
	reg := env.Region(f.region)
	if _, ok := reg.(topology.ClientEndpointer); !ok {
		return fmt.Errorf("region %s has no client path separate from its load balancer on this provider, so isolation cannot be observed", f.region)
	}
	code, err := httpHealth(ctx, topology.ProbeEndpoint(reg), time.Second)
	if err == nil && code == http.StatusOK {
		return fmt.Errorf("clients still reach region %s through its client link", f.region)
	}
	f.client = fmt.Sprint(err)
	if err == nil {
		f.client = fmt.Sprintf("HTTP %d", code)
	}
	for i := 0; ; i++ {
		code, err = httpHealth(ctx, reg.Endpoint(), 2*time.Second)
		if err == nil && code == http.StatusOK {
			f.dataPath = "HTTP 200"
			return nil
		}
		if i == 10 {
			return fmt.Errorf("region %s's own load balancer does not answer either (%v, HTTP %d): that is an outage, not an isolation", f.region, err, code)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

func (f *isolation) Evidence() map[string]any {
	return map[string]any{"client_path": f.client, "load_balancer": f.dataPath}
}

// flapping takes a region down and up on a schedule (service time).
type flapping struct {
	region   topology.RegionName
	down, up time.Duration
	cycles   int
	outage   *regionOutage
	stop     context.CancelFunc
	done     chan struct{}
	mu       sync.Mutex
	isDown   bool
	outages  int
	errs     []error
}

// OnRegionLoss passes the hook to the outages: each one is a loss.
func (f *flapping) OnRegionLoss(h LossHook) { f.outage.OnRegionLoss(h) }

func (f *flapping) Name() string        { return "region-flapping" }
func (f *flapping) Claims() []string    { return regionClaims(f.region) }
func (f *flapping) Span() time.Duration { return time.Duration(f.cycles) * (f.down + f.up) }
func (f *flapping) CheckTarget(env topology.Environment) error {
	return checkRegion(env, f.Name(), f.region)
}

func (f *flapping) Inject(ctx context.Context, env topology.Environment) error {
	if err := f.outage.Inject(ctx, env); err != nil {
		return err
	}
	f.mu.Lock()
	f.isDown, f.outages = true, 1
	f.mu.Unlock()
	fctx, stop := context.WithCancel(ctx)
	f.stop, f.done = stop, make(chan struct{})
	clk := env.Clock()
	go func() {
		defer close(f.done)
		for i := 0; ; i++ {
			if clk.Sleep(fctx, f.down) != nil {
				return
			}
			f.mu.Lock()
			err := f.outage.Recover(fctx, env)
			f.isDown = err != nil
			if err != nil && fctx.Err() == nil {
				f.errs = append(f.errs, fmt.Errorf("bring region %s back after outage %d: %w", f.region, i+1, err))
			}
			f.mu.Unlock()
			if i+1 >= f.cycles || clk.Sleep(fctx, f.up) != nil {
				return
			}
			f.mu.Lock()
			err = f.outage.Inject(fctx, env)
			f.isDown, f.outages = true, f.outages+1
			if err != nil && fctx.Err() == nil {
				f.errs = append(f.errs, fmt.Errorf("outage %d of region %s: %w", i+2, f.region, err))
			}
			f.mu.Unlock()
		}
	}()
	return nil
}

func (f *flapping) Recover(ctx context.Context, env topology.Environment) error {
	if f.stop != nil {
		f.stop()
		<-f.done
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	errs := f.errs
	if f.isDown || !env.Region(f.region).Up() {
		if err := f.outage.Recover(ctx, env); err != nil {
			errs = append(errs, err)
		} else {
			f.isDown = false
		}
	}
	return errors.Join(errs...)
}

// Verify observes the first outage (processes gone, no health answer).
func (f *flapping) Verify(ctx context.Context, env topology.Environment) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.isDown {
		return fmt.Errorf("region %s was already back before its first outage could be observed", f.region)
	}
	return f.outage.Verify(ctx, env)
}

func (f *flapping) Evidence() map[string]any {
	ev := f.outage.Evidence()
	ev["cycles"], ev["down"], ev["up"] = f.cycles, f.down.String(), f.up.String()
	return ev
}

// stallThenLoss cuts the WAN, lets the primary keep taking writes for the
// stall, then loses the region. It is injected when the region is lost (its
// Inject returns then), so the fault time the checks read is the disaster.
type stallThenLoss struct {
	region    topology.RegionName
	stall     time.Duration
	outage    *regionOutage
	stalledAt time.Time
	st        topology.ShippingStatus
	cut       bool
}

// OnRegionLoss passes the hook to the outage: the WAN cut loses nothing
// (region a still holds its data), the outage after the stall does.
func (f *stallThenLoss) OnRegionLoss(h LossHook) { f.outage.OnRegionLoss(h) }

func (f *stallThenLoss) Name() string     { return "replication-stall-then-loss" }
func (f *stallThenLoss) Claims() []string { return regionClaims(f.region) }
func (f *stallThenLoss) CheckTarget(env topology.Environment) error {
	if err := checkRegion(env, f.Name(), f.region); err != nil {
		return err
	}
	if _, ok := env.Links().Get(topology.LinkWAN); !ok {
		return &Error{"fault replication-stall-then-loss: the environment has no wan link"}
	}
	return nil
}

func (f *stallThenLoss) Inject(ctx context.Context, env topology.Environment) error {
	wan, _ := env.Links().Get(topology.LinkWAN)
	f.stalledAt = time.Now()
	if err := wan.Cut(); err != nil {
		return fmt.Errorf("cut the WAN: %w", err)
	}
	f.cut = true
	if err := env.Clock().Sleep(ctx, f.stall); err != nil {
		return err
	}
	return f.outage.Inject(ctx, env)
}

func (f *stallThenLoss) Recover(ctx context.Context, env topology.Environment) error {
	if !f.cut {
		return nil
	}
	return f.outage.Recover(ctx, env) // restores the WAN with the region's links
}

// Verify observes the region gone and the primary's last commits stranded:
// the primary was seen committing past what reached the secondary's share.
func (f *stallThenLoss) Verify(ctx context.Context, env topology.Environment) error {
	if err := f.outage.Verify(ctx, env); err != nil {
		return err
	}
	st, err := env.SQL().Status(ctx)
	if err != nil {
		return fmt.Errorf("read log shipping status: %w", err)
	}
	f.st = st
	if !st.PossibleLoss() {
		return fmt.Errorf("replication did not fall behind during the %s stall: the secondary's share has %s and the primary was last seen at %s",
			f.stall, st.Copy.LSN, st.PrimaryLast.LSN)
	}
	return nil
}

func (f *stallThenLoss) Evidence() map[string]any {
	ev := f.outage.Evidence()
	ev["stall_started"] = f.stalledAt
	ev["primary_last_lsn"], ev["copied_lsn"] = f.st.PrimaryLast.LSN, f.st.Copy.LSN
	if !f.st.PrimaryLast.CommitTime.IsZero() && !f.st.Copy.CommitTime.IsZero() {
		ev["stranded_wall_s"] = f.st.PrimaryLast.CommitTime.Sub(f.st.Copy.CommitTime).Seconds()
	}
	return ev
}

// failbackFault is a hardware fault in the failed-over region, struck while
// the failback runs (its definition waits for failback-start).
type failbackFault struct{ Fault }

func (f *failbackFault) Name() string { return "failback-fault" }

// OnRegionLoss passes the hook to the inner fault, if it can lose a region
// (a fault domain or the SQL server of region b failing during the
// failback does not: it is restarted in place).
func (f *failbackFault) OnRegionLoss(h LossHook) {
	if l, ok := f.Fault.(RegionLoser); ok {
		l.OnRegionLoss(h)
	}
}
func (f *failbackFault) Claims() []string {
	if c, ok := f.Fault.(Claimer); ok {
		return c.Claims()
	}
	return nil
}
func (f *failbackFault) CheckTarget(env topology.Environment) error {
	if t, ok := f.Fault.(Targeted); ok {
		return t.CheckTarget(env)
	}
	return nil
}
func (f *failbackFault) Verify(ctx context.Context, env topology.Environment) error {
	if v, ok := f.Fault.(Verifier); ok {
		return v.Verify(ctx, env)
	}
	return errors.New("the inner fault cannot be verified")
}
func (f *failbackFault) Evidence() map[string]any {
	if e, ok := f.Fault.(Evidencer); ok {
		return e.Evidence()
	}
	return nil
}
