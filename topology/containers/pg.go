package containers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/sqlserver"
)

// PostgreSQL log shipping between two containers, the SQL engine of the
// containers provider on hosts without SQL Server: WAL archiving into the
// region's backup directory is the log backup (pg_switch_wal on the
// schedule); the copy job fetches archived segments across the WAN (the
// Toxiproxy container in front of the other region's share server) into the
// incoming directory; the restore job moves them where the standby's
// restore_command reads them. Failover promotes with pg_promote; resync and
// the old primary after a switchover are rebuilt with pg_basebackup from the
// new primary, across the WAN.

const (
	pgDataDir  = "/var/lib/postgresql/data"
	pgShareDir = "/bcdr" // host directory per region: backup, incoming, restore, control
	segSize    = 1 << 20 // initdb --wal-segsize=1
	pgDatabase = "finance"
)

// pgEntry is the container's command: initdb (or, when told, a base backup
// from the peer across the WAN) on first start, then postgres.
const pgEntry = `set -e
D=` + pgDataDir + `
if [ -f /bcdr/control/rebuild ]; then rm -rf "$D"/* "$D"/.[!.]* 2>/dev/null || true; rm -f /bcdr/control/rebuild; fi
if [ ! -s "$D/PG_VERSION" ]; then
  mkdir -p "$D"; chmod 700 "$D"
  if [ -f /bcdr/control/standby-of ]; then
    read H P < /bcdr/control/standby-of
    n=0
    until pg_basebackup -h "$H" -p "$P" -U postgres -D "$D" -X stream -c fast; do
      n=$((n+1)); [ $n -lt 60 ] || exit 1; rm -rf "$D"/*; sleep 0.5
    done
    touch "$D/standby.signal"
  else
    initdb -D "$D" -U postgres --auth=trust --wal-segsize=1 >/dev/null
    echo "host all all 0.0.0.0/0 trust" >> "$D/pg_hba.conf"
    echo "host replication all 0.0.0.0/0 trust" >> "$D/pg_hba.conf"
  fi
fi
# fsync=off: a container kill keeps the kernel's page cache, so nothing
# acknowledged is lost to it, and two cores stay free for the drill.
exec postgres -D "$D" -c listen_addresses='*' -c wal_level=replica -c archive_mode=on \
  -c "archive_command=cp %p /bcdr/backup/%f.part && mv -f /bcdr/backup/%f.part /bcdr/backup/%f" \
  -c "restore_command=cp /bcdr/restore/%f %p" -c wal_retrieve_retry_interval=50ms \
  -c track_commit_timestamp=on -c fsync=off -c max_connections=200 -c hot_standby=on
`

// pgNode is one region's PostgreSQL container and directories.
type pgNode struct {
	region topology.RegionName
	c      *ctr
	port   int    // published loopback port
	dir    string // host directory mounted at /bcdr
	// peerShare is the other region's backup directory, read across the WAN.
	peerShare sqlserver.Share
	// wanSQL is this server as the other region's container reaches it
	// across the WAN ("toxiproxy <port>").
	wanSQL string
}

func (n *pgNode) sub(s string) string { return filepath.Join(n.dir, s) }

func (n *pgNode) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=2", n.port, db)
}

func (n *pgNode) connect(ctx context.Context) (*pgx.Conn, error) {
	return pgx.Connect(ctx, n.dsn("postgres"))
}

// query runs one statement on the node with a short deadline.
func (n *pgNode) query(ctx context.Context, timeout time.Duration, q string, dest ...any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := n.connect(ctx)
	if err != nil {
		return fmt.Errorf("connect to sql in region %s: %w", n.region, err)
	}
	defer conn.Close(context.Background())
	if len(dest) == 0 {
		_, err = conn.Exec(ctx, q)
	} else {
		err = conn.QueryRow(ctx, q).Scan(dest...)
	}
	if err != nil {
		return fmt.Errorf("sql in region %s: %w", n.region, err)
	}
	return nil
}

func (n *pgNode) ready(ctx context.Context) error {
	var one int
	return n.query(ctx, 2*time.Second, "SELECT 1", &one)
}

// pgMark is one log backup: where the WAL was switched and the newest
// commit before it.
type pgMark struct {
	lsn    uint64
	commit time.Time
}

// pgPair implements topology.LogShipping over two PostgreSQL containers.
type pgPair struct {
	clk   *clock.Clock
	nodes map[topology.RegionName]*pgNode
	spec  topology.Spec

	jobMu sync.Mutex // serialises jobs and role changes

	mu                 sync.Mutex
	primary, secondary topology.RegionName
	shipping           bool
	floor              string // copy only WAL segments named after this
	marks              []pgMark
	backup, copy, rest topology.Position
	primaryLast        topology.Position
	backupErr, copyErr int
	stop               context.CancelFunc
	life               context.Context // the jobs' context, ended by close
	wg                 sync.WaitGroup
	costs              topology.JobCosts
}

var _ topology.LogShipping = (*pgPair)(nil)

func (p *pgPair) Engine() string { return "postgres" }

func (p *pgPair) roles() (pri, sec *pgNode, shipping bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nodes[p.primary], p.nodes[p.secondary], p.shipping
}

// walName parses a WAL segment file name into timeline and segment number.
func walName(name string) (tli uint32, seg uint64, ok bool) {
	if len(name) != 24 {
		return 0, 0, false
	}
	for _, c := range name {
		if !strings.ContainsRune("0123456789ABCDEF", c) {
			return 0, 0, false
		}
	}
	t, _ := strconv.ParseUint(name[:8], 16, 32)
	hi, _ := strconv.ParseUint(name[8:16], 16, 32)
	lo, _ := strconv.ParseUint(name[16:], 16, 32)
	// With 1 MiB segments there are 4096 segments per "log" file id.
	return uint32(t), hi*(0x100000000/segSize) + lo, true
}

func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("parse LSN %q", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("parse LSN %q: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("parse LSN %q: %w", s, err)
	}
	return h<<32 | l, nil
}

func fmtLSN(v uint64) string { return fmt.Sprintf("%X/%X", v>>32, v&0xFFFFFFFF) }

// commitBefore is the newest commit time of a log backup at or before lsn.
func (p *pgPair) commitBefore(lsn uint64) time.Time {
	var t time.Time
	for _, m := range p.marks {
		if m.lsn <= lsn && m.commit.After(t) {
			t = m.commit
		}
	}
	return t
}

// BackupLog switches the primary's WAL: the finished segment is archived
// into the region's backup directory by archive_command.
func (p *pgPair) BackupLog(ctx context.Context) error {
	p.jobMu.Lock()
	defer p.jobMu.Unlock()
	pri, _, _ := p.roles()
	if err := p.backupLocked(ctx, pri); err != nil {
		p.mu.Lock()
		p.backupErr++
		p.mu.Unlock()
		return err
	}
	return nil
}

func (p *pgPair) backupLocked(ctx context.Context, pri *pgNode) error {
	var commit *time.Time
	var lsn string
	err := pri.query(ctx, 5*time.Second, "SELECT (pg_last_committed_xact()).timestamp, pg_switch_wal()::text", &commit, &lsn)
	if err != nil {
		return fmt.Errorf("log backup (pg_switch_wal) in region %s: %w", pri.region, err)
	}
	v, err := parseLSN(lsn)
	if err != nil {
		return err
	}
	m := pgMark{lsn: v}
	if commit != nil {
		m.commit = *commit
	}
	p.mu.Lock()
	p.marks = append(p.marks, m)
	if len(p.marks) > 10000 {
		p.marks = p.marks[len(p.marks)-10000:]
	}
	p.mu.Unlock()
	return nil
}

// CopyLogs copies the archived WAL the secondary lacks across the WAN.
func (p *pgPair) CopyLogs(ctx context.Context) error {
	p.jobMu.Lock()
	defer p.jobMu.Unlock()
	err := p.copyLocked(ctx)
	if err != nil {
		p.mu.Lock()
		p.copyErr++
		p.mu.Unlock()
	}
	return err
}

func (p *pgPair) copyLocked(ctx context.Context) error {
	_, sec, shipping := p.roles()
	if !shipping {
		return nil
	}
	p.mu.Lock()
	floor := p.floor
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	names, err := sec.peerShare.List(ctx)
	if err != nil {
		return fmt.Errorf("list WAL archive of the primary across the WAN: %w", err)
	}
	have := map[string]bool{}
	for _, d := range []string{"incoming", "restore"} {
		ents, _ := os.ReadDir(sec.sub(d))
		for _, e := range ents {
			have[e.Name()] = true
		}
	}
	incoming := sqlserver.DirShare{Path: sec.sub("incoming")}
	for _, name := range names {
		_, seg, isSeg := walName(name)
		history := strings.HasSuffix(name, ".history")
		if (!isSeg && !history) || have[name] || (isSeg && name <= floor) {
			continue
		}
		r, err := sec.peerShare.Open(ctx, name)
		if err != nil {
			return fmt.Errorf("copy %s across the WAN: %w", name, err)
		}
		err = incoming.Put(ctx, name, r)
		r.Close()
		if err != nil {
			return fmt.Errorf("copy %s across the WAN: %w", name, err)
		}
		if isSeg {
			end := (seg + 1) * segSize
			p.mu.Lock()
			if end > p.copy.Seq {
				p.copy = topology.Position{LSN: fmtLSN(end), Seq: end, CommitTime: p.commitBefore(end), At: time.Now()}
			}
			p.mu.Unlock()
		}
	}
	return nil
}

// RestoreLogs hands every copied file to the standby's restore_command.
func (p *pgPair) RestoreLogs(ctx context.Context) error {
	p.jobMu.Lock()
	defer p.jobMu.Unlock()
	_, sec, shipping := p.roles()
	if !shipping {
		return nil
	}
	if err := moveAll(sec.sub("incoming"), sec.sub("restore")); err != nil {
		return fmt.Errorf("restore logs in region %s: %w", sec.region, err)
	}
	p.refreshRestore(ctx, sec)
	return nil
}

func moveAll(from, to string) error {
	ents, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if err := os.Rename(filepath.Join(from, n), filepath.Join(to, n)); err != nil {
			return err
		}
	}
	return nil
}

// refreshRestore reads the standby's replay position.
func (p *pgPair) refreshRestore(ctx context.Context, sec *pgNode) {
	var lsn *string
	var ts *time.Time
	if err := sec.query(ctx, 2*time.Second, "SELECT pg_last_wal_replay_lsn()::text, pg_last_xact_replay_timestamp()", &lsn, &ts); err != nil || lsn == nil {
		return
	}
	v, err := parseLSN(*lsn)
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if v >= p.rest.Seq {
		pos := topology.Position{LSN: *lsn, Seq: v, At: time.Now(), CommitTime: p.rest.CommitTime}
		if ts != nil {
			pos.CommitTime = *ts
		}
		p.rest = pos
	}
}

// refreshPrimary reads the primary's archiver (the newest log backup) and
// its newest commit.
func (p *pgPair) refreshPrimary(ctx context.Context, pri *pgNode) {
	var archived *string
	var at, commit *time.Time
	var insert string
	err := pri.query(ctx, 2*time.Second, `SELECT last_archived_wal, last_archived_time, (pg_last_committed_xact()).timestamp, pg_current_wal_insert_lsn()::text FROM pg_stat_archiver`, &archived, &at, &commit, &insert)
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if archived != nil {
		if _, seg, ok := walName(*archived); ok {
			end := (seg + 1) * segSize
			if end >= p.backup.Seq {
				pos := topology.Position{LSN: fmtLSN(end), Seq: end, CommitTime: p.commitBefore(end)}
				if at != nil {
					pos.At = *at
				}
				p.backup = pos
			}
		}
	}
	if commit == nil {
		return
	}
	// The newest commit is in a log backup when it is older than the last
	// switch; otherwise it lies beyond every backup, at the insert position.
	var last pgMark
	if len(p.marks) > 0 {
		last = p.marks[len(p.marks)-1]
	}
	pos := topology.Position{CommitTime: *commit, At: time.Now()}
	if last.lsn > 0 && !commit.After(last.commit) {
		pos.Seq = last.lsn
	} else if v, err := parseLSN(insert); err == nil {
		pos.Seq = v
	}
	pos.LSN = fmtLSN(pos.Seq)
	p.primaryLast = pos
}

// Status reads positions from the servers; a server that does not answer
// leaves its last known positions.
func (p *pgPair) Status(ctx context.Context) (topology.ShippingStatus, error) {
	pri, sec, _ := p.roles()
	p.refreshPrimary(ctx, pri)
	p.refreshRestore(ctx, sec)
	p.mu.Lock()
	defer p.mu.Unlock()
	return topology.ShippingStatus{
		Primary: p.primary, Secondary: p.secondary, Shipping: p.shipping,
		Backup: p.backup, Copy: p.copy, Restore: p.rest, PrimaryLast: p.primaryLast, JobWall: p.costs.Worst(),
		BackupErrors: p.backupErr, CopyErrors: p.copyErr,
	}, nil
}

// waitReplayStable moves what arrived to the standby and waits until its
// replay position stops moving (every restorable segment applied).
func (p *pgPair) waitReplayStable(ctx context.Context, sec *pgNode) error {
	if err := moveAll(sec.sub("incoming"), sec.sub("restore")); err != nil {
		return fmt.Errorf("move copied logs in region %s: %w", sec.region, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	var last string
	stable := 0
	for time.Now().Before(deadline) {
		var lsn *string
		if err := sec.query(ctx, 2*time.Second, "SELECT pg_last_wal_replay_lsn()::text", &lsn); err != nil {
			return err
		}
		cur := ""
		if lsn != nil {
			cur = *lsn
		}
		if cur == last {
			stable++
			if stable >= 5 {
				return nil
			}
		} else {
			stable, last = 0, cur
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("standby in region %s still replaying after 60s", sec.region)
}

// promote brings the standby online as a primary.
func (p *pgPair) promote(ctx context.Context, sec *pgNode) error {
	var ok bool
	if err := sec.query(ctx, 70*time.Second, "SELECT pg_promote(true, 60)", &ok); err != nil {
		return fmt.Errorf("promote region %s: %w", sec.region, err)
	}
	if !ok {
		return fmt.Errorf("promote region %s: pg_promote returned false", sec.region)
	}
	return nil
}

// Failover restores what reached the secondary and promotes it.
func (p *pgPair) Failover(ctx context.Context) (topology.Position, error) {
	p.jobMu.Lock()
	defer p.jobMu.Unlock()
	_, sec, _ := p.roles()
	var inRecovery bool
	if err := sec.query(ctx, 5*time.Second, "SELECT pg_is_in_recovery()", &inRecovery); err != nil {
		return topology.Position{}, fmt.Errorf("failover: %w", err)
	}
	if inRecovery {
		if err := p.waitReplayStable(ctx, sec); err != nil {
			return topology.Position{}, fmt.Errorf("failover: restore what arrived: %w", err)
		}
		p.refreshRestore(ctx, sec)
		if err := p.promote(ctx, sec); err != nil {
			return topology.Position{}, fmt.Errorf("failover: %w", err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.primary, p.secondary = p.secondary, p.primary
	p.shipping = false
	p.marks = nil
	return p.rest, nil
}

// rebuild turns node into a standby of the current primary: its data
// directory is replaced by a base backup taken across the WAN.
func (p *pgPair) rebuild(ctx context.Context, node, from *pgNode) error {
	if err := p.setFloor(ctx, from); err != nil {
		return fmt.Errorf("rebuild region %s: %w", node.region, err)
	}
	for _, d := range []string{"incoming", "restore"} {
		if err := clearDir(node.sub(d)); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(node.sub("control"), "standby-of"), []byte(from.wanSQL+"\n"), 0o644); err != nil {
		return fmt.Errorf("rebuild region %s: %w", node.region, err)
	}
	if err := os.WriteFile(filepath.Join(node.sub("control"), "rebuild"), nil, 0o644); err != nil {
		return fmt.Errorf("rebuild region %s: %w", node.region, err)
	}
	_ = node.c.Unpause(ctx)
	if err := node.c.Kill(ctx); err != nil {
		return fmt.Errorf("rebuild region %s: %w", node.region, err)
	}
	if err := node.c.Start(ctx); err != nil {
		return fmt.Errorf("rebuild region %s: %w", node.region, err)
	}
	if err := waitFor(ctx, 120*time.Second, node.ready); err != nil {
		return fmt.Errorf("rebuild region %s: standby not ready: %w (logs: %s)", node.region, err, node.c.logTail(ctx))
	}
	return nil
}

func clearDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func waitFor(ctx context.Context, d time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Resync rebuilds the old primary as a standby of the current primary. It
// is a no-op while log shipping runs; it waits for a rebuild a switchover
// left running (jobMu) and redoes it if that failed.
func (p *pgPair) Resync(ctx context.Context) error {
	p.jobMu.Lock()
	defer p.jobMu.Unlock()
	pri, old, shipping := p.roles()
	if shipping {
		return nil
	}
	if err := p.rebuildStandby(ctx, old, pri); err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	return nil
}

// Fence makes the primary refuse writes: read-only by default for every
// new transaction, and every open session ended.
func (p *pgPair) Fence(ctx context.Context) error {
	pri, _, _ := p.roles()
	return p.fence(ctx, pri)
}

func (p *pgPair) fence(ctx context.Context, pri *pgNode) error {
	for _, q := range []string{
		"ALTER SYSTEM SET default_transaction_read_only = on",
		"SELECT pg_reload_conf()",
		"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'",
	} {
		if err := pri.query(ctx, 5*time.Second, q); err != nil {
			return fmt.Errorf("fence primary in region %s: %w", pri.region, err)
		}
	}
	return nil
}

// Switchover is the planned role change: fence, final log backup with a
// marker the standby must show, ship and restore it, promote the standby,
// rebuild the old primary as its standby (in the background).
func (p *pgPair) Switchover(ctx context.Context, opts topology.SwitchoverOptions) error {
	p.jobMu.Lock()
	handedOff := false // the background rebuild unlocks jobMu when done
	defer func() {
		if !handedOff {
			p.jobMu.Unlock()
		}
	}()
	pri, sec, shipping := p.roles()
	if !shipping {
		return fmt.Errorf("switchover: log shipping from region %s is not running; resync first", pri.region)
	}
	if err := p.fence(ctx, pri); err != nil {
		return fmt.Errorf("switchover: %w", err)
	}
	if !opts.SkipFinalLogBackup {
		marker := strconv.FormatInt(time.Now().UnixNano(), 10)
		conn, err := pri.connect(ctx)
		if err != nil {
			return fmt.Errorf("switchover: %w", err)
		}
		// The fence applies to new transactions by default; this session
		// (only) writes the marker through it.
		for _, q := range []string{"SET default_transaction_read_only = off", "CREATE TABLE IF NOT EXISTS bcdr_switchover (marker text)", "INSERT INTO bcdr_switchover VALUES ('" + marker + "')"} {
			if _, err = conn.Exec(ctx, q); err != nil {
				break
			}
		}
		conn.Close(context.Background())
		if err != nil {
			return fmt.Errorf("switchover: write marker on region %s: %w", pri.region, err)
		}
		if err := p.backupLocked(ctx, pri); err != nil {
			return fmt.Errorf("switchover: final log backup: %w", err)
		}
		var seen bool
		err = waitFor(ctx, 60*time.Second, func(ctx context.Context) error {
			if err := p.copyLocked(ctx); err != nil {
				return err
			}
			if err := moveAll(sec.sub("incoming"), sec.sub("restore")); err != nil {
				return err
			}
			if err := sec.query(ctx, 2*time.Second, "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = 'bcdr_switchover') AND EXISTS (SELECT 1 FROM bcdr_switchover WHERE marker = '"+marker+"')", &seen); err != nil {
				return err
			}
			if !seen {
				return errors.New("final log backup not replayed yet")
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("switchover: ship the final log backup to region %s: %w", sec.region, err)
		}
	} else if err := p.waitReplayStable(ctx, sec); err != nil {
		return fmt.Errorf("switchover: %w", err)
	}
	p.refreshRestore(ctx, sec)
	if err := p.promote(ctx, sec); err != nil {
		return fmt.Errorf("switchover: %w", err)
	}
	p.mu.Lock()
	p.primary, p.secondary = sec.region, pri.region
	p.marks = nil
	p.shipping = false
	life := p.life // set by run, which New calls before it returns
	p.mu.Unlock()
	// The new primary takes writes now. Rebuilding the old primary as its
	// standby (a kill, a base backup across the WAN, a restart: seconds)
	// runs in the background, so the front door need not stay drained for
	// it; SQL Server's tail-log backup WITH NORECOVERY leaves the old
	// primary restoring, with nothing to rebuild. Status shows shipping
	// off until it is done; Resync waits for it and redoes it if it failed.
	handedOff = true
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.jobMu.Unlock()
		_ = p.rebuildStandby(life, pri, sec)
	}()
	return nil
}

// rebuildStandby rebuilds node as the standby of from and turns log
// shipping on. The caller holds jobMu.
func (p *pgPair) rebuildStandby(ctx context.Context, node, from *pgNode) error {
	if err := p.rebuild(ctx, node, from); err != nil {
		return err
	}
	p.mu.Lock()
	p.shipping = true
	p.copy, p.rest, p.backup = topology.Position{}, topology.Position{}, topology.Position{}
	p.mu.Unlock()
	return nil
}

// run starts the three jobs on the spec's schedule.
func (p *pgPair) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	p.mu.Lock()
	p.stop, p.life = cancel, ctx
	p.mu.Unlock()
	topology.RunJobs(ctx, p.clk, &p.costs, &p.wg,
		topology.Job{Name: topology.JobLogBackup, Every: p.spec.LogBackupInterval, Run: p.BackupLog},
		topology.Job{Name: topology.JobLogCopy, Every: p.spec.LogCopyInterval, Run: p.CopyLogs},
		topology.Job{Name: topology.JobLogRestore, Every: p.spec.LogRestoreInterval, Run: p.RestoreLogs})
}

func (p *pgPair) close() {
	p.mu.Lock()
	stop := p.stop
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
	p.wg.Wait()
}

// setFloor makes log shipping copy only the segments archived from now
// on. It is read before a base backup starts: every segment the new standby
// may ask for (the one holding the backup's end included) comes later.
func (p *pgPair) setFloor(ctx context.Context, from *pgNode) error {
	var archived *string
	if err := from.query(ctx, 5*time.Second, "SELECT last_archived_wal FROM pg_stat_archiver", &archived); err != nil {
		return fmt.Errorf("read the WAL archive position of region %s: %w", from.region, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.floor = ""
	if archived != nil {
		p.floor = *archived
	}
	return nil
}
