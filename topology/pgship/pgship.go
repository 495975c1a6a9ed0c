// Package pgship is the PostgreSQL 15 engine of the SQL tier: a primary and a
// log-shipping standby behind topology.LogShipping. The engine (Shipping)
// drives two Nodes; Pair runs them as local processes, and
// topology/containers gives it PostgreSQL containers.
//
// Log shipping is done the way the modelled product does it, as three jobs on
// a schedule rather than streaming replication:
//
//   - log backup: pg_switch_wal() on the primary; its archive_command puts the
//     completed WAL segment into the region's archive directory;
//   - copy: every archived file not yet copied is brought across the WAN
//     into the secondary's incoming directory (Node.Fetch: a Pair uploads it
//     through Config.WANDial to the secondary region's share server, so a
//     faulted link makes copies fail; a container node downloads it from
//     the primary region's share server behind the WAN proxy);
//   - restore: files are moved from the share into the standby's restore
//     staging directory, from which its restore_command replays them.
//
// For a Pair, each region has a directory under Config.WorkDir holding data (the cluster),
// archive (the primary's log backups), share (incoming copies), restore (the
// standby's staging) and run (scripts, server log). Servers bind 127.0.0.1
// only, use no unix sockets, and run as the OS user postgres when the
// harness runs as root. Every postgres process is a descendant of the
// harness, killed with it (Pdeathsig) and by Close; nothing outlives a Pair.
package pgship

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/ports"
)

// Config configures a Pair.
type Config struct {
	// BinDir holds the PostgreSQL server binaries ("" = `pg_config --bindir`,
	// falling back to /usr/lib/postgresql/15/bin).
	BinDir string
	// WorkDir is the root directory; a subdirectory per region is created in
	// it. The caller owns it: Close does not delete it.
	WorkDir string
	// Clock is the service-time schedule for Run (nil = real time).
	Clock *clock.Clock
	// Primary and Secondary are the initial roles (default a and b).
	Primary, Secondary topology.RegionName
	// Database is the application database (default "finance").
	Database string
	// BackupInterval, CopyInterval and RestoreInterval are the jobs' periods
	// in service time (defaults 5m, 1m, 1m).
	BackupInterval, CopyInterval, RestoreInterval time.Duration
	// WANDial returns the address (host:port) through which region `from`
	// reaches region `to`'s share server (kind "share") or SQL server (kind
	// "sql") across the WAN link. It is called at every copy and every
	// resync. nil means the direct addresses.
	WANDial func(kind string, to topology.RegionName) string
	// Logf receives progress and job failures (optional).
	Logf func(format string, args ...any)
	// MaxConnections is each server's max_connections (default 100).
	MaxConnections int
	// BackgroundRebuild makes Switchover return as soon as the new primary
	// takes writes, and rebuild the old primary as its secondary (a base
	// backup, about a second) in the background: the write interruption of
	// a failback then excludes the rebuild. Status.Shipping is false until
	// it is done; Resync waits for it. SQL Server needs no rebuild (the
	// tail-log backup WITH NORECOVERY leaves the old primary restoring), so
	// this is closer to the modelled product's timing.
	BackgroundRebuild bool
	// OnProcess is told each postmaster started, with its region and pid
	// (the environment records its processes for the blast-radius guard).
	OnProcess func(region topology.RegionName, pid int)
}

// Role names used in the app DSN and for replication.
const (
	appRole   = "bcdr_app"
	replRole  = "bcdr_repl"
	superRole = "postgres"
)

// Pair is a PostgreSQL primary with a log-shipping standby, both local
// processes: the engine (Shipping) over two local nodes, plus what only a
// local pair does (start, kill, addresses, a full log share).
type Pair struct {
	*Shipping
	cfg  Config
	logf func(string, ...any)
	bin  string
	user osUser
	id   string
	pw   struct{ super, app, repl string }
	http *http.Client

	regions map[topology.RegionName]*region
}

// region is one region's local server and directories; it is the engine's
// Node.
type region struct {
	p                                       *Pair
	name                                    topology.RegionName
	dir, data, archive, share, restore, run string
	port                                    int
	srv                                     *server
	shareSrv                                *shareServer
}

var _ topology.LogShipping = (*Pair)(nil)

// New builds the pair: Prepare, then Bootstrap. On error everything
// already started is released.
func New(ctx context.Context, cfg Config) (*Pair, error) {
	p, err := Prepare(cfg)
	if err != nil {
		return nil, err
	}
	if err := p.Bootstrap(ctx); err != nil {
		_ = p.Close()
		return nil, err
	}
	return p, nil
}

// Prepare makes the pair's directories and scripts, starts a share server
// per region and chooses each region's SQL port, and starts no database:
// from here on SQLAddr and DSN are known, so that what connects to the
// servers can be started while Bootstrap brings them up. On error
// everything already started is released; otherwise the caller releases
// the pair with Close, whether or not Bootstrap ran.
func Prepare(cfg Config) (p *Pair, err error) {
	if cfg.WorkDir == "" {
		return nil, errors.New("pgship: Config.WorkDir is required")
	}
	if cfg.Primary == "" {
		cfg.Primary = topology.RegionA
	}
	if cfg.Secondary == "" {
		cfg.Secondary = cfg.Primary.Other()
	}
	if cfg.Primary == cfg.Secondary {
		return nil, fmt.Errorf("pgship: primary and secondary are both region %s", cfg.Primary)
	}
	if cfg.Database == "" {
		cfg.Database = "finance"
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 100
	}
	p = &Pair{
		cfg:     cfg,
		logf:    cfg.Logf,
		regions: map[topology.RegionName]*region{},
		http:    &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}},
	}
	if p.logf == nil {
		p.logf = func(string, ...any) {}
	}
	// The regions' paths are known before anything starts: the engine is
	// built first, so that Close releases whatever a failed New started.
	for _, name := range []topology.RegionName{cfg.Primary, cfg.Secondary} {
		abs, err := filepath.Abs(filepath.Join(cfg.WorkDir, string(name)))
		if err != nil {
			return nil, err
		}
		p.regions[name] = &region{p: p, name: name, dir: abs,
			data:    filepath.Join(abs, "data"),
			archive: filepath.Join(abs, "archive"),
			share:   filepath.Join(abs, "share"),
			restore: filepath.Join(abs, "restore"),
			run:     filepath.Join(abs, "run"),
		}
	}
	if p.Shipping, err = NewShipping(ShippingConfig{
		Clock: cfg.Clock, Database: cfg.Database, Logf: p.logf, BackgroundRebuild: cfg.BackgroundRebuild,
		BackupInterval: cfg.BackupInterval, CopyInterval: cfg.CopyInterval, RestoreInterval: cfg.RestoreInterval,
	}, p.regions[cfg.Primary], p.regions[cfg.Secondary]); err != nil {
		return nil, err
	}
	p.id = randomHex(3)
	p.pw.super, p.pw.app, p.pw.repl = randomHex(12), randomHex(12), randomHex(12)
	defer func() {
		if err != nil {
			_ = p.Close()
			p = nil
		}
	}()

	if p.bin, err = findBinDir(cfg.BinDir); err != nil {
		return p, err
	}
	if p.user, err = lookupOSUser(); err != nil {
		return p, err
	}
	uid := p.user.uid
	if uid < 0 {
		uid = os.Getuid()
	}
	if n := sweepOrphanedShm(uid); n > 0 {
		p.logf("pgship: removed %d shared memory interlock segment(s) left by postgres servers killed without cleanup", n)
	}
	if err = os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return p, fmt.Errorf("create work dir: %w", err)
	}
	if err = os.Chmod(cfg.WorkDir, 0o755); err != nil {
		return p, err
	}
	if err = p.user.ensureTraversable(cfg.WorkDir, p.logf); err != nil {
		return p, err
	}
	for _, name := range []topology.RegionName{cfg.Primary, cfg.Secondary} {
		if err := p.newRegion(p.regions[name]); err != nil {
			return p, fmt.Errorf("region %s: %w", name, err)
		}
	}
	return p, nil
}

// Bootstrap brings a prepared pair up: initdb and start the primary, create
// the database and roles, base-backup the secondary, start it as a standby
// and start shipping. On error the caller closes the pair.
func (p *Pair) Bootstrap(ctx context.Context) error {
	cfg := p.cfg
	prim := p.regions[cfg.Primary]
	if err := p.initPrimary(ctx, prim); err != nil {
		return fmt.Errorf("region %s: %w", prim.name, err)
	}
	floor, err := p.rebuildStandby(ctx, p.regions[cfg.Secondary], p.SQLAddr(cfg.Primary))
	if err != nil {
		return fmt.Errorf("region %s: %w", cfg.Secondary, err)
	}
	p.StartShipping(floor)
	p.logf("pgship: primary %s on %s, standby %s on %s", cfg.Primary, p.SQLAddr(cfg.Primary), cfg.Secondary, p.SQLAddr(cfg.Secondary))
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// findBinDir locates the PostgreSQL server binaries.
func findBinDir(dir string) (string, error) {
	if dir == "" {
		if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
			d := strings.TrimSpace(string(out))
			if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
				dir = d
			}
		}
	}
	if dir == "" {
		dir = "/usr/lib/postgresql/15/bin"
	}
	for _, b := range []string{"postgres", "initdb", "pg_basebackup"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("pgship: PostgreSQL binary %s not found in %s (install postgresql-15 or set Config.BinDir)", b, dir)
		}
	}
	return dir, nil
}

// BinDirAvailable reports whether PostgreSQL server binaries can be found
// (for tests and providers that want to skip).
func BinDirAvailable(dir string) error {
	_, err := findBinDir(dir)
	return err
}

// freePort finds a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	// Below the ephemeral range: a crashed server restarts on its port.
	return ports.Port()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// newRegion creates a region's directories, scripts and share server, and
// chooses its SQL port.
func (p *Pair) newRegion(r *region) (err error) {
	name := r.name
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(r.dir, 0o755); err != nil {
		return err
	}
	for _, d := range []string{r.archive, r.share, r.restore, r.run} {
		if err := p.user.mkdir(d, 0o755); err != nil {
			return err
		}
	}
	archiveScript := "#!/bin/sh\n# archive_command of region " + string(name) + ": copy a completed WAL file into the log backup dir.\n" +
		"set -e\ntmp=" + shellQuote(r.archive) + "/.tmp-\"$2\"\ncp \"$1\" \"$tmp\"\nmv -f \"$tmp\" " + shellQuote(r.archive) + "/\"$2\"\n"
	restoreScript := RestoreScript(name, r.restore, r.missFile())
	for file, body := range map[string]string{"archive.sh": archiveScript, "restore.sh": restoreScript} {
		if err := os.WriteFile(filepath.Join(r.run, file), []byte(body), 0o755); err != nil {
			return err
		}
	}
	if r.shareSrv, err = startShareServer(r.share); err != nil {
		return err
	}
	if r.port, err = freePort(); err != nil {
		return err
	}
	r.srv = &server{
		name:    string(name),
		bin:     filepath.Join(p.bin, "postgres"),
		dataDir: r.data,
		logPath: filepath.Join(r.run, "postgres.log"),
		env:     []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"},
		user:    p.user,
		onStart: func(pid int) {
			if p.cfg.OnProcess != nil {
				p.cfg.OnProcess(name, pid)
			}
		},
		args: []string{
			"-c", "port=" + strconv.Itoa(r.port),
			"-c", "listen_addresses=127.0.0.1",
			"-c", "unix_socket_directories=",
			// Dynamic shared memory as files in the data directory, not in
			// /dev/shm: a server a drill kills (a region outage, a run
			// ended by a panic or a signal) leaves its segments behind, and
			// in the data directory they go with the run's work directory.
			"-c", "dynamic_shared_memory_type=mmap",
			"-c", "cluster_name=bcdr-" + p.id + "-" + string(name),
			"-c", "archive_command=" + shellQuote(filepath.Join(r.run, "archive.sh")) + ` "%p" "%f"`,
			"-c", "restore_command=" + shellQuote(filepath.Join(r.run, "restore.sh")) + ` "%f" "%p"`,
		},
	}
	return nil
}

func (r *region) missFile() string { return filepath.Join(r.run, "restore-miss") }

func (r *region) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// serverConf is appended to postgresql.conf after initdb; base backups carry
// it to the standby. Region-specific settings are on the command line.
func (p *Pair) serverConf() string {
	return fmt.Sprintf(`
# --- pgship ---
wal_level = replica
archive_mode = on
max_wal_senders = 10
wal_keep_size = 64MB
hot_standby = on
track_commit_timestamp = on
wal_log_hints = on
wal_retrieve_retry_interval = 50ms
fsync = off
full_page_writes = on
shared_buffers = 32MB
max_connections = %d
dynamic_shared_memory_type = mmap
min_wal_size = 8MB
max_wal_size = 256MB
password_encryption = scram-sha-256
logging_collector = off
log_line_prefix = '%%m [%%p] '
`, p.cfg.MaxConnections)
}

const hbaConf = `# pgship: TCP on 127.0.0.1 only, passwords (scram-sha-256)
local all all trust
host all all 127.0.0.1/32 scram-sha-256
host replication all 127.0.0.1/32 scram-sha-256
`

// initPrimary runs initdb, configures and starts the primary, and creates
// the roles and the application database.
func (p *Pair) initPrimary(ctx context.Context, r *region) error {
	if err := p.user.mkdir(r.data, 0o700); err != nil {
		return err
	}
	key := p.bin + "\x00" + p.serverConf()
	newPW := p.pw.super
	if t := loadTemplate(key); t != nil {
		if err := t.extract(r.data, p.user); err != nil {
			return fmt.Errorf("copy cluster template: %w", err)
		}
		p.pw.super = t.superPW // until changed below
	} else if err := p.initdb(ctx, r); err != nil {
		return err
	} else if err := saveTemplate(key, p.pw.super, r.data); err != nil {
		p.logf("pgship: cannot keep a cluster template (every pair will run initdb): %v", err)
	}
	if err := p.startServer(ctx, r); err != nil {
		return err
	}
	conn, err := p.admin(ctx, r)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	db := pgx.Identifier{p.cfg.Database}.Sanitize()
	for _, q := range []string{
		fmt.Sprintf("ALTER ROLE %s PASSWORD '%s'", superRole, newPW),
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", appRole, p.pw.app),
		fmt.Sprintf("CREATE ROLE %s LOGIN REPLICATION PASSWORD '%s'", replRole, p.pw.repl),
		fmt.Sprintf("CREATE DATABASE %s OWNER %s", db, appRole),
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("set up roles and database: %w", err)
		}
	}
	p.pw.super = newPW
	return nil
}

// initdb creates and configures the primary's cluster (not started).
func (p *Pair) initdb(ctx context.Context, r *region) error {
	pwfile := filepath.Join(r.run, "initdb-pw")
	if err := os.WriteFile(pwfile, []byte(p.pw.super+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	if err := p.user.chown(pwfile); err != nil {
		return err
	}
	ctx, stop := p.withLife(ctx)
	defer stop()
	if err := p.user.runTool(ctx, r.dir, r.srv.env, filepath.Join(p.bin, "initdb"),
		"-D", r.data, "-U", superRole, "--pwfile="+pwfile, "--auth-local=trust", "--auth-host=scram-sha-256",
		"-E", "UTF8", "--locale=C", "--wal-segsize=1", "--no-sync", "--no-instructions"); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(r.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(p.serverConf())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.data, "pg_hba.conf"), []byte(hbaConf), 0o600); err != nil {
		return err
	}
	return p.user.chown(filepath.Join(r.data, "pg_hba.conf"))
}

// rebuildStandby replaces region r's cluster with a fresh base backup of the
// primary reachable at addr and starts it as a log-shipping standby (no
// streaming: it only replays what reaches its restore staging dir). It
// returns the first segment the standby needs from log shipping.
func (p *Pair) rebuildStandby(ctx context.Context, r *region, addr string) (uint64, error) {
	if err := r.srv.kill(); err != nil {
		return 0, err
	}
	for _, d := range []string{r.data, r.archive, r.share, r.restore} {
		if err := os.RemoveAll(d); err != nil {
			return 0, fmt.Errorf("clear %s: %w", d, err)
		}
	}
	_ = os.Remove(r.missFile())
	for _, d := range []string{r.archive, r.share, r.restore} {
		if err := p.user.mkdir(d, 0o755); err != nil {
			return 0, err
		}
	}
	if err := p.user.mkdir(r.data, 0o700); err != nil {
		return 0, err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("base backup source address %q: %w", addr, err)
	}
	env := append(append([]string{}, r.srv.env...), "PGPASSWORD="+p.pw.repl, "PGCONNECT_TIMEOUT=5")
	bctx, cancel := withDefaultDeadline(ctx, baseBackupWait)
	defer cancel()
	bctx, stop := p.withLife(bctx)
	defer stop()
	if err := p.user.runTool(bctx, r.dir, env, filepath.Join(p.bin, "pg_basebackup"),
		"-D", r.data, "-h", host, "-p", port, "-U", replRole, "-w",
		"-X", "stream", "-c", "fast", "--no-sync", "--no-manifest"); err != nil {
		return 0, fmt.Errorf("base backup from %s: %w", addr, err)
	}
	floor, err := backupStartSeg(r.data)
	if err != nil {
		return 0, err
	}
	signal := filepath.Join(r.data, "standby.signal")
	if err := os.WriteFile(signal, nil, 0o600); err != nil {
		return 0, err
	}
	if err := p.user.chown(signal); err != nil {
		return 0, err
	}
	if err := p.startServer(ctx, r); err != nil {
		return 0, err
	}
	return floor, nil
}

// baseBackupWait bounds a base backup when the caller's context has no
// deadline (a stalled WAN link must not hang a resync forever).
const baseBackupWait = 5 * time.Minute

// backupStartSeg reads the first WAL segment a base backup needs from its
// backup_label.
func backupStartSeg(dataDir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "backup_label"))
	if err != nil {
		return 0, fmt.Errorf("read backup_label: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "START WAL LOCATION: "); ok {
			lsn, err := parseLSN(strings.Fields(rest)[0])
			if err != nil {
				return 0, err
			}
			return segOf(lsn), nil
		}
	}
	return 0, errors.New("backup_label has no START WAL LOCATION")
}

// startServer starts region r's postmaster and waits until it accepts
// connections.
func (p *Pair) startServer(ctx context.Context, r *region) error {
	if err := r.srv.start(); err != nil {
		return err
	}
	return p.waitReady(ctx, r)
}

// waitReady polls until the server accepts a superuser connection.
func (p *Pair) waitReady(ctx context.Context, r *region) error {
	ctx, cancel := withDefaultDeadline(ctx, 60*time.Second)
	defer cancel()
	exited := r.srv.exited()
	var lastErr error
	for {
		select {
		case <-exited:
			r.srv.logFlushed()
			return fmt.Errorf("postgres of region %s exited during start-up: %s", r.name, r.LogTail())
		default:
		}
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := p.admin(cctx, r)
		ccancel()
		if err == nil {
			_ = conn.Close(context.Background())
			return nil
		}
		lastErr = err
		if err := sleepCtx(ctx, 25*time.Millisecond); err != nil {
			return fmt.Errorf("postgres of region %s not ready: %v (last: %v): %s", r.name, err, lastErr, r.LogTail())
		}
	}
}

// LogTail implements Node.
func (r *region) LogTail() string {
	b, err := os.ReadFile(r.srv.logPath)
	if err != nil {
		return "(no server log)"
	}
	return lastLines(string(b), 5)
}

// withLife returns a context that also ends when the pair is closed, so
// that Close stops a client program (initdb, pg_basebackup) under way.
func (p *Pair) withLife(ctx context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(p.life, cancel)
	return c, func() { stop(); cancel() }
}

// withDefaultDeadline bounds ctx by d when it has no deadline of its own.
func withDefaultDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// connString is a key/value conninfo for pgx.
func connString(addr, user, password, db string) string {
	host, port, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=%s sslmode=disable connect_timeout=5", host, port, user, password, db)
}

// admin opens a superuser connection to region r's server (database postgres).
func (p *Pair) admin(ctx context.Context, r *region) (*pgx.Conn, error) {
	return pgx.Connect(ctx, connString(r.addr(), superRole, p.pw.super, "postgres"))
}

// ShareAddr is the direct address of region r's share server.
func (p *Pair) ShareAddr(r topology.RegionName) string {
	if reg := p.regions[r]; reg != nil && reg.shareSrv != nil {
		return reg.shareSrv.addr()
	}
	return ""
}

// SQLAddr is the direct host:port of region r's PostgreSQL server. It does
// not change across restarts, failovers and resyncs.
func (p *Pair) SQLAddr(r topology.RegionName) string {
	if reg := p.regions[r]; reg != nil {
		return reg.addr()
	}
	return ""
}

// DSN is a pgx connection string for the application database at addr, as
// the application role (which owns the database).
func (p *Pair) DSN(addr string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", appRole, p.pw.app, addr, p.cfg.Database)
}

// Kill crashes region r's PostgreSQL server: the postmaster and all its
// processes get SIGKILL. Start brings it back in whatever role it has.
func (p *Pair) Kill(r topology.RegionName) error {
	reg := p.regions[r]
	if reg == nil {
		return fmt.Errorf("pgship: no region %q", r)
	}
	err := reg.srv.kill()
	p.CloseStat(r)
	if err == nil {
		p.logf("pgship: killed postgres of region %s", r)
	}
	return err
}

// Start restarts region r's PostgreSQL server in place (a primary comes back
// as a primary, a standby as a standby) and waits until it accepts
// connections. It is a no-op when the server is running.
func (p *Pair) Start(ctx context.Context, r topology.RegionName) error {
	reg := p.regions[r]
	if reg == nil {
		return fmt.Errorf("pgship: no region %q", r)
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return errClosed
	}
	if err := p.startServer(ctx, reg); err != nil {
		return fmt.Errorf("start region %s: %w", r, err)
	}
	return nil
}

// Running reports whether region r's PostgreSQL server process is alive.
func (p *Pair) Running(r topology.RegionName) bool {
	reg := p.regions[r]
	return reg != nil && reg.srv != nil && reg.srv.running()
}

// Close kills both servers, stops the jobs and the share servers. It is
// idempotent and leaves WorkDir in place.
func (p *Pair) Close() error {
	if p.Shipping != nil && !p.stop() {
		return nil
	}
	var errs []error
	for _, r := range p.regions {
		if r.srv != nil {
			if err := r.srv.shutdown(); err != nil {
				errs = append(errs, err)
			}
		}
		if r.shareSrv != nil {
			r.shareSrv.close()
		}
	}
	if p.Shipping != nil {
		p.wait()
	}
	return errors.Join(errs...)
}

// Postmaster is the pid of region r's running postmaster (0 when none).
func (p *Pair) Postmaster(r topology.RegionName) int {
	if reg := p.regions[r]; reg != nil && reg.srv != nil {
		return reg.srv.postmaster()
	}
	return 0
}

// pids lists the live processes of both servers (for tests).
func (p *Pair) pids() []int {
	var out []int
	for _, r := range p.regions {
		if r.srv != nil {
			out = append(out, r.srv.pids()...)
		}
	}
	return out
}
