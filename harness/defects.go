package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

// EvDefect records a defect the harness built into the environment before
// the steady state (value: defect, and its settings).
const EvDefect = "defect"

// underProvision applies the secondary-link-latency-ms defect: region b's
// client link answers latencyMS wall milliseconds late for the whole run,
// so the secondary cannot carry the workload at steady-state latency once
// it is failed over to. It is a property of the environment, not a fault:
// no fault-injected is recorded, and nothing recovers it.
func underProvision(env topology.Environment, rec *history.Recorder, latencyMS int) error {
	if latencyMS <= 0 {
		return nil
	}
	name := topology.LinkName(topology.LinkClient, topology.RegionB)
	l, ok := env.Links().Get(name)
	if !ok {
		return fmt.Errorf("defect secondary-link-latency-ms: the environment has no link %s", name)
	}
	if err := l.AddToxic("defect-secondary-latency", "latency", "downstream", 1, map[string]any{"latency": latencyMS}); err != nil {
		return fmt.Errorf("defect secondary-link-latency-ms: %w", err)
	}
	rec.Event(EvDefect, map[string]any{"defect": "secondary-link-latency-ms", "link": name, "latency_ms": latencyMS})
	return nil
}

// EvUnshippedWrite records what the skip-final-log-backup defect staked
// before the failback's drain (value: phase "before-drain" with the key,
// region and wall times of a write acknowledged by the region being left
// whose key was first sent after its newest log backup, or "none" if no such write came
// within two log backup intervals; phase "at-switch" with shipped true when
// a log backup taken since may carry it after all).
const EvUnshippedWrite = "unshipped-write"

// awaitUnshippedWrite makes the skip-final-log-backup defect
// deterministic: the write it must lose is one the region being left
// acknowledged after its newest log backup was taken, its key first sent
// after it (so committed after it). Without one (a scheduled log backup
// just before the drain, a workload that wrote nothing since the resync,
// only retries of writes the backup holds) skipping the tail loses nothing and the failback-loss control passes by luck of timing.
// It waits for such a write, polling the shipping status and the history,
// for at most two log backup intervals of service time, and returns when
// its key was first sent (zero if none came).
//
// resynced is when the resync ended: its base backup holds every write
// sent before, and an engine may report no log backup until its schedule
// takes the first one after the resync.
func (rb *Runbook) awaitUnshippedWrite(ctx context.Context, from topology.RegionName, resynced time.Time) time.Time {
	clk := rb.env.Clock()
	deadline := clk.Now() + 2*rb.env.Spec().LogBackupInterval
	for {
		st, err := rb.env.SQL().Status(ctx)
		if err == nil {
			h := rb.rec.Ops()
			// A retry reuses its idempotency key: an earlier attempt may
			// have committed the row before the backup, and the retry
			// acknowledged it again. Only a key first sent after the
			// backup cannot be in it.
			first := map[string]time.Time{}
			for _, op := range h.Ops {
				if op.Type == history.Invoke && op.Kind.IsWrite() {
					if _, ok := first[op.Key]; !ok {
						first[op.Key] = op.Wall
					}
				}
			}
			floor := st.Backup.At
			if resynced.After(floor) {
				floor = resynced
			}
			var found *history.Completion
			for _, c := range h.AcknowledgedWrites() {
				if c.Result.Region == string(from) && first[c.Invoke.Key].After(floor) {
					found = &c
					break
				}
			}
			if found != nil {
				invoked := first[found.Invoke.Key]
				rb.rec.Event(EvUnshippedWrite, map[string]any{"phase": "before-drain", "key": found.Invoke.Key,
					"region": string(from), "invoked": invoked, "acknowledged": found.Result.Wall, "last_log_backup": st.Backup.At})
				return invoked
			}
		}
		if clk.Now() >= deadline || rb.sleep(ctx, rb.probeEvery()) != nil {
			v := map[string]any{"phase": "before-drain", "region": string(from), "key": "none"}
			if err != nil {
				v["error"] = err.Error()
			}
			rb.rec.Event(EvUnshippedWrite, v)
			return time.Time{}
		}
	}
}

// checkUnshippedWrite runs once the front door is drained, before the
// switch: it records whether a log backup taken since the staked write was
// invoked may have carried it (the one moment left for a scheduled backup:
// from here the switch runs in machine time, when the schedule is minutes
// of wall time away).
func (rb *Runbook) checkUnshippedWrite(ctx context.Context, invoked time.Time) {
	if invoked.IsZero() {
		return
	}
	v := map[string]any{"phase": "at-switch"}
	if st, err := rb.env.SQL().Status(ctx); err != nil {
		v["error"] = err.Error()
	} else {
		v["shipped"] = !st.Backup.At.Before(invoked)
		v["last_log_backup"] = st.Backup.At
	}
	rb.rec.Event(EvUnshippedWrite, v)
}
