// Package local is the embedded default provider: the whole two-region
// environment as local processes and in-process servers, on loopback, with
// no Docker. PostgreSQL servers (package pgship) ship WAL from region A to
// region B; an embedded S3 server per region is kept in sync by the harness's
// replicator (package blob); AOS stubs are real child processes placed over
// five fault domains; every network path crosses an embedded Toxiproxy link.
//
// Importing the package registers the provider as "local" and makes the
// running binary able to act as an AOS stub when re-executed with
// BCDR_ROLE=aos, so no separate build step is needed.
package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/aos"
	"github.com/bcdr-harness/bcdr/topology/appdb"
	"github.com/bcdr-harness/bcdr/topology/blob"
	"github.com/bcdr-harness/bcdr/topology/lb"
	"github.com/bcdr-harness/bcdr/topology/netlink"
	"github.com/bcdr-harness/bcdr/topology/pgship"
	"github.com/bcdr-harness/bcdr/topology/ports"
	"github.com/bcdr-harness/bcdr/topology/proc"
	"github.com/bcdr-harness/bcdr/topology/workdir"
)

// WorkDirPrefix starts the name of a run's work directory in the temp dir
// (bcdr clean looks for it).
const WorkDirPrefix = "bcdr-run-"

// Name is the provider's registered name.
const Name = "local"

// RoleEnv is the variable that turns a re-executed binary into an AOS stub.
const RoleEnv = "BCDR_ROLE"

func init() {
	if os.Getenv(RoleEnv) == "aos" {
		aos.Main()
		os.Exit(0)
	}
	topology.RegisterProvider(topology.ProviderDef{
		Name: Name, Help: "processes on this machine: embedded PostgreSQL, S3 servers and AOS stubs on loopback, no Docker",
		Up: func(ctx context.Context, spec topology.Spec, clk *clock.Clock) (topology.Environment, error) {
			return Up(ctx, spec, clk)
		},
		SQLEngines: []string{"postgres"}, BlobEngines: []string{topology.BlobEngineS3},
		Capabilities: []topology.Capability{topology.CapClientPath, topology.CapLogShareFill},
		Available:    func(context.Context) error { return pgship.BinDirAvailable("") },
		Sweep:        sweep,
		SweepHelp:    sweepHelp(),
		Describe: func() []string {
			return []string{"PostgreSQL " + topology.CommandVersion(postgresPath()), "in-process S3 servers with the harness's replicator"}
		},
	})
}

// Env is a running local environment.
type Env struct {
	spec topology.Spec
	clk  *clock.Clock
	// blobCreds are the run's random blob keys (application, replicator).
	blobCreds blob.Credentials
	// Databases and Buckets give the cutover fingerprint and its negative
	// controls (topology.Fingerprinter, topology.Tamperer).
	appdb.Databases
	blob.Buckets
	workDir string
	ownDir  bool
	// reg records what the run created (the blast-radius guard).
	reg    *topology.Registry
	cancel context.CancelFunc
	wg     sync.WaitGroup

	links   *netlink.Set
	pair    *pgship.Pair
	blobs   map[topology.RegionName]*blob.Server
	repl    *blob.Replicator
	regions map[topology.RegionName]*Region
	router  *lb.Router

	closeOnce sync.Once
	closeErr  error
}

var _ topology.Environment = (*Env)(nil)

// Up builds the environment. On error everything already started is released.
func Up(ctx context.Context, spec topology.Spec, clk *clock.Clock) (_ *Env, err error) {
	if err := topology.CheckEngines(Name, spec); err != nil {
		return nil, err
	}
	e := &Env{spec: spec, clk: clk, links: netlink.NewSet(), blobs: map[topology.RegionName]*blob.Server{}, blobCreds: blob.NewCredentials(),
		regions: map[topology.RegionName]*Region{}}
	e.Databases, e.Buckets = appdb.NewDatabases(e.dbOf), blob.NewBuckets(e.blobAddr, e.blobCreds)
	defer func() {
		if err != nil {
			_ = e.Close(context.Background())
		}
	}()
	if err = e.makeWorkDir(); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel

	// Blob stores first: the WAN links need their addresses.
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		if e.blobs[r], err = blob.NewServer(e.blobCreds); err != nil {
			return nil, fmt.Errorf("blob store %s: %w", r, err)
		}
		e.reg.Add(e.blobTarget(r))
	}
	// The AOS stubs start while the SQL pair comes up (their addresses
	// are known once the pair is prepared), and the load balancers, whose
	// probes connect them to SQL, once it is up: a probe storm at a server
	// still starting slowed its start more than the overlap gained.
	wanDial, err := e.prepareSQL()
	if err != nil {
		return nil, err
	}
	if err = e.startInstances(); err != nil {
		return nil, err
	}
	if err = e.startSQL(ctx); err != nil {
		return nil, err
	}
	if err = e.startBlobReplication(ctx, wanDial); err != nil {
		return nil, err
	}
	if err = e.startBalancers(); err != nil {
		return nil, err
	}
	for _, r := range e.regions {
		if err := r.waitHealthy(ctx); err != nil {
			return nil, err
		}
	}
	e.wg.Add(2)
	go func() { defer e.wg.Done(); e.pair.Run(runCtx) }()
	go func() { defer e.wg.Done(); e.repl.Run(runCtx) }()
	return e, nil
}

// makeWorkDir creates the work directory (unless the spec names one),
// records what the run creates under its name, and lets the postgres user
// traverse it.
func (e *Env) makeWorkDir() (err error) {
	e.workDir = e.spec.WorkDir
	if e.workDir == "" {
		// The owner (pid and start time) is recorded inside: bcdr clean
		// removes the directory as soon as this process is gone.
		if e.workDir, err = workdir.Create(WorkDirPrefix); err != nil {
			return fmt.Errorf("work dir: %w", err)
		}
		e.ownDir = true
	}
	e.reg = topology.NewRegistry(filepath.Base(e.workDir))
	e.links.Own(e.reg)
	// Parents of the data directories must be traversable by the postgres user.
	if err = os.Chmod(e.workDir, 0o755); err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	return nil
}

// prepareSQL prepares the PostgreSQL pair (its addresses, nothing
// started) and the WAN links to each region's backup share, SQL server and
// blob store. wanDial gives a WAN link's address by kind (share, sql, blob)
// and region.
func (e *Env) prepareSQL() (wanDial func(kind string, to topology.RegionName) string, err error) {
	wanAddrs := sync.Map{} // "kind/region" -> proxy address
	wanDial = func(kind string, to topology.RegionName) string {
		v, _ := wanAddrs.Load(kind + "/" + string(to))
		s, _ := v.(string)
		return s
	}
	spec := e.spec
	e.pair, err = pgship.Prepare(pgship.Config{
		WorkDir: e.workDir, Clock: e.clk, Primary: topology.RegionA, Secondary: topology.RegionB,
		Database: "finance", BackupInterval: spec.LogBackupInterval, CopyInterval: spec.LogCopyInterval,
		RestoreInterval: spec.LogRestoreInterval, WANDial: wanDial,
		// A planned switch returns once the new primary takes writes; the old
		// primary is rebuilt as its secondary in the background, as SQL
		// Server's role reversal needs no rebuild.
		BackgroundRebuild: true,
		OnProcess: func(r topology.RegionName, pid int) {
			e.reg.AddProcess(pid, "postgres of region "+string(r))
		},
	})
	if err != nil {
		return nil, fmt.Errorf("sql pair: %w", err)
	}
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		for kind, up := range map[string]string{"share": e.pair.ShareAddr(r), "sql": e.pair.SQLAddr(r), "blob": e.blobs[r].Addr()} {
			addr, err := e.links.Add(topology.LinkWAN, kind+"-"+string(r), up)
			if err != nil {
				return nil, err
			}
			wanAddrs.Store(kind+"/"+string(r), addr)
		}
	}
	return wanDial, nil
}

// startSQL brings the prepared pair up, creates the schema and initialises
// log shipping.
func (e *Env) startSQL(ctx context.Context) error {
	if err := e.pair.Bootstrap(ctx); err != nil {
		return fmt.Errorf("sql pair: %w", err)
	}
	if err := e.migrate(ctx); err != nil {
		return err
	}
	// Log shipping is initialised like a real one: the secondary starts from
	// a backup that already holds the schema.
	return topology.InitialSync(ctx, e.pair)
}

// startBlobReplication builds the replicator from region a's blob store
// to region b's, each reached across its WAN link (wanDial).
func (e *Env) startBlobReplication(ctx context.Context, wanDial func(kind string, to topology.RegionName) string) (err error) {
	stores := map[topology.RegionName]blob.Store{}
	for r, b := range e.blobs {
		stores[r] = blob.ServerStore(b, func() string { return wanDial("blob", r) })
	}
	e.repl, err = blob.NewReplicator(ctx, blob.ReplicatorConfig{Clock: e.clk, Stores: stores, Source: topology.RegionA,
		Interval: e.spec.BlobReplInterval, DropEvery: e.spec.BlobDropEvery, Creds: e.blobCreds})
	return err
}

// startInstances starts each region's AOS stubs (this executable).
func (e *Env) startInstances() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable for the AOS stubs: %w", err)
	}
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		reg := &Region{env: e}
		reg.RegionName = r
		reg.SetUp(true)
		e.regions[r] = reg
		if err := e.startInstancesOf(reg, exe); err != nil {
			return err
		}
	}
	return nil
}

// startBalancers starts each region's load balancer over its instances
// and its client link, and the front door's router; Up then waits until
// every instance is healthy.
func (e *Env) startBalancers() (err error) {
	probe := max(e.clk.Wall(e.spec.ProbeInterval), 50*time.Millisecond)
	targets := map[topology.RegionName]string{}
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		reg := e.regions[r]
		var ids, addrs []string
		for _, in := range reg.AOS {
			ids, addrs = append(ids, in.cfg.ID()), append(addrs, in.cfg.Listen)
		}
		if reg.LB, err = lb.NewBalancer(r, ids, addrs, probe); err != nil {
			return err
		}
		if targets[r], err = e.links.Add(topology.LinkName(topology.LinkClient, r), "lb", reg.LB.Addr()); err != nil {
			return err
		}
		reg.ClientAddr = targets[r]
	}
	e.router, err = lb.NewRouter(targets, topology.RegionA)
	return err
}

func (e *Env) db(r topology.RegionName) (*sql.DB, error) {
	db, err := sql.Open(string(appdb.Postgres), e.pair.DSN(e.pair.SQLAddr(r)))
	if err != nil {
		return nil, fmt.Errorf("open sql %s: %w", r, err)
	}
	return db, nil
}

var (
	_ topology.Fingerprinter = (*Env)(nil)
	_ topology.Tamperer      = (*Env)(nil)
)

// dbOf opens region r's PostgreSQL database and names its dialect.
func (e *Env) dbOf(_ context.Context, r topology.RegionName) (*sql.DB, appdb.Dialect, error) {
	db, err := e.db(r)
	return db, appdb.Postgres, err
}

// blobAddr is region r's embedded blob server.
func (e *Env) blobAddr(r topology.RegionName) string { return e.blobs[r].Addr() }

func (e *Env) migrate(ctx context.Context) error {
	db, err := e.db(topology.RegionA)
	if err != nil {
		return err
	}
	defer db.Close()
	return appdb.Migrate(ctx, db, appdb.Postgres)
}

// startInstancesOf starts region reg's AOS stubs behind their links to
// the region's SQL server and blob store.
func (e *Env) startInstancesOf(reg *Region, exe string) error {
	r := reg.RegionName
	sqlAddr, err := e.links.Add(topology.LinkName(topology.LinkAOSSQL, r), "sql", e.pair.SQLAddr(r))
	if err != nil {
		return err
	}
	blobAddr, err := e.links.Add(topology.LinkName(topology.LinkAOSBlob, r), "blob", e.blobs[r].Addr())
	if err != nil {
		return err
	}
	for i := 0; i < e.spec.InstancesPerRegion; i++ {
		listen, err := ports.Free()
		if err != nil {
			return fmt.Errorf("port for AOS: %w", err)
		}
		cfg := aos.Config{Region: string(r), FaultDomain: e.spec.FaultDomainOf(i), Index: i, Listen: listen,
			SQLDriver: string(appdb.Postgres), SQLDSN: e.pair.DSN(sqlAddr), S3Endpoint: blobAddr,
			S3AccessKey: e.blobCreds.AppAccessKey, S3Secret: e.blobCreds.AppSecret, S3Bucket: blob.Bucket,
			IgnoreLimitedMode: e.spec.AOSIgnoreLimitedMode, RequestTimeout: 3 * time.Second}
		p := proc.New(cfg.ID(), []string{exe}, append(cfg.Env(), RoleEnv+"=aos"))
		id := cfg.ID()
		p.OnStart(func(pid int) { e.reg.AddProcess(pid, "AOS instance "+id) })
		if err := p.Start(); err != nil {
			return err
		}
		reg.AOS = append(reg.AOS, &Instance{cfg: cfg, p: p})
	}
	return nil
}

// Owns tells whether the run created the target (topology.Owner).
func (e *Env) Owns(ctx context.Context, t topology.Target) error { return e.reg.Owns(ctx, t) }

// blobTarget is region r's in-process blob store.
func (e *Env) blobTarget(r topology.RegionName) topology.Target {
	return topology.Target{Kind: topology.TargetServer, ID: e.blobs[r].Addr(), Name: "blob store of region " + string(r)}
}

// PartTargets names what a part of the region runs as (topology.PartTargeter).
func (r *Region) PartTargets(part string) []topology.Target {
	var out []topology.Target
	if part == topology.PartAll {
		for _, in := range r.AOS {
			out = append(out, in.Targets()...)
		}
	}
	if part == topology.PartSQL || part == topology.PartAll {
		if pid := r.env.pair.Postmaster(r.RegionName); pid > 0 {
			out = append(out, topology.ProcessTarget(pid, "postgres of region "+string(r.RegionName)))
		}
	}
	if part == topology.PartBlob || part == topology.PartAll {
		out = append(out, r.env.blobTarget(r.RegionName))
	}
	return out
}

// BlobCredentials are the run's blob keys (the application's for
// exploratory sessions, bcdr up).
func (e *Env) BlobCredentials() blob.Credentials { return e.blobCreds }

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

// Snapshot reads region r's surviving data straight from its stores.
func (e *Env) Snapshot(ctx context.Context, r topology.RegionName) (*topology.Snapshot, error) {
	return appdb.Snapshot(ctx, r, func() (*sql.DB, error) { return e.db(r) }, func(ctx context.Context) (map[string]string, error) {
		return blob.Checksums(ctx, e.blobs[r].Addr(), e.blobCreds)
	})
}

// Close releases everything: processes, servers, proxies, the work dir.
func (e *Env) Close(ctx context.Context) error {
	e.closeOnce.Do(func() {
		var errs []error
		if e.cancel != nil {
			e.cancel()
		}
		if e.router != nil {
			e.router.Close()
		}
		for _, r := range e.regions {
			for _, in := range r.AOS {
				_ = in.p.Thaw()
				errs = append(errs, in.p.Kill())
			}
			if r.LB != nil {
				r.LB.Close()
			}
		}
		if e.pair != nil {
			errs = append(errs, e.pair.Close())
		}
		e.wg.Wait()
		for _, b := range e.blobs {
			errs = append(errs, b.Close(ctx))
		}
		e.links.Close()
		if e.ownDir && e.workDir != "" {
			errs = append(errs, os.RemoveAll(e.workDir))
		}
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

// Region is one region of the local environment.
type Region struct {
	env *Env
	topology.RegionCore[*Instance, *lb.Balancer]
}

// Healthy lists instance ids that passed their last probe.
func (r *Region) Healthy() []string { return r.LB.Healthy() }

// Stop powers the region off: AOS, load balancer, blob store and SQL die at once.
//
// Everything goes at once, as when a region loses power: each process is
// killed in its own goroutine and Stop returns when all are gone, so the
// outage takes as long as the slowest kill, not the sum of them.
func (r *Region) Stop(ctx context.Context) error {
	r.SetUp(false)
	r.LB.Stop()
	// The region's log backup share goes with it: nothing it held is
	// shipped until the region returns.
	r.env.pair.SetShareLost(r.RegionName, true)
	kills := []func() error{r.env.blobs[r.RegionName].Stop, func() error { return r.env.pair.Kill(r.RegionName) }}
	for _, in := range r.AOS {
		kills = append(kills, func() error { _ = in.p.Thaw(); return in.p.Kill() })
	}
	errs := make([]error, len(kills))
	var wg sync.WaitGroup
	for i, kill := range kills {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = kill() }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Start powers the region back on, every server in the role it had.
func (r *Region) Start(ctx context.Context) error {
	if err := r.StartSQL(ctx); err != nil {
		return err
	}
	r.env.pair.SetShareLost(r.RegionName, false)
	if err := r.StartBlob(ctx); err != nil {
		return err
	}
	for _, in := range r.AOS {
		if err := in.p.Start(); err != nil {
			return err
		}
	}
	if err := r.LB.Start(); err != nil {
		return fmt.Errorf("region %s load balancer: %w", r.RegionName, err)
	}
	r.SetUp(true)
	return r.waitHealthy(ctx)
}

// waitHealthy waits until every live instance passes a probe.
func (r *Region) waitHealthy(ctx context.Context) error {
	return topology.WaitHealthy(ctx, r.RegionName, r.LB, r.Instances(), 30*time.Second, 50*time.Millisecond, nil)
}

// StopBlob crashes the region's blob store.
func (r *Region) StopBlob(context.Context) error { return r.env.blobs[r.RegionName].Stop() }

// StartBlob restarts the region's blob store with its data.
func (r *Region) StartBlob(context.Context) error { return r.env.blobs[r.RegionName].Start() }

// StopSQL crashes the region's SQL server.
func (r *Region) StopSQL(context.Context) error { return r.env.pair.Kill(r.RegionName) }

// StartSQL restarts the region's SQL server in place.
func (r *Region) StartSQL(ctx context.Context) error { return r.env.pair.Start(ctx, r.RegionName) }

// Instance is one AOS stub process.
type Instance struct {
	cfg aos.Config
	p   *proc.Process
}

// ID is the instance name.
func (in *Instance) ID() string { return in.cfg.ID() }

// Region is the instance's region.
func (in *Instance) Region() topology.RegionName { return topology.RegionName(in.cfg.Region) }

// FaultDomain is the instance's fault domain.
func (in *Instance) FaultDomain() int { return in.cfg.FaultDomain }

// Index is the instance's number within its region.
func (in *Instance) Index() int { return in.cfg.Index }

// Kill crashes the process.
func (in *Instance) Kill(context.Context) error { return in.p.Kill() }

// Freeze stops the process with SIGSTOP.
func (in *Instance) Freeze(context.Context) error { return in.p.Freeze() }

// Thaw resumes a frozen process.
func (in *Instance) Thaw(context.Context) error { return in.p.Thaw() }

// Restart starts a killed process.
func (in *Instance) Restart(context.Context) error { return in.p.Start() }

// Alive tells whether the process runs and is not frozen.
func (in *Instance) Alive() bool { return in.p.Alive() }

// Targets names the instance's process (topology.Targeter).
func (in *Instance) Targets() []topology.Target {
	if pid := in.p.Pid(); pid > 0 {
		return []topology.Target{topology.ProcessTarget(pid, "AOS instance "+in.ID())}
	}
	return nil
}

// Pid is the process id, for tests that look for leftovers.
func (in *Instance) Pid() int { return in.p.Pid() }

// postgresPath is the postgres binary: in PATH, else in pg_config's bin
// directory, else PostgreSQL 15's.
func postgresPath() string {
	if path, err := exec.LookPath("postgres"); err == nil {
		return path
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		return filepath.Join(strings.TrimSpace(string(out)), "postgres")
	}
	return "/usr/lib/postgresql/15/bin/postgres"
}
