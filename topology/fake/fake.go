// Package fake is an in-memory provider: the whole two-region environment
// in the test process, with no PostgreSQL, no child process and no Docker,
// so the runbook, the runner and the faults' lifecycles can be tested in
// milliseconds.
//
// It models the rules the checks judge rather than a flag per outcome. A
// write is acknowledged only after the region's primary committed it.
// Commits reach the secondary only as log backups taken on the primary,
// fetched across the WAN link by the copy job and applied by the restore
// job, each on the spec's schedule (topology.RunJobs), so shipping lags,
// stalls on a cut WAN and a failover loses what was not copied. A resync
// is a base backup across the WAN; a planned switch fences the primary and
// ships its tail unless told to skip it. Buckets replicate by rounds that
// list and copy across the WAN. AOS instances are in-process HTTP servers
// with the API of package aos, behind the real load balancer and router
// (package lb); every path (client, aos-sql, aos-blob, WAN) crosses an
// embedded Toxiproxy link (package netlink), so a fault acts on real bytes.
//
// Importing the package registers the provider as "fake".
package fake

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/aos"
	"github.com/bcdr-harness/bcdr/topology/lb"
	"github.com/bcdr-harness/bcdr/topology/netlink"
)

// Name is the provider's name.
const Name = "fake"

func init() {
	topology.RegisterProvider(topology.ProviderDef{
		Name: Name, Help: "in memory, no database or Docker; for tests and searches",
		Up: func(ctx context.Context, spec topology.Spec, clk *clock.Clock) (topology.Environment, error) {
			return Up(ctx, spec, clk)
		},
		// The in-memory pair models PostgreSQL's log shipping.
		SQLEngines: []string{"postgres"}, BlobEngines: []string{topology.BlobEngineS3},
		Capabilities: []topology.Capability{topology.CapClientPath, topology.CapLogShareFill},
		Available:    func(context.Context) error { return nil },
		Describe: func() []string {
			return []string{"in-memory SQL and blob stores (the fake provider: no database engine)"}
		},
		// The fake fails back in tens of milliseconds: batch probes every
		// 10 service seconds are what let batch-outage see inside it (as
		// harness/drilltest TestFakeRegionOutageDrillPasses does).
		ValidateSets: []string{"probe-every=10s"},
		Light:        true,
	})
}

// Env is a running fake environment.
type Env struct {
	spec    topology.Spec
	clk     *clock.Clock
	client  *http.Client
	links   *netlink.Set
	pair    *pair
	buckets map[topology.RegionName]*bucket
	repl    *replication
	regions map[topology.RegionName]*Region
	router  *lb.Router
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	wanMu   sync.Mutex
	wan     map[string]string // "kind/region" -> WAN proxy address
	// reg records what the run created (the blast-radius guard).
	reg *topology.Registry

	closeOnce sync.Once
}

var _ topology.Environment = (*Env)(nil)

// Up builds the environment. On error everything already started is released.
func Up(ctx context.Context, spec topology.Spec, clk *clock.Clock) (_ *Env, err error) {
	if err := topology.CheckEngines(Name, spec); err != nil {
		return nil, err
	}
	tr := &http.Transport{DialContext: (&net.Dialer{Timeout: time.Second}).DialContext, MaxIdleConnsPerHost: 32}
	e := &Env{spec: spec, clk: clk, client: &http.Client{Transport: tr}, links: netlink.NewSet(),
		buckets: map[topology.RegionName]*bucket{}, regions: map[topology.RegionName]*Region{}, wan: map[string]string{},
		reg: topology.NewRegistry(Name)}
	e.links.Own(e.reg)
	defer func() {
		if err != nil {
			_ = e.Close(context.Background())
		}
	}()
	if e.pair, err = newPair(clk, e.client, e.wanAddr); err != nil {
		return nil, err
	}
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		if e.buckets[r], err = newBucket(r != topology.RegionA); err != nil {
			return nil, fmt.Errorf("bucket %s: %w", r, err)
		}
	}
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		n := e.pair.nodes[r]
		for kind, up := range map[string]string{"share": n.share.address(), "sql": n.sql.address(), "blob": e.buckets[r].srv.address()} {
			addr, err := e.links.Add(topology.LinkWAN, kind+"-"+string(r), up)
			if err != nil {
				return nil, err
			}
			e.wanMu.Lock()
			e.wan[kind+"/"+string(r)] = addr
			e.wanMu.Unlock()
		}
	}
	e.repl = &replication{clk: clk, client: e.client, buckets: e.buckets, wan: e.wanAddr, source: topology.RegionA,
		replicating: true, done: map[string]string{}, dropEvery: spec.BlobDropEvery}
	if err = topology.InitialSync(ctx, e.pair); err != nil {
		return nil, err
	}
	targets := map[topology.RegionName]string{}
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		reg, err := e.startRegion(r)
		if err != nil {
			return nil, err
		}
		e.regions[r] = reg
		if targets[r], err = e.links.Add(topology.LinkName(topology.LinkClient, r), "lb", reg.lb.Addr()); err != nil {
			return nil, err
		}
		reg.clientAddr = targets[r]
	}
	if e.router, err = lb.NewRouter(targets, topology.RegionA); err != nil {
		return nil, err
	}
	for _, r := range e.regions {
		if err := r.waitHealthy(ctx); err != nil {
			return nil, err
		}
	}
	// Every in-process server the run created is its own.
	for _, r := range e.regions {
		for _, t := range r.PartTargets(topology.PartAll) {
			e.reg.Add(t)
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	topology.RunJobs(runCtx, clk, &e.pair.costs, &e.wg, e.pair.jobs(spec)...)
	topology.RunJobs(runCtx, clk, &e.repl.costs, &e.wg,
		topology.Job{Name: topology.JobReplication, Every: spec.BlobReplInterval, Run: e.repl.SyncNow})
	return e, nil
}

func (e *Env) wanAddr(kind string, r topology.RegionName) string {
	e.wanMu.Lock()
	defer e.wanMu.Unlock()
	return e.wan[kind+"/"+string(r)]
}

func (e *Env) startRegion(r topology.RegionName) (*Region, error) {
	sqlAddr, err := e.links.Add(topology.LinkName(topology.LinkAOSSQL, r), "sql", e.pair.nodes[r].sql.address())
	if err != nil {
		return nil, err
	}
	blobAddr, err := e.links.Add(topology.LinkName(topology.LinkAOSBlob, r), "blob", e.buckets[r].srv.address())
	if err != nil {
		return nil, err
	}
	reg := &Region{env: e, name: r}
	reg.SetUp(true)
	var ids, addrs []string
	for i := 0; i < e.spec.InstancesPerRegion; i++ {
		cfg := aos.Config{Region: string(r), FaultDomain: e.spec.FaultDomainOf(i), Index: i,
			IgnoreLimitedMode: e.spec.AOSIgnoreLimitedMode, RequestTimeout: 3 * time.Second}
		in, err := newInstance(cfg, sqlAddr, blobAddr, e.client)
		if err != nil {
			return nil, fmt.Errorf("AOS %s: %w", cfg.ID(), err)
		}
		reg.instances = append(reg.instances, in)
		ids, addrs = append(ids, in.ID()), append(addrs, in.Addr())
	}
	probe := e.clk.Wall(e.spec.ProbeInterval)
	if probe < 50*time.Millisecond {
		probe = 50 * time.Millisecond
	}
	if reg.lb, err = lb.NewBalancer(r, ids, addrs, probe); err != nil {
		return nil, err
	}
	return reg, nil
}

// Owns tells whether the run created the target (topology.Owner).
func (e *Env) Owns(ctx context.Context, t topology.Target) error { return e.reg.Owns(ctx, t) }

// Registry is the record of what the run created (tests register a
// foreign target's look-alike in it, or check against it).
func (e *Env) Registry() *topology.Registry { return e.reg }

// serverTarget names an in-process server of the environment.
func serverTarget(s *svc, name string) topology.Target {
	return topology.Target{Kind: topology.TargetServer, ID: s.address(), Name: name}
}

// PartTargets names the in-process servers of a part of the region
// (topology.PartTargeter).
func (r *Region) PartTargets(part string) []topology.Target {
	var out []topology.Target
	n := r.env.pair.nodes[r.name]
	if part == topology.PartAll {
		for _, in := range r.instances {
			out = append(out, in.Targets()...)
		}
	}
	if part == topology.PartSQL || part == topology.PartAll {
		out = append(out, serverTarget(n.sql, "SQL server of region "+string(r.name)), serverTarget(n.share, "log share of region "+string(r.name)))
	}
	if part == topology.PartBlob || part == topology.PartAll {
		out = append(out, serverTarget(r.env.buckets[r.name].srv, "blob store of region "+string(r.name)))
	}
	return out
}

// Spec returns the spec the environment was built from.
func (e *Env) Spec() topology.Spec { return e.spec }

// Clock returns the run's clock.
func (e *Env) Clock() *clock.Clock { return e.clk }

// Region returns a region by name (nil if unknown).
func (e *Env) Region(name topology.RegionName) topology.Region {
	return topology.RegionOf(e.regions, name)
}

// Router returns the front door.
func (e *Env) Router() topology.Router { return e.router }

// SQL returns the log-shipping pair.
func (e *Env) SQL() topology.LogShipping { return e.pair }

// Blob returns the blob replication.
func (e *Env) Blob() topology.Replication { return e.repl }

// Links returns the named links.
func (e *Env) Links() topology.Links { return e.links }

// Snapshot reads what region r's database and bucket hold.
func (e *Env) Snapshot(_ context.Context, r topology.RegionName) (*topology.Snapshot, error) {
	n, ok := e.pair.nodes[r]
	if !ok {
		return nil, fmt.Errorf("no region %s", r)
	}
	e.pair.mu.Lock()
	s := n.db.snapshot(r)
	e.pair.mu.Unlock()
	s.Objects = e.buckets[r].checksums()
	return s, nil
}

// Close releases every server, proxy and goroutine.
func (e *Env) Close(context.Context) error {
	e.closeOnce.Do(func() {
		if e.cancel != nil {
			e.cancel()
		}
		if e.router != nil {
			e.router.Close()
		}
		for _, r := range e.regions {
			for _, in := range r.instances {
				_ = in.Kill(context.Background())
			}
			if r.lb != nil {
				r.lb.Close()
			}
		}
		e.wg.Wait()
		if e.pair != nil {
			e.pair.close()
		}
		for _, b := range e.buckets {
			b.srv.stop()
		}
		e.links.Close()
		if tr, ok := e.client.Transport.(*http.Transport); ok {
			tr.CloseIdleConnections()
		}
	})
	return nil
}

// Region is one region of the fake environment.
type Region struct {
	env        *Env
	name       topology.RegionName
	instances  []*Instance
	lb         *lb.Balancer
	clientAddr string
	topology.UpFlag
}

var _ topology.ClientEndpointer = (*Region)(nil)

// Name is the region's name.
func (r *Region) Name() topology.RegionName { return r.name }

// Instances lists the AOS instances.
func (r *Region) Instances() []topology.Instance { return topology.InstanceList(r.instances) }

// Endpoint is the load balancer's URL.
func (r *Region) Endpoint() string { return "http://" + r.lb.Addr() }

// ClientEndpoint is the region as the front door reaches it.
func (r *Region) ClientEndpoint() string { return "http://" + r.clientAddr }

// Stop powers the region off: AOS, load balancer, SQL server, log share and
// bucket go at once; nothing they hold leaves the region until it returns.
func (r *Region) Stop(ctx context.Context) error {
	r.SetUp(false)
	r.lb.Stop()
	for _, in := range r.instances {
		_ = in.Kill(ctx)
	}
	n := r.env.pair.nodes[r.name]
	n.sql.stop()
	n.share.stop()
	r.env.buckets[r.name].srv.stop()
	return nil
}

// Start powers the region back on, every server in the role it had.
func (r *Region) Start(ctx context.Context) error {
	n := r.env.pair.nodes[r.name]
	if err := n.sql.start(); err != nil {
		return err
	}
	if err := n.share.start(); err != nil {
		return err
	}
	if err := r.env.buckets[r.name].srv.start(); err != nil {
		return err
	}
	for _, in := range r.instances {
		if err := in.Restart(ctx); err != nil {
			return err
		}
	}
	if err := r.lb.Start(); err != nil {
		return fmt.Errorf("region %s load balancer: %w", r.name, err)
	}
	r.SetUp(true)
	return r.waitHealthy(ctx)
}

// waitHealthy waits until every live instance passes a probe.
func (r *Region) waitHealthy(ctx context.Context) error {
	return topology.WaitHealthy(ctx, r.name, r.lb, r.Instances(), 30*time.Second, 20*time.Millisecond, nil)
}

// StopBlob crashes the region's bucket server (its objects survive).
func (r *Region) StopBlob(context.Context) error { r.env.buckets[r.name].srv.stop(); return nil }

// StartBlob restarts the region's bucket server.
func (r *Region) StartBlob(context.Context) error { return r.env.buckets[r.name].srv.start() }

// StopSQL crashes the region's SQL server (committed data survives).
func (r *Region) StopSQL(context.Context) error { r.env.pair.nodes[r.name].sql.stop(); return nil }

// StartSQL restarts the region's SQL server in place.
func (r *Region) StartSQL(context.Context) error { return r.env.pair.nodes[r.name].sql.start() }
