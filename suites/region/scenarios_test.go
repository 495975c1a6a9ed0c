package region_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/suites/suitetest"
	"github.com/bcdr-harness/bcdr/topology"
)

// every is the whole region promise as checks: every one must pass.
func every() map[string]assertions.Verdict {
	return suitetest.Pass(assertions.RegionChecks()...)
}

func scenario(name, desc string, steps []harness.FaultStep, expect map[string]assertions.Verdict) harness.Scenario {
	sc := suitetest.Short("region-outage")
	sc.Name, sc.Description = name, desc
	sc.Faults = steps
	sc.Expect = expect
	return sc
}

// worstMomentInterval is the log backup interval of the worst-moment row:
// below the 15-minute RPO budget, so the promise holds even when the region
// is lost just before a backup would have run.
const worstMomentInterval = 10 * time.Minute

// TestRegionSuite runs the region table: the short headline drill with
// every check, the outage at the worst moment for the RPO, a flapping
// region, a disaster during failback, and a refused sign-off.
func TestRegionSuite(t *testing.T) {
	worst := scenario("outage-before-log-backup", "Region a is lost one service minute before its next log backup would have run: everything since the last backup is lost, so the loss window approaches the backup interval (10m) and must still be within the RPO (15m).",
		[]harness.FaultStep{{Name: worstMomentFault, Params: map[string]string{"margin": "1m"}, Duration: time.Minute},
			{Name: "region-outage", Params: map[string]string{"region": "a"}, After: history.EvFaultInjected}},
		suitetest.Pass("validity", "rpo", "rto", "sign-off", "failback-loss", "ledger", "cross-store"))
	worst.Spec.LogBackupInterval = worstMomentInterval

	refused := scenario("sign-off-refused", "The secondary lags when region a is lost and the customer refuses sign-off: the environment waits for region a (no failover), which returns a fault hold after the refusal.",
		[]harness.FaultStep{{Name: "region-outage", Params: map[string]string{"region": "a"}}},
		suitetest.Pass("validity", "sign-off", "rpo", "rto", "ledger", "cross-store"))
	refused.Runbook.SignOff = "refuse"
	// No failover, so nothing fails back, nothing runs in limited mode and
	// no customer is told of a move.
	refused.SkipChecks = []string{"customer-notice", "failback-loss", "failback-interruption", "batch-outage", "limited-mode", "restored-after-failback", "secondary-capacity", "cutover-fingerprint"}
	refused.Spec.LogBackupInterval = 12 * time.Minute

	suitetest.RunTable(t, []suitetest.Row{
		{Scenario: scenario("region-outage-short", "The headline drill cut to suite length, held to every check: region a lost, failover within the RTO and the RPO, limited mode, failback without loss within its interruption and batch budgets.",
			[]harness.FaultStep{{Name: "region-outage", Params: map[string]string{"region": "a"}}}, every())},
		{Scenario: worst, Then: func(t *testing.T, out *harness.Outcome) {
			rpo, _ := out.Check("rpo")
			low := worstMomentInterval - 3*time.Minute
			if rpo.LostCount == 0 || rpo.Observed < low {
				t.Errorf("at the worst moment the loss window should approach the log backup interval %s (at least %s): %s",
					worstMomentInterval, low, rpo.Explanation)
			}
		}},
		{Scenario: scenario("flapping-region", "Region a goes down and up repeatedly, each time for less than the decision window: the runbook must not fail over, and nothing acknowledged is lost.",
			[]harness.FaultStep{{Name: "region-flapping", Params: map[string]string{"region": "a"}}},
			suitetest.Pass("validity", "rpo", "ledger", "cross-store", "replication-lag")),
			Then: func(t *testing.T, out *harness.Outcome) {
				if op, ok := out.History.FirstEvent(history.EvFailoverStart); ok {
					t.Errorf("a region down for less than the decision window each time was failed over at service %s", op.Service)
				}
				if _, ok := out.History.FirstEvent(history.EvOutageDetected); !ok {
					t.Errorf("the runbook never saw the region go down: the flapping did not reach it")
				}
			}},
		{Scenario: scenario("disaster-during-failback", "Region a is lost, the runbook fails over, and while the failback runs region b loses a fault domain's AOS instances: the failback must still lose nothing, whether acknowledged before the outage or while failed over.",
			[]harness.FaultStep{{Name: "region-outage", Params: map[string]string{"region": "a"}},
				{Name: "failback-fault", Params: map[string]string{"region": "b", "target": "aos", "domain": "0"}}},
			suitetest.Pass("validity", "rpo", "rto", "failback-loss", "ledger", "cross-store"))},
		{Scenario: scenario("sql-crash-during-failback", "Region a is lost, the runbook fails over, and region b's SQL server crashes while the failback runs (restarted after the fault hold): the failback may be delayed but must lose nothing.",
			[]harness.FaultStep{{Name: "region-outage", Params: map[string]string{"region": "a"}},
				{Name: "failback-fault", Params: map[string]string{"region": "b", "target": "sql"}, Duration: 5 * time.Minute}},
			suitetest.Pass("validity", "rpo", "rto", "failback-loss", "ledger", "cross-store"))},
		{Scenario: refused, Then: func(t *testing.T, out *harness.Outcome) {
			if _, ok := out.History.FirstEvent(history.EvSignOffRefused); !ok {
				t.Fatalf("the customer was never asked (or never refused): the row did not exercise a refusal")
			}
			if op, ok := out.History.FirstEvent(history.EvFailoverStart); ok {
				t.Errorf("the runbook failed over at service %s although sign-off was refused", op.Service)
			}
		}},
	})
}

// worstMomentFault is a suite-local fault that only observes: its
// injection watches the log backup schedule and returns a margin before the
// next backup would run. The region-outage step waits for its
// fault-injected event (FaultStep.After), so the region is lost at that
// moment. (A single composite fault cannot do it: the harness stamps a
// fault at the start of its injection, and the wait would count as outage.)
const worstMomentFault = "log-backup-watch"

func init() {
	if _, ok := faults.Lookup(worstMomentFault); ok {
		return
	}
	faults.Register(faults.Definition{Name: worstMomentFault, Class: faults.Region,
		Help:   "changes nothing: waits until a margin (service time) before the primary's next scheduled log backup, for a fault that follows it (After: fault-injected)",
		Params: []faults.Param{{Name: "margin", Default: "1m", Help: "service time before the next log backup"}},
		Build: func(p faults.Params) (faults.Fault, error) {
			margin, err := time.ParseDuration(p["margin"])
			if err != nil || margin <= 0 {
				return nil, fmt.Errorf("parameter margin: want a positive duration, got %q", p["margin"])
			}
			return &beforeLogBackup{margin: margin}, nil
		}})
}

type beforeLogBackup struct {
	margin time.Duration
	last   time.Time // the backup it timed itself from
}

func (f *beforeLogBackup) Name() string { return worstMomentFault }

// Aim names nothing: the fault only watches the backup schedule.
func (f *beforeLogBackup) Aim(topology.Environment) ([]topology.Target, error) { return nil, nil }

// Inject waits for a log backup to complete, then until margin before the
// next one (the backup job sleeps one interval after each run).
func (f *beforeLogBackup) Inject(ctx context.Context, env topology.Environment) error {
	clk := env.Clock()
	interval := env.Spec().LogBackupInterval
	st, err := env.SQL().Status(ctx)
	if err != nil {
		return fmt.Errorf("read log shipping status: %w", err)
	}
	seen := st.Backup.At
	deadline := time.Now().Add(2*clk.Wall(interval) + 5*time.Second)
	for !st.Backup.At.After(seen) {
		if time.Now().After(deadline) {
			return fmt.Errorf("no log backup completed within two intervals (%s)", interval)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if st, err = env.SQL().Status(ctx); err != nil {
			return fmt.Errorf("read log shipping status: %w", err)
		}
	}
	f.last = st.Backup.At
	at := st.Backup.At.Add(clk.Wall(interval - f.margin))
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(at)):
	}
	return nil
}

func (f *beforeLogBackup) Recover(context.Context, topology.Environment) error { return nil }

// Verify observes that the next log backup has not run yet: the moment is
// still before it.
func (f *beforeLogBackup) Verify(ctx context.Context, env topology.Environment) error {
	st, err := env.SQL().Status(ctx)
	if err != nil {
		return fmt.Errorf("read log shipping status: %w", err)
	}
	if st.Backup.At.After(f.last) {
		return fmt.Errorf("the next log backup already ran (at %s), so this is not the moment before it", st.Backup.At.Format(time.RFC3339Nano))
	}
	return nil
}
