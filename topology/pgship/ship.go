package pgship

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bcdr-harness/bcdr/topology"
)

// archiveWait bounds how long a log backup waits for its segment to be
// archived when the caller's context has no deadline.
const archiveWait = 30 * time.Second

// primarySampleEvery is how often Run samples the primary's newest commit
// (wall time).
const primarySampleEvery = 100 * time.Millisecond

// uploadTimeout bounds one file's upload across the WAN.
const uploadTimeout = 15 * time.Second

// failureLog logs a job's failures without repeating itself: the first
// failure, a failure with a new message, and the recovery.
type failureLog struct {
	mu     sync.Mutex
	last   string
	failed int
}

func (l *failureLog) note(job string, err error, logf func(string, ...any)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		if l.failed > 0 {
			logf("pgship: %s works again after %d failures", job, l.failed)
		}
		l.last, l.failed = "", 0
		return
	}
	l.failed++
	if msg := err.Error(); msg != l.last {
		l.last = msg
		logf("pgship: %s failed: %v", job, err)
	}
}

// beginJob admits one job run: it holds ops shared and returns a context
// that ends with ctx, with Close, or when roles start to change.
func (p *Shipping) beginJob(ctx context.Context) (context.Context, func(), error) {
	p.ops.RLock()
	p.mu.Lock()
	epoch, closed := p.epoch, p.closed
	p.mu.Unlock()
	if closed {
		p.ops.RUnlock()
		return nil, nil, errClosed
	}
	jctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(epoch, cancel)
	return jctx, func() { stop(); cancel(); p.ops.RUnlock() }, nil
}

// BackupLog takes one log backup on the current primary: pg_switch_wal()
// (skipped when nothing was written since the last one), then waits until
// the archive_command has put the segment into the primary's archive dir.
// A failure is counted in ShippingStatus.BackupErrors.
func (p *Shipping) BackupLog(ctx context.Context) error {
	jctx, done, err := p.beginJob(ctx)
	if err != nil {
		return err
	}
	defer done()
	p.backupMu.Lock()
	defer p.backupMu.Unlock()
	_, err = p.backupLocked(jctx)
	if jctx.Err() == nil {
		p.mu.Lock()
		if err != nil {
			p.backupErrors++
		}
		p.mu.Unlock()
		p.backupLog.note("log backup", err, p.logf)
	}
	return err
}

// backupLocked does the log backup and returns the end LSN of the segment
// holding everything written before it.
func (p *Shipping) backupLocked(ctx context.Context) (uint64, error) {
	p.mu.Lock()
	prim, idle := p.nodes[p.primary], p.idleLSN
	p.mu.Unlock()
	if !prim.Running() {
		return 0, fmt.Errorf("log backup on region %s: server is down", prim.name)
	}
	ctx, cancel := withDefaultDeadline(ctx, archiveWait)
	defer cancel()
	conn, err := prim.Connect(ctx)
	if err != nil {
		return 0, fmt.Errorf("log backup on region %s: %w", prim.name, err)
	}
	defer conn.Close(context.Background())

	// The newest commit is read before the switch, so the recorded commit
	// time never claims more than the segment holds.
	commit, insert, err := lastCommit(ctx, conn)
	if err != nil {
		return 0, fmt.Errorf("log backup on region %s: read last commit: %w", prim.name, err)
	}
	p.notePrimaryLast(prim, commit, insert)
	marked, err := markUnarchived(ctx, conn)
	if err != nil {
		return 0, fmt.Errorf("log backup on region %s: %w", prim.name, err)
	}
	if len(marked) > 0 {
		p.logf("pgship: region %s: segment(s) %v completed before a crash had not been handed to the archiver; marked ready", prim.name, marked)
	}
	if insert == idle && len(marked) == 0 {
		// Nothing written since the last log backup: its segment is the
		// newest one and already archived.
		p.refreshBackup(listDir(prim.dirs.Archive))
		if off := insert % segSize; off <= longPageHeader {
			insert -= off // just past a switch: the previous segment is the last
		}
		return segEndBefore(insert), nil
	}
	var insertText string
	var switchText, file string
	switched := time.Now()
	if err := conn.QueryRow(ctx, "SELECT lsn::text, pg_walfile_name(lsn) FROM pg_switch_wal() AS lsn").Scan(&switchText, &file); err != nil {
		return 0, fmt.Errorf("log backup on region %s: pg_switch_wal: %w", prim.name, err)
	}
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&insertText); err != nil {
		return 0, fmt.Errorf("log backup on region %s: %w", prim.name, err)
	}
	switchLSN, err := parseLSN(switchText)
	if err != nil {
		return 0, err
	}
	after, err := parseLSN(insertText)
	if err != nil {
		return 0, err
	}
	m := mark{lsn: switchLSN}
	if commit != nil {
		m.commit = *commit
	}
	p.mu.Lock()
	if p.nodes[p.primary] == prim {
		p.marks = append(p.marks, m)
		p.idleLSN = after
	}
	p.mu.Unlock()

	// Wait for the archiver to deliver the segment.
	path := filepath.Join(prim.dirs.Archive, file)
	for i := 1; ; i++ {
		if _, err := os.Stat(path); err == nil {
			break
		}
		if i%10 == 0 {
			if err := archiveFailure(ctx, conn, switched); err != nil {
				return 0, fmt.Errorf("log backup on region %s: segment %s not archived: %w", prim.name, file, err)
			}
		}
		if err := sleepCtx(ctx, 10*time.Millisecond); err != nil {
			return 0, fmt.Errorf("log backup on region %s: segment %s not archived: %w (server log: %s)", prim.name, file, err, prim.LogTail())
		}
	}
	p.refreshBackup(listDir(prim.dirs.Archive))
	w, _ := parseWALName(file)
	return w.End(), nil
}

// segEndBefore is the end of the segment holding the byte just before lsn.
func segEndBefore(lsn uint64) uint64 {
	if lsn == 0 {
		return 0
	}
	return (segOf(lsn-1) + 1) * segSize
}

// listDir lists the regular files of dir, skipping temporaries (dot files).
func listDir(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}

// newestSegment returns the archived segment with the highest number.
func newestSegment(names []string) (walFile, bool) {
	var best walFile
	found := false
	for _, n := range names {
		w, ok := parseWALName(n)
		if ok && (!found || w.SegNo > best.SegNo || w.SegNo == best.SegNo && w.TLI > best.TLI) {
			best, found = w, true
		}
	}
	return best, found
}

// commitBefore is the newest commit time known to lie before end: the
// commit recorded with the newest log backup switched before end. Must be
// called with p.mu held.
func (p *Shipping) commitBefore(end uint64) time.Time {
	var t time.Time
	for _, m := range p.marks {
		if m.lsn <= end && m.commit.After(t) {
			t = m.commit
		}
	}
	return t
}

// refreshBackup advances the backup position to the newest archived segment.
func (p *Shipping) refreshBackup(archived []string) {
	w, ok := newestSegment(archived)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if end := w.End(); end > p.backup.Seq {
		p.backup = topology.Position{LSN: formatLSN(end), Seq: end, CommitTime: p.commitBefore(end), At: time.Now()}
	}
}

// CopyLogs uploads every archived file of the primary not yet copied to the
// secondary's share, through WANDial("share", secondary), oldest first,
// stopping at the first failure (so the share never has a gap). A failure
// is counted in ShippingStatus.CopyErrors.
func (p *Shipping) CopyLogs(ctx context.Context) error {
	jctx, done, err := p.beginJob(ctx)
	if err != nil {
		return err
	}
	defer done()
	p.copyMu.Lock()
	defer p.copyMu.Unlock()
	err = p.copyLocked(jctx)
	if jctx.Err() == nil {
		p.mu.Lock()
		if err != nil {
			p.copyErrors++
		}
		p.mu.Unlock()
		p.copyLog.note("log copy", err, p.logf)
	}
	return err
}

func (p *Shipping) copyLocked(ctx context.Context) error {
	p.mu.Lock()
	shipping, prim, sec, floor := p.shipping, p.nodes[p.primary], p.nodes[p.secondary], p.copyFloor
	lost := p.shareLost[p.primary]
	p.mu.Unlock()
	if shipping && lost {
		return fmt.Errorf("copy from region %s to region %s: region %s's log backup share cannot be read, the region is lost", prim.name, sec.name, prim.name)
	}
	p.refreshBackup(listDir(prim.dirs.Archive))
	if !shipping {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, uploadTimeout)
	archived, err := sec.ListArchive(lctx, prim.Node)
	cancel()
	if err != nil {
		return fmt.Errorf("copy from region %s to region %s: list the log backups across the WAN: %w", prim.name, sec.name, err)
	}
	var todo []string
	p.mu.Lock()
	for _, n := range archived {
		if !shippable(n) || p.copied[n] {
			continue
		}
		if w, ok := parseWALName(n); ok && w.SegNo < floor {
			continue
		}
		todo = append(todo, n)
	}
	p.mu.Unlock()
	sortForShipping(todo)
	for _, n := range todo {
		uctx, cancel := context.WithTimeout(ctx, uploadTimeout)
		err := sec.Fetch(uctx, prim.Node, n)
		cancel()
		if err != nil {
			return fmt.Errorf("copy %s from region %s to region %s across the WAN: %w", n, prim.name, sec.name, err)
		}
		p.mu.Lock()
		if p.nodes[p.primary] == prim {
			p.copied[n] = true
			if w, ok := parseWALName(n); ok && w.End() > p.copy.Seq {
				end := w.End()
				p.copy = topology.Position{LSN: formatLSN(end), Seq: end, CommitTime: p.commitBefore(end), At: time.Now()}
			}
		}
		p.mu.Unlock()
	}
	return nil
}

// sortForShipping orders files: timeline history first, then segments by
// number and timeline, then anything else.
func sortForShipping(names []string) {
	rank := func(n string) int {
		switch {
		case strings.HasSuffix(n, ".history"):
			return 0
		case len(n) == 24:
			return 1
		default:
			return 2
		}
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := names[i], names[j]
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra < rb
		}
		wa, oka := parseWALName(a)
		wb, okb := parseWALName(b)
		if oka && okb && wa.SegNo != wb.SegNo {
			return wa.SegNo < wb.SegNo
		}
		return a < b
	})
}

// RestoreLogs moves every file that reached the secondary's share into its
// restore staging dir; the standby replays them on its own (its
// restore_command polls every 50 ms).
func (p *Shipping) RestoreLogs(ctx context.Context) error {
	jctx, done, err := p.beginJob(ctx)
	if err != nil {
		return err
	}
	defer done()
	p.restoreMu.Lock()
	defer p.restoreMu.Unlock()
	p.mu.Lock()
	shipping, sec := p.shipping, p.nodes[p.secondary]
	p.mu.Unlock()
	if !shipping {
		return nil
	}
	n, err := moveShare(sec)
	if err != nil {
		p.logf("pgship: log restore failed: %v", err)
		return err
	}
	if n > 0 && sec.Running() {
		// The restore is done when the standby has replayed what was
		// staged: its replay is part of the job's cost, so a standby
		// starved of CPU shows in the chain's measured delay
		// (topology.ShippingStatus.ChainDelay), not as unexplained lag.
		wctx, cancel := context.WithTimeout(jctx, restoreReplayWait)
		pos, err := p.waitReplayed(wctx, sec, 0)
		cancel()
		if err == nil {
			p.mu.Lock()
			if p.shipping && p.nodes[p.secondary] == sec {
				p.advanceRestore(pos)
			}
			p.mu.Unlock()
			return nil
		}
	}
	p.pollRestore(jctx, sec, true)
	return nil
}

// restoreReplayWait bounds how long a scheduled restore waits for the
// standby to replay what it staged (wall time); past it the job ends and
// the replay goes on by itself.
const restoreReplayWait = 5 * time.Second

// moveShare moves the complete files of region r's share into its restore
// staging dir.
func moveShare(r *node) (int, error) {
	n := 0
	for _, name := range listDir(r.dirs.Incoming) {
		if err := os.Rename(filepath.Join(r.dirs.Incoming, name), filepath.Join(r.dirs.Restore, name)); err != nil {
			return n, fmt.Errorf("stage %s for restore in region %s: %w", name, r.name, err)
		}
		n++
	}
	return n, nil
}

// pollRestore reads the standby's replay position and updates the restore
// position. Unless wait is set it gives up at once when another poll is in
// flight (and the last known position stands), so that Status never waits.
func (p *Shipping) pollRestore(ctx context.Context, r *node, wait bool) {
	if !r.Running() {
		return
	}
	if wait {
		r.statMu.Lock()
	} else if !r.statMu.TryLock() {
		return
	}
	defer r.statMu.Unlock()
	qctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if r.statConn == nil {
		conn, err := r.Connect(qctx)
		if err != nil {
			return
		}
		r.statConn = conn
	}
	pos, err := replayPosition(qctx, r.statConn)
	if err != nil {
		_ = r.statConn.Close(context.Background())
		r.statConn = nil
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shipping && p.nodes[p.secondary] == r {
		p.advanceRestore(pos)
	}
}

// advanceRestore moves the restore position forward. Must hold p.mu.
func (p *Shipping) advanceRestore(pos topology.Position) {
	if pos.Seq > p.restore.Seq || pos.CommitTime.After(p.restore.CommitTime) {
		if pos.CommitTime.IsZero() {
			pos.CommitTime = p.restore.CommitTime
		}
		p.restore = pos
	}
}

// replayPosition reads a standby's replayed LSN and newest replayed commit.
func replayPosition(ctx context.Context, conn *pgx.Conn) (topology.Position, error) {
	var lsnText *string
	var ts *time.Time
	if err := conn.QueryRow(ctx, "SELECT pg_last_wal_replay_lsn()::text, pg_last_xact_replay_timestamp()").Scan(&lsnText, &ts); err != nil {
		return topology.Position{}, err
	}
	if lsnText == nil {
		return topology.Position{}, errors.New("not a standby")
	}
	lsn, err := parseLSN(*lsnText)
	if err != nil {
		return topology.Position{}, err
	}
	pos := topology.Position{LSN: *lsnText, Seq: lsn, At: time.Now()}
	if ts != nil {
		pos.CommitTime = *ts
	}
	return pos, nil
}

// lastCommit reads the primary's newest commit time and then its WAL insert
// position, which is at or past that commit's record.
func lastCommit(ctx context.Context, conn *pgx.Conn) (*time.Time, uint64, error) {
	var commit *time.Time
	var insertText string
	if err := conn.QueryRow(ctx, "SELECT (pg_last_committed_xact()).timestamp").Scan(&commit); err != nil {
		return nil, 0, err
	}
	if err := conn.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&insertText); err != nil {
		return nil, 0, err
	}
	insert, err := parseLSN(insertText)
	return commit, insert, err
}

// longPageHeader is the size of the header that starts every WAL segment.
const longPageHeader = 0x28

// notePrimaryLast records the primary's newest commit: its time, and an LSN
// at or past its record, that a log backup must reach to contain it.
func (p *Shipping) notePrimaryLast(prim *node, commit *time.Time, insert uint64) {
	if commit == nil {
		return
	}
	// Right after a WAL switch the insert position is just past the new
	// segment's header: nothing of the new segment is needed.
	if off := insert % segSize; off <= longPageHeader {
		insert -= off
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nodes[p.primary] != prim {
		return
	}
	if commit.After(p.primaryLast.CommitTime) {
		p.primaryLast = topology.Position{LSN: formatLSN(insert), Seq: insert, CommitTime: *commit, At: time.Now()}
	} else if commit.Equal(p.primaryLast.CommitTime) {
		p.primaryLast.At = time.Now() // still the newest commit: seen again now
	}
}

// pollPrimary refreshes the primary's newest commit (see pollRestore for
// the rate limit).
func (p *Shipping) pollPrimary(ctx context.Context, r *node, wait bool) {
	if !r.Running() {
		return
	}
	if wait {
		r.statMu.Lock()
	} else if !r.statMu.TryLock() {
		return
	}
	defer r.statMu.Unlock()
	qctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if r.statConn == nil {
		conn, err := r.Connect(qctx)
		if err != nil {
			return
		}
		r.statConn = conn
	}
	commit, insert, err := lastCommit(qctx, r.statConn)
	if err != nil {
		_ = r.statConn.Close(context.Background())
		r.statConn = nil
		return
	}
	p.notePrimaryLast(r, commit, insert)
}

// Status reports roles and the three jobs' positions. It is cheap (at most
// one small query on the standby, none while it is down) and reports the
// last known positions for a server that is down.
func (p *Shipping) Status(ctx context.Context) (topology.ShippingStatus, error) {
	p.mu.Lock()
	shipping, prim, sec, closed := p.shipping, p.nodes[p.primary], p.nodes[p.secondary], p.closed
	p.mu.Unlock()
	if !closed {
		p.pollPrimary(ctx, prim, false)
	}
	if shipping && !closed {
		p.pollRestore(ctx, sec, false)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st := topology.ShippingStatus{
		Primary:      p.primary,
		Secondary:    p.secondary,
		Shipping:     p.shipping,
		Backup:       p.backup,
		Copy:         p.copy,
		Restore:      p.restore,
		PrimaryLast:  p.primaryLast,
		BackupErrors: p.backupErrors,
		CopyErrors:   p.copyErrors,
	}
	p.costs.Fill(&st)
	return st, nil
}

// Run starts the three jobs on their service-time schedules. They stop when
// ctx ends or the pair is closed. Failures are counted, never fatal.
func (p *Shipping) Run(ctx context.Context) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	p.runCancels = append(p.runCancels, cancel)
	p.jobs.Add(1)
	p.mu.Unlock()
	topology.RunJobs(ctx, p.clk, &p.costs, &p.jobs,
		topology.Job{Name: topology.JobLogBackup, Every: p.cfg.BackupInterval, Run: p.BackupLog},
		topology.Job{Name: topology.JobLogCopy, Every: p.cfg.CopyInterval, Run: p.CopyLogs},
		topology.Job{Name: topology.JobLogRestore, Every: p.cfg.RestoreInterval, Run: p.RestoreLogs})
	// Sample the primary's newest commit often, so that PrimaryLast is
	// fresh when the primary disappears.
	go func() {
		defer p.jobs.Done()
		t := time.NewTicker(primarySampleEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			p.mu.Lock()
			prim := p.nodes[p.primary]
			p.mu.Unlock()
			p.pollPrimary(ctx, prim, false)
		}
	}()
}
