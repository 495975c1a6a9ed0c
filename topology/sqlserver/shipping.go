// Package sqlserver is SQL Server 2022 log shipping behind
// topology.LogShipping: a database in FULL recovery on the primary, a full
// backup restored WITH NORECOVERY on the secondary, then three jobs on a
// schedule — BACKUP LOG into the primary's backup directory, a copy of the
// .trn files across the WAN into the secondary's incoming directory, and
// RESTORE LOG ... WITH NORECOVERY on the secondary. Failover restores what
// arrived and runs RESTORE DATABASE ... WITH RECOVERY; the planned switch
// takes a tail-log BACKUP LOG ... WITH NORECOVERY on the primary, restores it
// on the secondary WITH RECOVERY and reverses the roles, so nothing is lost
// and the old primary follows the new one without a full restore.
//
// Positions come from the servers themselves (msdb.dbo.backupset and
// msdb.dbo.restorehistory: last_lsn, backup_start_date, backup_finish_date);
// the harness's memory is only a fallback while a server is unreachable.
//
// Every statement goes through the small Executor interface, so the exact
// statement sequence of each step is tested against a recording fake; the
// copy goes through Share, so the bytes cross whatever link the provider
// wires in (a Toxiproxy proxy in front of the peer's ShareHandler).
package sqlserver

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
)

// Engine is the engine name reported by LogShipping.Engine.
const Engine = "sqlserver"

// Node is one SQL Server of the pair and the directories it shares.
type Node struct {
	Region topology.RegionName
	Exec   Executor
	// BackupDir is where this server writes its own backups, as the server
	// sees it (inside its container), e.g. /var/opt/mssql/bcdr/backup.
	BackupDir string
	// IncomingDir is where the peer's backups are copied to, as the server
	// sees it, e.g. /var/opt/mssql/bcdr/incoming.
	IncomingDir string
	// Incoming is IncomingDir as the harness writes it (the host side of a
	// volume shared with the server).
	Incoming WritableShare
	// Backups is BackupDir as the *other* region reads it: across the WAN.
	Backups Share
}

// Config configures a log-shipping pair.
type Config struct {
	Database string
	Primary  Node
	Second   Node
	// Clock converts the schedule (service time) into wall intervals.
	Clock *clock.Clock
	// Backup, copy and restore intervals in service time (Start uses them).
	BackupInterval, CopyInterval, RestoreInterval time.Duration
	// StatementTimeout bounds each backup, restore and copy (default 2 min).
	StatementTimeout time.Duration
	// StatusTimeout bounds the msdb reads of Status (default 3 s), so a dead
	// server makes Status fall back to the last known positions quickly.
	StatusTimeout time.Duration
	// Now names backup files (default time.Now); names sort in backup order.
	Now func() time.Time
}

// Shipping is a SQL Server log-shipping pair. It implements topology.LogShipping.
type Shipping struct {
	cfg   Config
	nodes map[topology.RegionName]*Node

	jobMu sync.Mutex // serialises jobs and role changes

	mu        sync.Mutex // guards the fields below
	primary   topology.RegionName
	secondary topology.RegionName
	shipping  bool
	since     string // copy and restore only files named after this one
	lastNS    int64
	catalog   map[string]topology.Position // backup file name -> position
	skipped   map[string]bool              // logs the secondary already had
	status    topology.ShippingStatus      // last known, the fallback of Status

	stop  context.CancelFunc
	wg    sync.WaitGroup
	costs topology.JobCosts
}

var _ topology.LogShipping = (*Shipping)(nil)

// New validates the configuration. Call Setup to seed the secondary.
func New(cfg Config) (*Shipping, error) {
	if err := ValidName(cfg.Database); err != nil {
		return nil, err
	}
	if cfg.Primary.Region == cfg.Second.Region {
		return nil, fmt.Errorf("log shipping: primary and secondary are both region %q", cfg.Primary.Region)
	}
	for _, n := range []Node{cfg.Primary, cfg.Second} {
		if n.Exec == nil || n.Incoming == nil || n.Backups == nil || n.BackupDir == "" || n.IncomingDir == "" {
			return nil, fmt.Errorf("log shipping: node of region %q is missing an executor, a share or a directory", n.Region)
		}
	}
	if cfg.StatementTimeout <= 0 {
		cfg.StatementTimeout = 2 * time.Minute
	}
	if cfg.StatusTimeout <= 0 {
		cfg.StatusTimeout = 3 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.New(1)
	}
	p, s := cfg.Primary, cfg.Second
	sh := &Shipping{
		cfg:       cfg,
		nodes:     map[topology.RegionName]*Node{p.Region: &p, s.Region: &s},
		primary:   p.Region,
		secondary: s.Region,
		catalog:   map[string]topology.Position{},
		skipped:   map[string]bool{},
	}
	sh.status = topology.ShippingStatus{Primary: p.Region, Secondary: s.Region}
	return sh, nil
}

// Engine implements topology.LogShipping.
func (s *Shipping) Engine() string { return Engine }

func (s *Shipping) roles() (p, sec *Node, shipping bool, since string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nodes[s.primary], s.nodes[s.secondary], s.shipping, s.since
}

// fileName returns a backup file name "<20-digit unix ns>_<region>_<kind>.<ext>"
// (kind: full, log or tail); names sort in the order the backups were taken.
func (s *Shipping) fileName(kind string, r topology.RegionName, ext string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.cfg.Now().UnixNano()
	if ns <= s.lastNS {
		ns = s.lastNS + 1 // strictly increasing even if the clock stands still
	}
	s.lastNS = ns
	return fmt.Sprintf("%020d_%s_%s.%s", ns, r, kind, ext)
}

func (s *Shipping) exec(ctx context.Context, n *Node, stmt string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StatementTimeout)
	defer cancel()
	return n.Exec.Exec(ctx, stmt)
}

// Setup seeds the pair: the database (created if missing) in FULL recovery,
// a full backup on the primary, copied across the WAN and restored WITH
// NORECOVERY on the secondary. Log shipping runs from then on.
func (s *Shipping) Setup(ctx context.Context) error {
	s.jobMu.Lock()
	defer s.jobMu.Unlock()
	p, sec, _, _ := s.roles()
	db := s.cfg.Database
	for _, stmt := range []string{StmtCreateDatabase(db), StmtFullRecovery(db)} {
		if err := s.exec(ctx, p, stmt); err != nil {
			return fmt.Errorf("prepare database %s on region %s: %w", db, p.Region, err)
		}
	}
	if err := s.seedLocked(ctx, p, sec); err != nil {
		return fmt.Errorf("seed secondary in region %s: %w", sec.Region, err)
	}
	return nil
}

// seedLocked takes a full backup on from, ships it to to and restores it
// there WITH NORECOVERY, replacing whatever database to had.
func (s *Shipping) seedLocked(ctx context.Context, from, to *Node) error {
	db := s.cfg.Database
	full := s.fileName("full", from.Region, "bak")
	if err := s.exec(ctx, from, StmtBackupDatabase(db, path.Join(from.BackupDir, full))); err != nil {
		return fmt.Errorf("full backup on region %s: %w", from.Region, err)
	}
	if err := s.copyFile(ctx, from, to, full); err != nil {
		return err
	}
	if err := s.exec(ctx, to, StmtDropDatabase(db)); err != nil {
		return fmt.Errorf("drop the database being replaced on region %s: %w", to.Region, err)
	}
	if err := s.exec(ctx, to, StmtRestoreDatabaseNoRecovery(db, path.Join(to.IncomingDir, full))); err != nil {
		return fmt.Errorf("restore full backup on region %s: %w", to.Region, err)
	}
	s.mu.Lock()
	s.since = full
	s.shipping = true
	s.mu.Unlock()
	s.refreshRestore(ctx, to)
	return nil
}

// copyFile copies one backup file from a node's backup directory (read
// across the WAN) into the peer's incoming directory.
func (s *Shipping) copyFile(ctx context.Context, from, to *Node, name string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StatementTimeout)
	defer cancel()
	r, err := from.Backups.Open(ctx, name)
	if err != nil {
		return fmt.Errorf("copy %s from region %s: %w", name, from.Region, err)
	}
	defer r.Close()
	if err := to.Incoming.Put(ctx, name, r); err != nil {
		return fmt.Errorf("copy %s to region %s: %w", name, to.Region, err)
	}
	return nil
}

// BackupLog implements topology.LogShipping: one BACKUP LOG on the primary.
func (s *Shipping) BackupLog(ctx context.Context) error {
	s.jobMu.Lock()
	defer s.jobMu.Unlock()
	p, _, _, _ := s.roles()
	name := s.fileName("log", p.Region, "trn")
	if err := s.exec(ctx, p, StmtBackupLog(s.cfg.Database, path.Join(p.BackupDir, name))); err != nil {
		s.mu.Lock()
		s.status.BackupErrors++
		s.mu.Unlock()
		return fmt.Errorf("log backup on region %s: %w", p.Region, err)
	}
	pos, err := s.backupPosition(ctx, p, name)
	if err != nil {
		return fmt.Errorf("read position of log backup %s: %w", name, err)
	}
	s.mu.Lock()
	s.catalog[name] = pos
	s.status.Backup = pos
	s.mu.Unlock()
	return nil
}

// backupPosition reads one backup file's position from the server's msdb.
func (s *Shipping) backupPosition(ctx context.Context, n *Node, name string) (topology.Position, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StatusTimeout)
	defer cancel()
	rows, err := n.Exec.Query(ctx, QueryBackupOf, s.cfg.Database, path.Join(n.BackupDir, name))
	if err != nil {
		return topology.Position{}, err
	}
	if len(rows) == 0 {
		return topology.Position{}, fmt.Errorf("msdb on region %s has no backupset row for %s", n.Region, name)
	}
	return positionFromRow(rows[0][0], rows[0][1], rows[0][2])
}

// CopyLogs implements topology.LogShipping: copy every log backup of the
// primary that the secondary's incoming directory lacks, across the WAN.
func (s *Shipping) CopyLogs(ctx context.Context) error {
	s.jobMu.Lock()
	defer s.jobMu.Unlock()
	return s.copyLocked(ctx)
}

func (s *Shipping) copyLocked(ctx context.Context) error {
	p, sec, shipping, since := s.roles()
	if !shipping {
		return nil
	}
	err := func() error {
		remote, err := p.Backups.List(ctx)
		if err != nil {
			return fmt.Errorf("list log backups of region %s across the WAN: %w", p.Region, err)
		}
		local, err := sec.Incoming.List(ctx)
		if err != nil {
			return fmt.Errorf("list incoming logs of region %s: %w", sec.Region, err)
		}
		have := map[string]bool{}
		for _, n := range local {
			have[n] = true
		}
		for _, name := range remote {
			if !strings.HasSuffix(name, ".trn") || name <= since || have[name] {
				continue
			}
			if err := s.copyFile(ctx, p, sec, name); err != nil {
				return err
			}
			s.mu.Lock()
			pos, ok := s.catalog[name]
			s.mu.Unlock()
			if !ok {
				if pos, err = s.backupPosition(ctx, p, name); err != nil {
					pos = topology.Position{} // position unknown; the file still counts
				}
			}
			pos.At = time.Now()
			s.mu.Lock()
			if pos.Seq >= s.status.Copy.Seq {
				s.status.Copy = pos
			}
			s.mu.Unlock()
		}
		return nil
	}()
	if err != nil {
		s.mu.Lock()
		s.status.CopyErrors++
		s.mu.Unlock()
	}
	return err
}

// RestoreLogs implements topology.LogShipping: restore, WITH NORECOVERY and
// in order, every copied log backup the secondary has not restored yet.
func (s *Shipping) RestoreLogs(ctx context.Context) error {
	s.jobMu.Lock()
	defer s.jobMu.Unlock()
	_, err := s.restoreLocked(ctx, "")
	return err
}

// restoreLocked restores pending logs except the one named except; it
// returns how many it applied.
func (s *Shipping) restoreLocked(ctx context.Context, except string) (int, error) {
	_, sec, shipping, since := s.roles()
	if !shipping {
		return 0, nil
	}
	names, err := sec.Incoming.List(ctx)
	if err != nil {
		return 0, fmt.Errorf("list incoming logs of region %s: %w", sec.Region, err)
	}
	restored, err := s.restoredFiles(ctx, sec)
	if err != nil {
		return 0, fmt.Errorf("read restore history of region %s: %w", sec.Region, err)
	}
	applied := 0
	for _, name := range names {
		if !strings.HasSuffix(name, ".trn") || name <= since || name == except || restored[name] {
			continue
		}
		s.mu.Lock()
		skip := s.skipped[name]
		s.mu.Unlock()
		if skip {
			continue
		}
		err := s.exec(ctx, sec, StmtRestoreLog(s.cfg.Database, path.Join(sec.IncomingDir, name)))
		if HasErrorNumber(err, ErrLogTooEarly) {
			// Already contained in what the secondary has (e.g. a log
			// taken before the full backup that seeded it).
			s.mu.Lock()
			s.skipped[name] = true
			s.mu.Unlock()
			continue
		}
		if err != nil {
			s.refreshRestore(ctx, sec)
			return applied, fmt.Errorf("restore log %s on region %s: %w", name, sec.Region, err)
		}
		applied++
	}
	s.refreshRestore(ctx, sec)
	return applied, nil
}

// restoredFiles reads from msdb which incoming files the server restored.
func (s *Shipping) restoredFiles(ctx context.Context, n *Node) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StatementTimeout)
	defer cancel()
	rows, err := n.Exec.Query(ctx, QueryRestored, s.cfg.Database)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, r := range rows {
		if p, ok := r[0].(string); ok && strings.HasPrefix(p, n.IncomingDir) {
			out[path.Base(p)] = true
		}
	}
	return out, nil
}

// refreshRestore reads the newest restore of the secondary from its msdb
// into the status; on error the last known position stays.
func (s *Shipping) refreshRestore(ctx context.Context, n *Node) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StatusTimeout)
	defer cancel()
	rows, err := n.Exec.Query(ctx, QueryRestored, s.cfg.Database)
	if err != nil || len(rows) == 0 {
		return
	}
	pos, err := positionFromRow(rows[0][1], rows[0][2], rows[0][4])
	if err != nil {
		return
	}
	s.mu.Lock()
	// LSNs grow along the database's one lineage: an older row is a restore
	// from before a role change, not the current position.
	if pos.Seq >= s.status.Restore.Seq {
		s.status.Restore = pos
	}
	s.mu.Unlock()
}

// refreshBackup reads the newest log backup of the primary from its msdb.
func (s *Shipping) refreshBackup(ctx context.Context, n *Node) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StatusTimeout)
	defer cancel()
	rows, err := n.Exec.Query(ctx, QueryLastLogBackup, s.cfg.Database, strings.TrimSuffix(n.BackupDir, "/")+"/")
	if err != nil || len(rows) == 0 {
		return
	}
	pos, err := positionFromRow(rows[0][0], rows[0][1], rows[0][2])
	if err != nil {
		return
	}
	s.mu.Lock()
	if pos.Seq >= s.status.Backup.Seq {
		s.status.Backup = pos
	}
	s.mu.Unlock()
}

// refreshPrimaryLast reads the newest commit in the primary's log. The
// position is the commit's LSN plus one: the last_lsn a log backup must
// reach to contain it (last_lsn names the next record after the backup).
func (s *Shipping) refreshPrimaryLast(ctx context.Context, n *Node) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StatusTimeout)
	defer cancel()
	rows, err := n.Exec.Query(ctx, QueryLastCommitFor(s.cfg.Database))
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(rows) == 0 {
		// No commit in the active log: the newest is in the last log backup.
		if s.status.Backup.Seq > s.status.PrimaryLast.Seq {
			s.status.PrimaryLast = s.status.Backup
		}
		return
	}
	hex, _ := rows[0][0].(string)
	seq, err := ParseLogLSN(hex)
	if err != nil {
		return
	}
	pos := topology.Position{LSN: strconv.FormatUint(seq+1, 10), Seq: seq + 1, At: time.Now()}
	if end, ok := rows[0][1].(string); ok {
		if t, err := time.Parse("2006/01/02 15:04:05:000", strings.TrimSpace(end)); err == nil {
			pos.CommitTime = t
		}
	}
	if pos.Seq >= s.status.PrimaryLast.Seq {
		s.status.PrimaryLast = pos
	}
}

// ParseLogLSN converts an LSN as fn_dblog shows it ("0000002b:00000130:0001",
// hex VLF sequence, block and slot) into the decimal form msdb uses
// (vlf * 10^15 + block * 10^5 + slot).
func ParseLogLSN(s string) (uint64, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) != 3 {
		return 0, fmt.Errorf("parse log LSN %q: want vlf:block:slot", s)
	}
	var v [3]uint64
	for i, p := range parts {
		x, err := strconv.ParseUint(p, 16, 64)
		if err != nil {
			return 0, fmt.Errorf("parse log LSN %q: %w", s, err)
		}
		v[i] = x
	}
	return v[0]*1_000_000_000_000_000 + v[1]*100_000 + v[2], nil
}

// Status implements topology.LogShipping. Backup and restore positions are
// read from the servers' msdb; when a server does not answer within the
// status timeout, its last known position is reported.
func (s *Shipping) Status(ctx context.Context) (topology.ShippingStatus, error) {
	p, sec, _, _ := s.roles()
	s.refreshBackup(ctx, p)
	s.refreshPrimaryLast(ctx, p)
	s.refreshRestore(ctx, sec)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Primary, st.Secondary, st.Shipping = s.primary, s.secondary, s.shipping
	s.costs.Fill(&st)
	return st, nil
}

// state reads the database's state on a node.
func (s *Shipping) state(ctx context.Context, n *Node) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StatementTimeout)
	defer cancel()
	rows, err := n.Exec.Query(ctx, QueryState, s.cfg.Database)
	if err != nil {
		return "", err
	}
	if len(rows) == 0 {
		return "", nil
	}
	st, _ := rows[0][0].(string)
	return st, nil
}

// Failover implements topology.LogShipping: the unplanned role change. The
// secondary restores every log backup that reached it and is recovered;
// shipping stops until Resync.
func (s *Shipping) Failover(ctx context.Context) (topology.Position, error) {
	s.jobMu.Lock()
	defer s.jobMu.Unlock()
	p, sec, shipping, _ := s.roles()
	state, err := s.state(ctx, sec)
	if err != nil {
		return topology.Position{}, fmt.Errorf("failover: read database state on region %s: %w", sec.Region, err)
	}
	var restoreErr error
	if state == "RESTORING" {
		if shipping {
			// The old primary may still answer (the region is declared lost,
			// not necessarily dead): its tail-log backup, when it can be
			// taken and carried across, loses nothing more.
			s.tryTail(ctx, p, sec)
		}
		// A broken chain or an unreadable file stops the restores; the
		// secondary still comes online with what it has (the loss is the
		// checks' business), so the error is reported only with a failed
		// recovery.
		_, restoreErr = s.restoreLocked(ctx, "")
		if err := s.exec(ctx, sec, StmtRecover(s.cfg.Database)); err != nil {
			return topology.Position{}, fmt.Errorf("failover: recover database on region %s: %w", sec.Region, errors.Join(err, restoreErr))
		}
	}
	s.refreshRestore(ctx, sec)
	s.mu.Lock()
	s.primary, s.secondary = s.secondary, s.primary
	s.shipping = false
	pos := s.status.Restore
	s.mu.Unlock()
	return pos, nil
}

// tryTail takes, within the status timeout, the tail-log backup of an old
// primary that still answers and copies it across the WAN for the restore
// that follows: the failover then loses nothing the old primary held. An
// old primary that does not answer, or a WAN that does not carry the file,
// leaves the failover to what already arrived (and a region that is lost
// as a whole gives nothing: its server and its share are gone with it).
func (s *Shipping) tryTail(ctx context.Context, p, sec *Node) {
	probe, cancel := context.WithTimeout(ctx, s.cfg.StatusTimeout)
	state, err := s.state(probe, p)
	cancel()
	if err != nil || state != "ONLINE" {
		return
	}
	tctx, cancel := context.WithTimeout(ctx, s.cfg.StatusTimeout)
	defer cancel()
	tail := s.fileName("tail", p.Region, "trn")
	if err := s.tailLocked(tctx, p, tail); err != nil {
		return
	}
	if pos, err := s.backupPosition(tctx, p, tail); err == nil {
		s.mu.Lock()
		s.catalog[tail] = pos
		s.status.Backup = pos
		s.mu.Unlock()
	}
	_ = s.copyLocked(tctx) // what does not arrive is lost, as without the tail
}

// tailAttempts bounds the tail-log batch's retries when a session holds
// the database (a pooled probe that took the single-user slot).
const tailAttempts = 5

// tailLocked takes the tail-log backup on n, retrying while another session
// holds the database; on failure the database is opened to every user again
// (it is still the primary, nothing changed).
func (s *Shipping) tailLocked(ctx context.Context, n *Node, name string) error {
	db := s.cfg.Database
	var err error
	for i := 0; i < tailAttempts; i++ {
		err = s.exec(ctx, n, StmtTailLogBackup(db, path.Join(n.BackupDir, name)))
		if err == nil || !(HasErrorNumber(err, ErrExclusiveAccess) || HasErrorNumber(err, ErrDatabaseInUse)) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return errors.Join(err, s.exec(context.WithoutCancel(ctx), n, StmtMultiUser(db)))
	}
	return nil
}

// Resync implements topology.LogShipping: rebuild the old primary as a
// secondary of the current primary from a fresh full backup, and start
// reverse log shipping.
func (s *Shipping) Resync(ctx context.Context) error {
	s.jobMu.Lock()
	defer s.jobMu.Unlock()
	p, sec, _, _ := s.roles()
	s.mu.Lock()
	s.status.Backup, s.status.Copy, s.status.Restore, s.status.PrimaryLast = topology.Position{}, topology.Position{}, topology.Position{}, topology.Position{}
	s.mu.Unlock()
	if err := s.exec(ctx, p, StmtFullRecovery(s.cfg.Database)); err != nil {
		return fmt.Errorf("resync: full recovery on region %s: %w", p.Region, err)
	}
	if err := s.seedLocked(ctx, p, sec); err != nil {
		return fmt.Errorf("resync region %s from region %s: %w", sec.Region, p.Region, err)
	}
	return nil
}

// Fence implements topology.LogShipping: the primary's database becomes
// READ_ONLY, dropping open transactions.
func (s *Shipping) Fence(ctx context.Context) error {
	p, _, _, _ := s.roles()
	if err := s.exec(ctx, p, StmtFence(s.cfg.Database)); err != nil {
		return fmt.Errorf("fence primary on region %s: %w", p.Region, err)
	}
	return nil
}

// Switchover implements topology.LogShipping: take the tail-log backup WITH
// NORECOVERY on the primary (the fence: the old primary is left RESTORING,
// ready to follow, and takes no write), copy and restore everything up to
// the tail, restore the tail WITH RECOVERY on the secondary and reverse the
// roles. The primary is not set READ_ONLY first: a read-only database
// cannot be left RESTORING. A failure after the tail-log backup and before
// the secondary is recovered brings the old primary back online (nothing is
// lost, and shipping goes on with the tail as one more log backup), so the
// roles stay as they were and the switch can be tried again.
func (s *Shipping) Switchover(ctx context.Context, opts topology.SwitchoverOptions) error {
	s.jobMu.Lock()
	defer s.jobMu.Unlock()
	p, sec, shipping, _ := s.roles()
	if !shipping {
		return fmt.Errorf("switchover: log shipping from region %s is not running; resync first", p.Region)
	}
	db := s.cfg.Database
	if opts.SkipFinalLogBackup {
		if err := s.exec(ctx, p, StmtFence(db)); err != nil {
			return fmt.Errorf("switchover: fence primary on region %s: %w", p.Region, err)
		}
		return s.switchWithoutTail(ctx, p, sec)
	}
	tail := s.fileName("tail", p.Region, "trn")
	if err := s.tailLocked(ctx, p, tail); err != nil {
		return fmt.Errorf("switchover: tail-log backup on region %s: %w", p.Region, err)
	}
	if pos, err := s.backupPosition(ctx, p, tail); err == nil {
		s.mu.Lock()
		s.catalog[tail] = pos
		s.status.Backup = pos
		s.mu.Unlock()
	}
	// back undoes the tail when the secondary could not take over.
	back := func(err error) error {
		if berr := s.exec(context.WithoutCancel(ctx), p, StmtBackOnline(db)); berr != nil {
			return fmt.Errorf("%w; and the old primary on region %s could not be brought back online: %v", err, p.Region, berr)
		}
		return fmt.Errorf("%w (region %s stays the primary: it is back online with every write)", err, p.Region)
	}
	if err := s.copyLocked(ctx); err != nil {
		return back(fmt.Errorf("switchover: ship logs to region %s: %w", sec.Region, err))
	}
	if _, err := s.restoreLocked(ctx, tail); err != nil {
		return back(fmt.Errorf("switchover: %w", err))
	}
	if err := s.exec(ctx, sec, StmtRestoreLogRecovery(db, path.Join(sec.IncomingDir, tail))); err != nil {
		return back(fmt.Errorf("switchover: restore tail-log backup on region %s: %w", sec.Region, err))
	}
	s.mu.Lock()
	// The secondary is recovered: it is the primary now, whatever follows.
	// The old primary's redo point is the tail: that is where the reverse
	// direction starts, for backup, copy and restore alike.
	tailPos := s.catalog[tail]
	s.primary, s.secondary = sec.Region, p.Region
	s.since = tail
	s.shipping = true
	s.status.Backup, s.status.Copy, s.status.Restore = tailPos, tailPos, tailPos
	s.mu.Unlock()
	if err := s.exec(ctx, sec, StmtOpenForWrites(db)); err != nil {
		return fmt.Errorf("switchover: region %s is the primary but its database could not be opened for writes: %w", sec.Region, err)
	}
	if opts.AtCutover != nil {
		// The old primary is restoring (the tail-log backup left it
		// WITH NORECOVERY): it cannot be read, so a fingerprint of its
		// side fails and says why.
		opts.AtCutover(ctx)
	}
	return nil
}

// switchWithoutTail promotes the secondary with what it has and rebuilds
// the old primary from a full backup: the old primary's last writes are
// lost. Only negative controls use it.
func (s *Shipping) switchWithoutTail(ctx context.Context, p, sec *Node) error {
	if _, err := s.restoreLocked(ctx, ""); err != nil {
		return fmt.Errorf("switchover: %w", err)
	}
	if err := s.exec(ctx, sec, StmtRecover(s.cfg.Database)); err != nil {
		return fmt.Errorf("switchover: recover database on region %s: %w", sec.Region, err)
	}
	s.mu.Lock()
	s.primary, s.secondary = sec.Region, p.Region
	s.shipping = false
	s.mu.Unlock()
	if err := s.seedLocked(ctx, sec, p); err != nil {
		return fmt.Errorf("switchover: rebuild region %s as secondary: %w", p.Region, err)
	}
	return nil
}

// Start runs the three jobs on the configured schedule until ctx ends or
// Stop is called. Job errors are counted in the status, not returned.
func (s *Shipping) Start(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	s.stop = cancel
	topology.RunJobs(ctx, s.cfg.Clock, &s.costs, &s.wg,
		topology.Job{Name: topology.JobLogBackup, Every: s.cfg.BackupInterval, Run: s.BackupLog},
		topology.Job{Name: topology.JobLogCopy, Every: s.cfg.CopyInterval, Run: s.CopyLogs},
		topology.Job{Name: topology.JobLogRestore, Every: s.cfg.RestoreInterval, Run: s.RestoreLogs})
}

// Stop ends the scheduled jobs and waits for them.
func (s *Shipping) Stop() {
	if s.stop != nil {
		s.stop()
	}
	s.wg.Wait()
}

// positionFromRow builds a Position from an LSN (numeric as text), the
// backup's start date (every commit acknowledged before it is in the
// backup, so it is the commit time the backup surely covers) and the time
// the step finished.
func positionFromRow(lsn, start, at any) (topology.Position, error) {
	var p topology.Position
	switch v := lsn.(type) {
	case string:
		p.LSN = strings.TrimSpace(v)
	case []byte:
		p.LSN = strings.TrimSpace(string(v))
	case nil:
	default:
		p.LSN = fmt.Sprint(v)
	}
	if p.LSN != "" {
		seq, err := strconv.ParseUint(p.LSN, 10, 64)
		if err != nil {
			b, ok := new(big.Int).SetString(p.LSN, 10)
			if !ok {
				return p, fmt.Errorf("parse LSN %q: %w", p.LSN, err)
			}
			if b.IsUint64() {
				seq = b.Uint64()
			} else {
				seq = ^uint64(0)
			}
		}
		p.Seq = seq
	}
	if t, ok := start.(time.Time); ok {
		p.CommitTime = t
	}
	if t, ok := at.(time.Time); ok {
		p.At = t
	}
	return p, nil
}
