package containers

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for snapshots
	"github.com/moby/moby/client"
	tcnetwork "github.com/testcontainers/testcontainers-go/network"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/aos"
	"github.com/bcdr-harness/bcdr/topology/appdb"
	"github.com/bcdr-harness/bcdr/topology/blob"
	"github.com/bcdr-harness/bcdr/topology/lb"
	"github.com/bcdr-harness/bcdr/topology/miniorepl"
	"github.com/bcdr-harness/bcdr/topology/netlink"
	"github.com/bcdr-harness/bcdr/topology/pgship"
	"github.com/bcdr-harness/bcdr/topology/sqlserver"
)

// Name is the provider's registered name.
const Name = "containers"

func init() {
	topology.RegisterProvider(topology.ProviderDef{
		Name: Name, Help: "Docker containers: PostgreSQL or SQL Server, MinIO or S3, AOS stubs and Toxiproxy (needs Docker and the images)",
		Up: func(ctx context.Context, spec topology.Spec, clk *clock.Clock) (topology.Environment, error) {
			return Up(ctx, spec, clk)
		},
		// A request crosses the front door, the WAN link, the load balancer,
		// Docker's port proxy and two containers: at half the embedded
		// default's scale a client attempt still has 300 ms of wall time.
		Scale: TimeScale, AttemptFloor: AttemptFloor, AttemptFromLatency: true,
		SQLEngines: []string{EnginePostgres, EngineSQLServer},
		// MinIO's own bucket replication, the production engine, first.
		BlobEngines: []string{topology.BlobEngineMinIO, topology.BlobEngineS3},
		// The PostgreSQL and SQL Server engines cannot fill their log
		// share: log-share-full is refused here.
		Capabilities:  []topology.Capability{topology.CapClientPath},
		Available:     available,
		Clean:         cleanUp,
		Leftovers:     leftovers,
		LeftoverKinds: []string{"containers", "networks", "volumes"},
		Describe: func() []string {
			return []string{"PostgreSQL or SQL Server and MinIO in Docker (docker " + topology.CommandVersion("docker") + ")"}
		},
		CleanHelp: "containers, networks and volumes labelled " + LabelRun + " (every run's, or --run-id's), when Docker answers: do not run it while a containers drill is running",
	})
}

// available says why the provider cannot run here: no Docker, or the
// default images (ImagesFromEnv) missing.
func available(ctx context.Context) error {
	if err := DockerAvailable(ctx); err != nil {
		return err
	}
	if miss := MissingImages(ctx, ImagesFromEnv()); len(miss) > 0 {
		return fmt.Errorf("images missing locally: %s", strings.Join(miss, ", "))
	}
	return nil
}

// AttemptFloor is the shortest client attempt on containers (wall). A
// write crosses Docker's port forwarding, a Toxiproxy link, an AOS
// container, MinIO (which syncs to disk) and PostgreSQL: on 2 cores, idle,
// the first attempt of an invoice took 75 ms at the median, 291 ms at the
// 99th percentile and 324 ms at worst (1,280 invoices, one region drill),
// a journal entry 444 ms at worst. At the default scale the retry budget
// gives 300 ms attempts, so the slowest ordinary writes timed out although
// nothing was wrong; 600 ms is twice the 99th percentile.
const AttemptFloor = 600 * time.Millisecond

// TimeScale is the containers provider's time scale when a scenario sets none.
const TimeScale = 100

// Images names the images the provider runs: S3 serves the s3 blob
// engine (the harness's replicator), MinIO the minio engine.
type Images struct {
	AOS, S3, MinIO, Toxiproxy, Postgres string
}

// LocalImages are the tags scripts/build-images.sh builds (BCDR_LOCAL_IMAGES=1).
var LocalImages = Images{
	AOS:       "bcdr/aos-stub:local",
	S3:        "bcdr/s3:local",
	MinIO:     miniorepl.LocalImage,
	Toxiproxy: "bcdr/toxiproxy:local",
	Postgres:  "bcdr/postgres:15-local",
}

// OfficialImages are used on hosts with registry access (BCDR_LOCAL_IMAGES
// unset): the stub and S3 images are still built from the repo.
var OfficialImages = Images{
	AOS:       "bcdr/aos-stub:local",
	S3:        "bcdr/s3:local",
	MinIO:     miniorepl.Image,
	Toxiproxy: "ghcr.io/shopify/toxiproxy:2.5.0",
	Postgres:  "postgres:15",
}

// ImagesFromEnv picks the image set: BCDR_LOCAL_IMAGES=1 selects the local
// images. Either way every image must be present locally (nothing is pulled
// here); MissingImages says which are not.
func ImagesFromEnv() Images {
	if os.Getenv("BCDR_LOCAL_IMAGES") == "1" {
		return LocalImages
	}
	return OfficialImages
}

// MissingImages lists the images of set that the local engine lacks.
func MissingImages(ctx context.Context, set Images) []string {
	return missing(ctx, set.AOS, set.S3, set.MinIO, set.Toxiproxy, set.Postgres)
}

// needed lists the images a run of spec uses.
func (s Images) needed(spec topology.Spec) []string {
	out := []string{s.AOS, s.Toxiproxy, s.Postgres, s.S3}
	if blobEngineOf(spec) == topology.BlobEngineMinIO {
		out[3] = s.MinIO
	}
	if engineOf(spec) == EngineSQLServer {
		out[2] = sqlserverImage
	}
	return out
}

// blobEngineOf is the spec's blob engine (MinIO when it names none).
func blobEngineOf(spec topology.Spec) string {
	if spec.BlobEngine == "" {
		return topology.BlobEngineMinIO
	}
	return spec.BlobEngine
}

func missing(ctx context.Context, images ...string) []string {
	var out []string
	for _, img := range images {
		if !ImagePresent(ctx, img) {
			out = append(out, img)
		}
	}
	return out
}

// Container ports of the Toxiproxy container, one proxy each: region a
// uses 21001-21005, region b 21011-21015.
const (
	portAOSSQL = 21001 + iota
	portAOSBlob
	portWANSQL
	portWANShare
	portWANBlob
)

func toxiPort(base int, r topology.RegionName) int {
	if r == topology.RegionB {
		return base + 10
	}
	return base
}

// workDirPrefix starts the name of a run's work directory in the temp
// directory, followed by the run id, so Clean finds those of killed runs.
const workDirPrefix = "bcdr-containers-"

// Env is a running two-region environment in containers.
type Env struct {
	spec   topology.Spec
	clk    *clock.Clock
	images Images
	runID  string
	// reg records what the run created (the blast-radius guard).
	reg     *topology.Registry
	workDir string
	ownDir  bool
	labels  map[string]string

	nets     map[topology.RegionName]string // network names
	gateways map[topology.RegionName]string
	toxiCtr  *ctr
	toxi     *toxi
	shares   []*http.Server
	// shareLost marks a region whose backup share must not answer: the
	// region is lost (Region.Stop), and its share with it, until it returns.
	shareLost map[topology.RegionName]*atomic.Bool
	pgs       map[topology.RegionName]*pgNode
	sql       sqlTier
	s3s       map[topology.RegionName]*s3Store
	// blobCreds are the run's random blob keys (application, snapshots).
	blobCreds blob.Credentials
	// Databases and Buckets give the cutover fingerprint and its negative
	// controls (topology.Fingerprinter, topology.Tamperer).
	appdb.Databases
	blob.Buckets
	// sqlPassword is the run's random SQL Server sa password.
	sqlPassword string
	repl        *s3Repl
	blobRepl    topology.Replication
	blobStop    func()
	ctrs        []*ctr
	client      *netlink.Set
	links       *linkSet
	regions     map[topology.RegionName]*Region
	router      *lb.Router
	sigDone     chan struct{}
	// toxiPublished maps a Toxiproxy container port to its loopback host port.
	toxiPublished map[string]int

	closeOnce sync.Once
	closeErr  error
}

var _ topology.Environment = (*Env)(nil)

// RunID is the label value every container, network and volume of this
// environment carries (bcdr.run).
func (e *Env) RunID() string { return e.runID }

// newRunID names a run; BCDR_RUN_ID, when set, names it instead (a CI job
// that wants to clean up exactly its own run).
func newRunID() string {
	if id := os.Getenv("BCDR_RUN_ID"); id != "" {
		return id
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("bcdr-%s-%s", time.Now().UTC().Format("150405"), hex.EncodeToString(b))
}

// Up builds the environment. On error everything already created is removed.
func Up(ctx context.Context, spec topology.Spec, clk *clock.Clock) (_ *Env, err error) {
	if err := topology.CheckEngines(Name, spec); err != nil {
		return nil, err
	}
	if err := DockerAvailable(ctx); err != nil {
		return nil, fmt.Errorf("containers provider: %w", err)
	}
	spec.BlobEngine = blobEngineOf(spec)
	images := ImagesFromEnv()
	if engineOf(spec) == EngineSQLServer && !ImagePresent(ctx, sqlserverImage) {
		return nil, fmt.Errorf("containers provider: the SQL Server engine needs the image %s, which is not present locally (docker pull %s): %w", sqlserverImage, sqlserverImage, topology.ErrEngineUnavailable)
	}
	if miss := missing(ctx, images.needed(spec)...); len(miss) > 0 {
		return nil, fmt.Errorf("containers provider: images missing locally: %s (build them with BCDR_LOCAL_IMAGES=1 scripts/build-images.sh, or choose another engine: --set blob-engine=s3)", strings.Join(miss, ", "))
	}
	e := &Env{spec: spec, clk: clk, images: images, runID: newRunID(), blobCreds: blob.NewCredentials(), sqlPassword: newSQLServerPassword(), client: netlink.NewSet(), links: &linkSet{},
		nets: map[topology.RegionName]string{}, gateways: map[topology.RegionName]string{},
		pgs: map[topology.RegionName]*pgNode{}, s3s: map[topology.RegionName]*s3Store{}, regions: map[topology.RegionName]*Region{}}
	e.labels = map[string]string{LabelRun: e.runID, LabelCreator: "bcdr"}
	e.Databases, e.Buckets = appdb.NewDatabases(e.dbOf), blob.NewBuckets(e.s3Addr, e.blobCreds)
	e.own()
	defer func() {
		if err != nil {
			_ = e.Close(context.Background())
		}
	}()
	e.watchSignals()
	if err := e.makeDirs(); err != nil {
		return nil, err
	}
	if err := e.makeNetworks(ctx); err != nil {
		return nil, err
	}
	if err := e.startToxiproxy(ctx); err != nil {
		return nil, err
	}
	if err := e.startBlob(ctx); err != nil {
		return nil, err
	}
	if err := e.startSQL(ctx); err != nil {
		return nil, err
	}
	targets := map[topology.RegionName]string{}
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		reg, err := e.startRegion(ctx, r)
		if err != nil {
			return nil, err
		}
		e.regions[r] = reg
		if targets[r], err = e.client.Add(topology.LinkName(topology.LinkClient, r), "lb", reg.LB.Addr()); err != nil {
			return nil, fmt.Errorf("client link %s: %w", r, err)
		}
		reg.ClientAddr = targets[r]
		l, _ := e.client.Get(topology.LinkName(topology.LinkClient, r))
		e.links.put(l)
	}
	if e.router, err = lb.NewRouter(targets, topology.RegionA); err != nil {
		return nil, err
	}
	for _, l := range e.toxi.links {
		e.links.put(l)
	}
	for _, r := range e.regions {
		if err := r.waitHealthy(ctx, 90*time.Second); err != nil {
			return nil, err
		}
	}
	e.sql.run(context.Background())
	if e.repl != nil {
		e.repl.run(context.Background())
	}
	return e, nil
}

// watchSignals removes the run's containers on SIGINT or SIGTERM, then
// lets the signal do what it would have done.
func (e *Env) watchSignals() {
	ch := make(chan os.Signal, 1)
	e.sigDone = make(chan struct{})
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		defer signal.Stop(ch)
		select {
		case <-e.sigDone:
			return
		case s := <-ch:
			// Stop creating, and remove what exists until nothing is
			// left (a container whose creation was in flight included).
			interrupted.Store(true)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_ = CleanUntilGone(ctx, e.runID)
			cancel()
			if e.ownDir {
				_ = os.RemoveAll(e.workDir)
			}
			signal.Stop(ch)
			if p, err := os.FindProcess(os.Getpid()); err == nil {
				_ = p.Signal(s)
			}
		}
	}()
}

func (e *Env) makeDirs() error {
	e.workDir = e.spec.WorkDir
	if e.workDir == "" {
		d, err := os.MkdirTemp("", workDirPrefix+e.runID+"-")
		if err != nil {
			return fmt.Errorf("work dir: %w", err)
		}
		e.workDir, e.ownDir = d, true
	}
	if err := os.Chmod(e.workDir, 0o755); err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		for _, d := range []string{"", "backup", "incoming", "restore", "control", "s3"} {
			p := filepath.Join(e.workDir, string(r), d)
			if err := os.MkdirAll(p, 0o777); err != nil {
				return fmt.Errorf("work dir: %w", err)
			}
			// The servers in the containers run as their own users.
			if err := os.Chmod(p, 0o777); err != nil {
				return fmt.Errorf("work dir: %w", err)
			}
		}
	}
	return nil
}

func (e *Env) regionLabels(r topology.RegionName, role string) map[string]string {
	l := map[string]string{LabelRole: role}
	for k, v := range e.labels {
		l[k] = v
	}
	if r != "" {
		l[LabelRegion] = string(r)
	}
	return l
}

func (e *Env) makeNetworks(ctx context.Context) error {
	cli, err := docker(ctx)
	if err != nil {
		return err
	}
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		nw, err := tcnetwork.New(ctx, tcnetwork.WithLabels(e.regionLabels(r, "network")))
		if err != nil {
			return fmt.Errorf("network of region %s: %w", r, err)
		}
		e.nets[r] = nw.Name
		e.reg.Add(topology.Target{Kind: topology.TargetNetwork, ID: nw.Name, Name: "network of region " + string(r)})
		res, err := cli.NetworkInspect(ctx, nw.ID, client.NetworkInspectOptions{})
		if err != nil {
			return fmt.Errorf("inspect network of region %s: %w", r, err)
		}
		for _, c := range res.Network.IPAM.Config {
			if c.Gateway.IsValid() && c.Gateway.Is4() {
				e.gateways[r] = c.Gateway.String()
			}
		}
		if e.gateways[r] == "" {
			return fmt.Errorf("network of region %s has no IPv4 gateway", r)
		}
	}
	return nil
}

func (e *Env) name(s string) string { return e.runID + "-" + s }

func (e *Env) track(c *ctr) *ctr {
	if c != nil && c.c != nil {
		e.ctrs = append(e.ctrs, c)
		e.reg.Add(ctrTarget(c))
	}
	return c
}

// startToxiproxy runs the Toxiproxy container on both region networks and
// creates every container-side link: aos-sql-X, aos-blob-X and the WAN
// (log-backup shares, SQL base backups, blob replication).
func (e *Env) startToxiproxy(ctx context.Context) error {
	api, err := freePort()
	if err != nil {
		return err
	}
	ports := map[string]int{"8474/tcp": api}
	published := map[string]int{}
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		for _, base := range []int{portAOSSQL, portAOSBlob, portWANSQL, portWANShare, portWANBlob} {
			hp, err := freePort()
			if err != nil {
				return err
			}
			cp := toxiPort(base, r)
			ports[fmt.Sprintf("%d/tcp", cp)] = hp
			published[fmt.Sprintf("%d", cp)] = hp
		}
	}
	c, err := run(ctx, ctrSpec{
		Name: e.name("toxiproxy"), Image: e.images.Toxiproxy, Labels: e.regionLabels("", "toxiproxy"),
		// Toxiproxy logs every connection at its default level (trace),
		// about ten lines each, written synchronously by its accept loop.
		Env:      map[string]string{"LOG_LEVEL": "warn"},
		Ports:    ports,
		Networks: map[string][]string{e.nets[topology.RegionA]: {"toxiproxy"}, e.nets[topology.RegionB]: {"toxiproxy"}},
		Ready:    httpReady(fmt.Sprintf("http://127.0.0.1:%d/version", api)),
	})
	e.toxiCtr = e.track(c)
	if err != nil {
		return err
	}
	sqlPort := ":5432"
	if e.engine() == EngineSQLServer {
		sqlPort = ":1433"
	}
	e.toxi = &toxi{cli: toxiclient.NewClient(fmt.Sprintf("127.0.0.1:%d", api)), links: map[string]*remoteLink{}, ctr: e.toxiCtr, reg: e.reg}
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		// The share server runs on the host, on the region network's gateway.
		ln, err := net.Listen("tcp", e.gateways[r]+":0")
		if err != nil {
			return fmt.Errorf("share server of region %s: %w", r, err)
		}
		if e.shareLost == nil {
			e.shareLost = map[topology.RegionName]*atomic.Bool{}
		}
		e.shareLost[r] = &atomic.Bool{}
		share := sqlserver.ShareHandler(sqlserver.DirShare{Path: filepath.Join(e.workDir, string(r), "backup")})
		srv := &http.Server{Handler: lostShareGate(r, e.shareLost[r], share), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		e.shares = append(e.shares, srv)
		for _, p := range []struct {
			link, name, kind, upstream string
			port                       int
		}{
			{topology.LinkName(topology.LinkAOSSQL, r), "aos-sql-" + string(r), "sql", "sql-" + string(r) + sqlPort, toxiPort(portAOSSQL, r)},
			{topology.LinkName(topology.LinkAOSBlob, r), "aos-blob-" + string(r), "blob", "s3-" + string(r) + ":9000", toxiPort(portAOSBlob, r)},
			{topology.LinkWAN, "wan-sql-" + string(r), "sql-" + string(r), "sql-" + string(r) + sqlPort, toxiPort(portWANSQL, r)},
			{topology.LinkWAN, "wan-share-" + string(r), "share-" + string(r), ln.Addr().String(), toxiPort(portWANShare, r)},
			{topology.LinkWAN, "wan-blob-" + string(r), "blob-" + string(r), "s3-" + string(r) + ":9000", toxiPort(portWANBlob, r)},
		} {
			host := fmt.Sprintf("127.0.0.1:%d", published[fmt.Sprintf("%d", p.port)])
			if _, err := e.toxi.proxy(p.link, p.name, p.kind, p.upstream, p.port, host); err != nil {
				return err
			}
		}
	}
	e.toxiPublished = published
	return nil
}

func (e *Env) wanHostPort(base int, r topology.RegionName) int {
	return e.toxiPublished[fmt.Sprintf("%d", toxiPort(base, r))]
}

// startBlob starts the blob tier of the spec's engine: MinIO with its own
// bucket replication, or S3 containers with replication done by the harness.
func (e *Env) startBlob(ctx context.Context) error {
	if e.spec.BlobEngine == topology.BlobEngineMinIO {
		return e.startMinIO(ctx)
	}
	return e.startS3(ctx)
}

// startS3 runs an S3 container per region and the harness replication
// from region A to B across the WAN.
func (e *Env) startS3(ctx context.Context) error {
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		hp, err := freePort()
		if err != nil {
			return err
		}
		c, err := run(ctx, ctrSpec{
			Name: e.name("s3-" + string(r)), Image: e.images.S3, Labels: e.regionLabels(r, "blob"),
			Env:      map[string]string{"BCDR_S3_BUCKET": blob.Bucket, "BCDR_S3_REPLICATOR_KEY": e.blobCreds.ReplicatorAccessKey},
			Ports:    map[string]int{"9000/tcp": hp},
			Networks: map[string][]string{e.nets[r]: {"s3-" + string(r)}},
			Ready:    httpReady(fmt.Sprintf("http://127.0.0.1:%d/_bcdr/health", hp)),
		})
		e.track(c)
		if err != nil {
			return err
		}
		e.s3s[r] = &s3Store{region: r, c: c, port: hp, wanPort: e.wanHostPort(portWANBlob, r),
			ready: httpReady(fmt.Sprintf("http://127.0.0.1:%d/_bcdr/health", hp))}
	}
	repl, err := newS3Repl(ctx, e.clk, e.spec, e.s3s, e.blobCreds)
	if err != nil {
		return err
	}
	e.repl = repl
	e.blobRepl, e.blobStop = e.repl, e.repl.close
	return nil
}

// startSQL starts the SQL tier of the spec's engine.
func (e *Env) startSQL(ctx context.Context) error {
	if e.engine() == EngineSQLServer {
		return e.startSQLServer(ctx)
	}
	return e.startPostgres(ctx)
}

// startPostgres runs the PostgreSQL primary in region A, creates and
// migrates the database, then seeds the standby in region B with a base
// backup taken across the WAN and starts log shipping (topology/pgship's
// engine over the two containers).
func (e *Env) startPostgres(ctx context.Context) error {
	e.sql = newSQLTier(nil, appdb.Postgres, nil, nil)
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		hp, err := freePort()
		if err != nil {
			return err
		}
		n := &pgNode{
			region: r, port: hp, dir: filepath.Join(e.workDir, string(r)),
			peerShare: sqlserver.HTTPShare{BaseURL: fmt.Sprintf("http://127.0.0.1:%d", e.wanHostPort(portWANShare, r.Other())),
				Client: &http.Client{Timeout: 30 * time.Second}},
			peerSQL: fmt.Sprintf("toxiproxy %d", toxiPort(portWANSQL, r.Other())),
		}
		if err := n.prepare(); err != nil {
			return err
		}
		e.pgs[r] = n
		e.sql.hostDSN[r] = n.dsn(pgDatabase)
		e.sql.aosDSN[r] = fmt.Sprintf("postgres://postgres@toxiproxy:%d/%s?sslmode=disable&connect_timeout=2", toxiPort(portAOSSQL, r), pgDatabase)
		e.sql.ready[r] = n.ready
	}
	a, b := e.pgs[topology.RegionA], e.pgs[topology.RegionB]
	if err := e.startPG(ctx, a); err != nil {
		return err
	}
	if err := a.query(ctx, 30*time.Second, "CREATE DATABASE "+pgDatabase); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	if err := e.migrate(ctx); err != nil {
		return err
	}
	if err := b.seedStandby(); err != nil {
		return err
	}
	if err := e.startPG(ctx, b); err != nil {
		return err
	}
	floor, err := b.waitStandby(ctx)
	if err != nil {
		return err
	}
	ship, err := pgship.NewShipping(pgship.ShippingConfig{
		Clock: e.clk, Database: pgDatabase,
		BackupInterval: e.spec.LogBackupInterval, CopyInterval: e.spec.LogCopyInterval, RestoreInterval: e.spec.LogRestoreInterval,
		// A planned switch returns once the new primary takes writes; the
		// old primary is rebuilt as its secondary in the background.
		BackgroundRebuild: true,
	}, a, b)
	if err != nil {
		return err
	}
	ship.StartShipping(floor)
	e.sql.LogShipping, e.sql.run, e.sql.close = ship, ship.Run, ship.Close
	return nil
}

func (e *Env) startPG(ctx context.Context, n *pgNode) error {
	c, err := run(ctx, ctrSpec{
		Name: e.name("sql-" + string(n.region)), Image: e.images.Postgres, Labels: e.regionLabels(n.region, "sql"),
		User: "postgres", Cmd: []string{"sh", "-c", pgEntry},
		Ports:    map[string]int{"5432/tcp": n.port},
		Networks: map[string][]string{e.nets[n.region]: {"sql-" + string(n.region)}},
		Binds:    []string{n.dir + ":" + pgShareDir},
		Ready:    n.ready, ReadyTimeout: 120 * time.Second,
	})
	n.c = e.track(c)
	e.sql.ctrs[n.region] = n.c
	return err
}

func (e *Env) db(ctx context.Context, r topology.RegionName) (*sql.DB, error) {
	db, err := sql.Open(string(e.sql.dialect), e.sql.hostDSN[r])
	if err != nil {
		return nil, fmt.Errorf("open sql in region %s: %w", r, err)
	}
	return db, nil
}

// dbOf opens region r's database (PostgreSQL or SQL Server) and names its
// dialect: the same engine code as the local provider's reads it.
func (e *Env) dbOf(ctx context.Context, r topology.RegionName) (*sql.DB, appdb.Dialect, error) {
	db, err := e.db(ctx, r)
	return db, e.sql.dialect, err
}

// s3Addr is region r's bucket (MinIO or the S3 server) as the host reaches it.
func (e *Env) s3Addr(r topology.RegionName) string { return e.s3s[r].addr() }

var (
	_ topology.Fingerprinter = (*Env)(nil)
	_ topology.Tamperer      = (*Env)(nil)
)

func (e *Env) migrate(ctx context.Context) error {
	db, err := e.db(ctx, topology.RegionA)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := appdb.Migrate(ctx, db, e.sql.dialect); err != nil {
		return fmt.Errorf("migrate the finance database: %w", err)
	}
	return nil
}

// startRegion runs the region's AOS containers and its load balancer.
func (e *Env) startRegion(ctx context.Context, r topology.RegionName) (*Region, error) {
	reg := &Region{env: e}
	reg.RegionName = r
	reg.SetUp(true)
	n := e.spec.InstancesPerRegion
	reg.AOS = make([]*Instance, n)
	errs := make([]error, n)
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		hp, err := freePort()
		if err != nil {
			return nil, err
		}
		cfg := aos.Config{Region: string(r), FaultDomain: e.spec.FaultDomainOf(i), Index: i, Listen: ":8080",
			SQLDriver:   string(e.sql.dialect),
			SQLDSN:      e.sql.aosDSN[r],
			S3Endpoint:  fmt.Sprintf("toxiproxy:%d", toxiPort(portAOSBlob, r)),
			S3AccessKey: e.blobCreds.AppAccessKey, S3Secret: e.blobCreds.AppSecret, S3Bucket: blob.Bucket,
			IgnoreLimitedMode: e.spec.AOSIgnoreLimitedMode, RequestTimeout: 3 * time.Second}
		env := map[string]string{}
		for _, kv := range cfg.Env() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		labels := e.regionLabels(r, "aos")
		labels[LabelFD] = itoa(cfg.FaultDomain)
		labels[LabelIndex] = itoa(i)
		spec := ctrSpec{Name: e.name(cfg.ID()), Image: e.images.AOS, Labels: labels, Env: env,
			Ports: map[string]int{"8080/tcp": hp}, Networks: map[string][]string{e.nets[r]: {cfg.ID()}}}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := run(ctx, spec)
			reg.AOS[i] = &Instance{cfg: cfg, c: c, port: hp}
			errs[i] = err
		}(i)
	}
	wg.Wait()
	for _, in := range reg.AOS {
		e.track(in.c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("AOS instances of region %s: %w", r, err)
	}
	var ids, addrs []string
	for _, in := range reg.AOS {
		ids, addrs = append(ids, in.ID()), append(addrs, fmt.Sprintf("127.0.0.1:%d", in.port))
	}
	probe := e.clk.Wall(e.spec.ProbeInterval)
	if probe < 50*time.Millisecond {
		probe = 50 * time.Millisecond
	}
	var err error
	if reg.LB, err = lb.NewBalancer(r, ids, addrs, probe); err != nil {
		return nil, fmt.Errorf("load balancer of region %s: %w", r, err)
	}
	return reg, nil
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
func (e *Env) SQL() topology.LogShipping { return e.sql.LogShipping }

// Blob returns the blob replication.
func (e *Env) Blob() topology.Replication { return e.blobRepl }

// Links returns the named links.
func (e *Env) Links() topology.Links { return e.links }

// BlobCredentials are the run's blob keys (the application's for
// exploratory sessions, bcdr up).
func (e *Env) BlobCredentials() blob.Credentials { return e.blobCreds }

// Snapshot reads region r's surviving data straight from its containers.
func (e *Env) Snapshot(ctx context.Context, r topology.RegionName) (*topology.Snapshot, error) {
	return appdb.Snapshot(ctx, r, func() (*sql.DB, error) { return e.db(ctx, r) }, func(ctx context.Context) (map[string]string, error) {
		return blob.Checksums(ctx, e.s3s[r].addr(), e.blobCreds)
	})
}

// Close removes every container, network and volume of the run, the
// proxies, servers and the work directory. Safe to call more than once.
func (e *Env) Close(ctx context.Context) error {
	e.closeOnce.Do(func() {
		var errs []error
		if e.sigDone != nil {
			close(e.sigDone)
		}
		if e.router != nil {
			e.router.Close()
		}
		for _, r := range e.regions {
			if r.LB != nil {
				r.LB.Close()
			}
		}
		if e.sql.close != nil {
			e.sql.close()
		}
		if e.repl != nil {
			e.repl.close()
		}
		for _, s := range e.shares {
			_ = s.Close()
		}
		e.client.Close()
		cctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		errs = append(errs, CleanUntilGone(cctx, e.runID))
		cancel()
		if e.ownDir && e.workDir != "" {
			// Files written by the servers in the containers belong to their users; root removes them.
			errs = append(errs, os.RemoveAll(e.workDir))
		}
		e.closeErr = errors.Join(errs...)
	})
	return e.closeErr
}

// lostShareGate serves a region's backup share unless the region is lost:
// the share runs on the host, but in a real disaster it goes with the
// region, so nothing it held may reach the other region (even once the WAN
// heals) until the region returns.
func lostShareGate(r topology.RegionName, lost *atomic.Bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if lost.Load() {
			http.Error(w, fmt.Sprintf("region %s is lost: its backup share cannot be read", r), http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, req)
	})
}

// setShareLost marks region r's backup share lost or back.
func (e *Env) setShareLost(r topology.RegionName, lost bool) {
	if b := e.shareLost[r]; b != nil {
		b.Store(lost)
	}
}

// HostPIDs returns the host pid of every running container's init process
// (topology.ProcessRoots): the machine-wait meter reads how long the
// servers inside waited for a CPU.
func (e *Env) HostPIDs(ctx context.Context) []int {
	cli, err := docker(ctx)
	if err != nil {
		return nil
	}
	ctrs := e.ctrs // complete once Up has returned
	var pids []int
	for _, c := range ctrs {
		id := c.ID()
		if id == "" {
			continue
		}
		res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil || res.Container.State == nil || !res.Container.State.Running {
			continue
		}
		if pid := res.Container.State.Pid; pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

var _ topology.ProcessRoots = (*Env)(nil)
