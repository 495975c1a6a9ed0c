package harness

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

// EvInSync records that the pair was in sync before the workload started:
// the secondary had restored everything the primary was seen to commit and
// no blob object was pending. Fields: wall_ms (the wait), rounds.
const EvInSync = "in-sync"

// InSyncLimit is the longest a run waits, in wall time, for the pair to be
// in sync after bring-up; past it the run stops with verdict unknown.
var InSyncLimit = 2 * time.Minute

// errNotInSync is why a run could not start from a state in sync.
var errNotInSync = errors.New("not in sync")

// AwaitInSync makes the steady state start in sync. Whatever the bring-up
// committed (schema, seed data) is shipped before the first business write:
// a bring-up slowed by a loaded machine must not hand the steady state a
// backlog that replication-lag would judge as the workload's data at risk.
// It runs the log backup, copy and restore and a blob replication round on
// demand, instead of waiting for their schedules (at a low time scale a
// 5-minute log backup interval is minutes of wall time), until the status
// says in sync, and records EvInSync.
func AwaitInSync(ctx context.Context, env topology.Environment, rec *history.Recorder, limit time.Duration) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var why string
	for round := 1; ; round++ {
		sql, blob := env.SQL(), env.Blob()
		var errs []error
		for _, job := range []func(context.Context) error{sql.BackupLog, sql.CopyLogs, sql.RestoreLogs, blob.SyncNow} {
			if err := job(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		why = inSyncGap(ctx, env)
		if why == "" {
			rec.Event(EvInSync, map[string]any{"wall_ms": ms(time.Since(start)), "rounds": round})
			return nil
		}
		if err := errors.Join(errs...); err != nil {
			why += " (" + err.Error() + ")"
		}
		select {
		case <-ctx.Done():
			if parent := context.Cause(ctx); errors.Is(parent, context.Canceled) {
				return parent
			}
			return fmt.Errorf("%w after %s wall: %s", errNotInSync, time.Since(start).Round(time.Millisecond), why)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// inSyncGap says what keeps the pair from being in sync, "" when nothing.
func inSyncGap(ctx context.Context, env topology.Environment) string {
	st, err := env.SQL().Status(ctx)
	if err != nil {
		return "log shipping status: " + err.Error()
	}
	if !st.InSync() {
		return fmt.Sprintf("secondary %s has restored up to %s, primary %s committed up to %s", st.Secondary, st.Restore.LSN, st.Primary, st.PrimaryLast.LSN)
	}
	bs, err := env.Blob().Status(ctx)
	if err != nil {
		return "blob replication status: " + err.Error()
	}
	if bs.Pending > 0 {
		return fmt.Sprintf("%d blob objects pending replication %s -> %s", bs.Pending, bs.Source, bs.Destination)
	}
	return ""
}
