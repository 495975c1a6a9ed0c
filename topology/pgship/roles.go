package pgship

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bcdr-harness/bcdr/topology"
)

// replayWait bounds the wait for a standby to replay what it was given when
// the caller's context has no deadline.
const replayWait = 2 * time.Minute

// beginRoleChange cancels running jobs and takes ops exclusively. The
// returned function opens a new epoch for jobs and releases ops.
func (p *Shipping) beginRoleChange() (func(), error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errClosed
	}
	end := p.endEpoch
	p.mu.Unlock()
	end()
	p.ops.Lock()
	return func() {
		p.mu.Lock()
		if !p.closed {
			p.epoch, p.endEpoch = context.WithCancel(context.Background())
		}
		p.mu.Unlock()
		p.ops.Unlock()
	}, nil
}

// setRoles records a role change. The positions restart for the new
// primary's log; error counters are cumulative.
func (p *Shipping) setRoles(primary, secondary topology.RegionName, shipping bool, restore topology.Position) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.primary, p.secondary = primary, secondary
	p.shipping = shipping
	p.backup, p.copy, p.restore, p.primaryLast = topology.Position{}, topology.Position{}, restore, topology.Position{}
	p.marks = nil
	p.copied = map[string]bool{}
	p.copyFloor = 0
	p.idleLSN = 0
}

// Fence makes the current primary refuse writes: new sessions on the
// database are read-only and the existing ones are terminated (Fence
// returns once they are gone, so no write of an old session can follow).
func (p *Shipping) Fence(ctx context.Context) error {
	p.mu.Lock()
	prim := p.nodes[p.primary]
	p.mu.Unlock()
	return p.fence(ctx, prim)
}

func (p *Shipping) fence(ctx context.Context, r *node) error {
	conn, err := r.Connect(ctx)
	if err != nil {
		return fmt.Errorf("fence region %s: %w", r.name, err)
	}
	defer conn.Close(context.Background())
	db := pgx.Identifier{p.cfg.Database}.Sanitize()
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+db+" SET default_transaction_read_only = on"); err != nil {
		return fmt.Errorf("fence region %s: %w", r.name, err)
	}
	// Every session is signalled at once, then the fence waits for all of
	// them together: pg_terminate_backend with a timeout waits for each in
	// turn in steps of 100 ms, which with tens of application sessions kept
	// the front door drained for seconds.
	var pids []int32
	if err := conn.QueryRow(ctx, "SELECT coalesce(array_agg(pid) FILTER (WHERE pg_terminate_backend(pid)), '{}') FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
		p.cfg.Database).Scan(&pids); err != nil {
		return fmt.Errorf("fence region %s: terminate sessions: %w", r.name, err)
	}
	// Sessions opened after the fence are read-only; only those terminated
	// could still commit.
	deadline := time.Now().Add(5 * time.Second)
	for len(pids) > 0 {
		var left int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)", pids).Scan(&left); err != nil {
			return fmt.Errorf("fence region %s: wait for sessions to end: %w", r.name, err)
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fence region %s: %d sessions still open 5s after they were terminated", r.name, left)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fence region %s: %w", r.name, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
	p.logf("pgship: fenced region %s (database read-only, sessions terminated)", r.name)
	return nil
}

// unfence lets region r's database take writes again (the read-only
// setting replicates, so a promoted standby may carry it).
func (p *Shipping) unfence(ctx context.Context, r *node) error {
	conn, err := r.Connect(ctx)
	if err != nil {
		return fmt.Errorf("unfence region %s: %w", r.name, err)
	}
	defer conn.Close(context.Background())
	db := pgx.Identifier{p.cfg.Database}.Sanitize()
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+db+" RESET default_transaction_read_only"); err != nil {
		return fmt.Errorf("unfence region %s: %w", r.name, err)
	}
	// A session takes the database's default when it starts: one opened
	// while the replicated fence was in force (the region's application
	// servers keep pooled sessions to their standby) would refuse every
	// write for as long as it lives. End them; their pools reconnect.
	if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
		p.cfg.Database); err != nil {
		return fmt.Errorf("unfence region %s: end the sessions opened read-only: %w", r.name, err)
	}
	return nil
}

// Failover is the unplanned role change (the primary is gone): every log
// backup that reached the secondary's share is staged and replayed, then
// the secondary is promoted. Log shipping stops until Resync. It returns
// the restored position: everything after it is lost.
func (p *Shipping) Failover(ctx context.Context) (topology.Position, error) {
	end, err := p.beginRoleChange()
	if err != nil {
		return topology.Position{}, err
	}
	defer end()
	p.mu.Lock()
	shipping, prim, sec := p.shipping, p.primary, p.nodes[p.secondary]
	p.mu.Unlock()
	if !shipping {
		return topology.Position{}, fmt.Errorf("failover: log shipping is not running (region %s is primary already; resync region %s first)", prim, sec.name)
	}
	if !sec.Running() {
		return topology.Position{}, fmt.Errorf("failover: the server of region %s is down (Start it first)", sec.name)
	}
	start := time.Now()
	if _, err := moveShare(sec); err != nil {
		return topology.Position{}, fmt.Errorf("failover: %w", err)
	}
	pos, err := p.waitReplayed(ctx, sec, 0)
	if err != nil {
		return topology.Position{}, fmt.Errorf("failover: %w", err)
	}
	if err := p.promote(ctx, sec); err != nil {
		return topology.Position{}, fmt.Errorf("failover: %w", err)
	}
	p.setRoles(sec.name, prim, false, pos)
	if err := p.unfence(ctx, sec); err != nil {
		return pos, fmt.Errorf("failover: %w", err)
	}
	p.logf("pgship: failed over from region %s to %s in %s; restored up to %s (commit %s)",
		prim, sec.name, time.Since(start).Round(time.Millisecond), pos.LSN, pos.CommitTime.Format(time.RFC3339Nano))
	return pos, nil
}

// Resync rebuilds the old primary region as a standby of the current
// primary, from a fresh base backup taken through WANDial("sql", primary),
// and restarts log shipping, now from the current primary to it. It is a
// no-op while log shipping is running; it waits for a background rebuild
// started by Switchover, and retries it if it failed.
func (p *Shipping) Resync(ctx context.Context) error {
	end, err := p.beginRoleChange()
	if err != nil {
		return err
	}
	defer end()
	p.mu.Lock()
	shipping, prim, sec := p.shipping, p.primary, p.nodes[p.secondary]
	p.mu.Unlock()
	if shipping {
		return nil
	}
	return p.resyncLocked(ctx, prim, sec)
}

func (p *Shipping) resyncLocked(ctx context.Context, prim topology.RegionName, sec *node) error {
	start := time.Now()
	sec.closeStat()
	floor, err := sec.Rebuild(ctx, prim)
	if err != nil {
		return fmt.Errorf("resync region %s from %s: %w", sec.name, prim, err)
	}
	p.mu.Lock()
	p.shipping = true
	p.copied = map[string]bool{}
	p.copyFloor = floor
	p.copy, p.restore = topology.Position{}, topology.Position{}
	p.mu.Unlock()
	p.logf("pgship: resynced region %s from %s across the WAN in %s; shipping %s -> %s",
		sec.name, prim, time.Since(start).Round(time.Millisecond), prim, sec.name)
	return nil
}

// Switchover is the planned role change: fence the primary, take the final
// log backup, copy and restore it, wait until the secondary has replayed it,
// promote the secondary, lift the fence there, and rebuild the old primary
// as the new secondary (in the background with Config.BackgroundRebuild:
// Status.Shipping turns true when it is done, and Resync waits for it). With opts.SkipFinalLogBackup the secondary is
// promoted with whatever it had, losing the primary's newest writes (a
// negative control).
func (p *Shipping) Switchover(ctx context.Context, opts topology.SwitchoverOptions) (err error) {
	end, err := p.beginRoleChange()
	if err != nil {
		return err
	}
	handedOff := false // the background rebuild releases the role change
	defer func() {
		if !handedOff {
			end()
		}
	}()
	p.mu.Lock()
	shipping, prim, sec := p.shipping, p.nodes[p.primary], p.nodes[p.secondary]
	p.mu.Unlock()
	if !shipping {
		return fmt.Errorf("switchover: log shipping to region %s is not running (resync first)", sec.name)
	}
	if !prim.Running() || !sec.Running() {
		return fmt.Errorf("switchover: both servers must be up (region %s up: %t, region %s up: %t)",
			prim.name, prim.Running(), sec.name, sec.Running())
	}
	start := time.Now()
	if err := p.fence(ctx, prim); err != nil {
		return fmt.Errorf("switchover: %w", err)
	}
	promoted := false
	defer func() {
		if err != nil && !promoted {
			// Nothing changed roles: let the primary take writes again.
			uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if uerr := p.unfence(uctx, prim); uerr != nil {
				err = errors.Join(err, uerr)
			}
		}
	}()
	if !opts.SkipFinalLogBackup {
		target, err := p.backupLocked(ctx)
		if err != nil {
			return fmt.Errorf("switchover: final log backup: %w", err)
		}
		if err := p.copyLocked(ctx); err != nil {
			return fmt.Errorf("switchover: copy final log backup: %w", err)
		}
		if _, err := moveShare(sec); err != nil {
			return fmt.Errorf("switchover: %w", err)
		}
		pos, err := p.waitReplayed(ctx, sec, target)
		if err != nil {
			return fmt.Errorf("switchover: %w", err)
		}
		if pos.Seq < target {
			return fmt.Errorf("switchover: region %s replayed up to %s only, short of the final log backup's end %s", sec.name, pos.LSN, formatLSN(target))
		}
	}
	if err := p.promote(ctx, sec); err != nil {
		return fmt.Errorf("switchover: %w", err)
	}
	promoted = true
	p.setRoles(sec.name, prim.name, false, topology.Position{})
	if err := p.unfence(ctx, sec); err != nil {
		return fmt.Errorf("switchover: %w", err)
	}
	if opts.AtCutover != nil {
		// The old primary is still fenced and intact: it is rebuilt below.
		opts.AtCutover(ctx)
	}
	if p.cfg.BackgroundRebuild {
		p.mu.Lock()
		closed := p.closed
		if !closed {
			p.jobs.Add(1)
		}
		p.mu.Unlock()
		if closed {
			return errClosed
		}
		handedOff = true
		go func() {
			defer p.jobs.Done()
			defer end()
			if err := p.resyncLocked(p.life, sec.name, prim); err != nil {
				p.logf("pgship: rebuilding region %s as the new secondary failed (Resync retries): %v", prim.name, err)
			}
		}()
		p.logf("pgship: switched over from region %s to %s in %s (final log backup skipped: %t); rebuilding region %s as the secondary in the background",
			prim.name, sec.name, time.Since(start).Round(time.Millisecond), opts.SkipFinalLogBackup, prim.name)
		return nil
	}
	if err := p.resyncLocked(ctx, sec.name, prim); err != nil {
		return fmt.Errorf("switchover: %w", err)
	}
	p.logf("pgship: switched over from region %s to %s in %s (final log backup skipped: %t)",
		prim.name, sec.name, time.Since(start).Round(time.Millisecond), opts.SkipFinalLogBackup)
	return nil
}

// promote ends recovery on region r's standby and waits until it takes
// writes.
func (p *Shipping) promote(ctx context.Context, r *node) error {
	conn, err := r.Connect(ctx)
	if err != nil {
		return fmt.Errorf("promote region %s: %w", r.name, err)
	}
	defer conn.Close(context.Background())
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_promote(true, 60)").Scan(&ok); err != nil {
		return fmt.Errorf("promote region %s: %w", r.name, err)
	}
	if !ok {
		return fmt.Errorf("promote region %s: not promoted within 60 s: %s", r.name, r.LogTail())
	}
	return nil
}

// startupWaitingForWAL is the wait event of a standby's startup process
// sleeping between attempts to fetch the next WAL file.
const startupWaitingForWAL = "RecoveryRetrieveRetryInterval"

// waitReplayed waits until region r's standby has replayed everything in
// its restore staging dir, and returns the replayed position. Done is
// either of two observable conditions:
//
//  1. the replay LSN reached the end of the newest staged segment (and at
//     least target) — a segment closed by a log backup ends with a WAL switch,
//     after which the replay LSN is the start of the next segment;
//  2. the standby asked for a segment that is not staged (its
//     restore_command records the last miss) and its startup process is now
//     sleeping before the next attempt: it cannot go further. This covers a
//     newest segment that filled up on its own, whose last record continues
//     in a segment that never arrived.
func (p *Shipping) waitReplayed(ctx context.Context, r *node, target uint64) (topology.Position, error) {
	ctx, cancel := withDefaultDeadline(ctx, replayWait)
	defer cancel()
	if w, ok := newestSegment(listDir(r.dirs.Restore)); ok && w.End() > target {
		target = w.End()
	}
	conn, err := r.Connect(ctx)
	if err != nil {
		return topology.Position{}, fmt.Errorf("wait for region %s to replay: %w", r.name, err)
	}
	defer conn.Close(context.Background())
	for {
		miss := readMiss(r)
		var lsnText *string
		var ts *time.Time
		var waitEvent *string
		err := conn.QueryRow(ctx, `SELECT pg_last_wal_replay_lsn()::text, pg_last_xact_replay_timestamp(),
			(SELECT wait_event FROM pg_stat_activity WHERE backend_type = 'startup' LIMIT 1)`).Scan(&lsnText, &ts, &waitEvent)
		if err != nil {
			return topology.Position{}, fmt.Errorf("wait for region %s to replay (target %s): %w", r.name, formatLSN(target), err)
		}
		if lsnText == nil {
			return topology.Position{}, fmt.Errorf("wait for region %s to replay: it is not a standby", r.name)
		}
		lsn, err := parseLSN(*lsnText)
		if err != nil {
			return topology.Position{}, err
		}
		pos := topology.Position{LSN: *lsnText, Seq: lsn, At: time.Now()}
		if ts != nil {
			pos.CommitTime = *ts
		}
		if lsn >= target {
			return pos, nil
		}
		if miss != "" && waitEvent != nil && *waitEvent == startupWaitingForWAL {
			if _, err := os.Stat(filepath.Join(r.dirs.Restore, miss)); errors.Is(err, os.ErrNotExist) {
				p.logf("pgship: region %s replayed up to %s; it needs segment %s, which never arrived", r.name, pos.LSN, miss)
				return pos, nil
			}
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return pos, fmt.Errorf("wait for region %s to replay: at %s, target %s: %w", r.name, pos.LSN, formatLSN(target), err)
		}
	}
}

// readMiss returns the last WAL segment region r's standby asked for and
// did not find ("" if none).
func readMiss(r *node) string {
	b, err := os.ReadFile(r.dirs.MissFile)
	if err != nil {
		return ""
	}
	name := strings.TrimSpace(string(b))
	if _, ok := parseWALName(name); !ok {
		return ""
	}
	return name
}
