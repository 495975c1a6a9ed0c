// Package hardware holds the drills for hardware faults inside a region:
// an AOS instance crashed or frozen, a whole fault domain lost, the SQL
// primary crashed and restarted in place. The BCDR article's promise: customers
// barely notice and no data is lost; no region failover happens.
package hardware_test

import (
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/suites/suitetest"
)

// scenario is a short hardware drill: one fault in region a, held for hold
// (0 = the suite's default hold), and the checks of the BCDR article's hardware
// promise.
func scenario(name, desc string, hold time.Duration, fault string, params map[string]string, expect map[string]assertions.Verdict) harness.Scenario {
	sc := suitetest.Short("instance-crash")
	sc.Name, sc.Description = name, desc
	sc.Faults = []harness.FaultStep{{Name: fault, Params: params, Duration: hold}}
	sc.Expect = expect
	return sc
}

// promise is the BCDR article's hardware promise as checks: customers barely
// notice (fault-domain-availability), no data loss (rpo: without a failover
// nothing may be lost), the ledger and the documents intact, replication
// healthy in steady state, and a valid run.
func promise() map[string]assertions.Verdict {
	return suitetest.Pass("validity", "fault-domain-availability", "rpo", "ledger", "cross-store", "replication-lag")
}

func TestHardware(t *testing.T) {
	suitetest.RunTable(t, []suitetest.Row{
		{Scenario: scenario("instance-crash", "One AOS instance is killed; the load balancer stops sending to it and clients retry elsewhere.",
			0, "instance-crash", map[string]string{"region": "a", "instance": "0"}, promise()),
			Then: noFailover},
		{Scenario: scenario("instance-freeze", "One AOS instance is frozen (SIGSTOP): its connections hang until the client's attempt times out; the load balancer's probes take it out.",
			0, "instance-freeze", map[string]string{"region": "a", "instance": "0"}, promise()),
			Then: noFailover},
		{Scenario: scenario("fault-domain-loss", "Every instance of fault domain 0 is killed (a rack's power); the other four domains carry the load.",
			0, "fault-domain-loss", map[string]string{"region": "a", "domain": "0"}, promise()),
			Then: noFailover},
		{Scenario: sqlCrashInPlace(), Then: noFailover},
	})
}

// sqlCrashInPlace: no loss only. The model has no in-region SQL replica, so
// availability during an in-place restart is not promised: sql-primary-crash
// is a single-instance fault (faults.Definition.SingleInstance), judged by
// rpo, not by fault-domain-availability.
func sqlCrashInPlace() harness.Scenario {
	sc := scenario("sql-crash-in-place", "The SQL primary is killed and restarted in place after 30 service seconds; committed data survives its crash recovery, no region failover.",
		30*time.Second, "sql-primary-crash", map[string]string{"region": "a"},
		suitetest.Pass("validity", "rpo", "ledger", "cross-store", "replication-lag"))
	return sc
}

// noFailover requires that the runbook did not treat a hardware fault as a
// region loss.
func noFailover(t *testing.T, out *harness.Outcome) {
	t.Helper()
	if op, ok := out.History.FirstEvent(history.EvFailoverStart); ok {
		t.Errorf("a hardware fault inside the region led to a region failover at service %s", op.Service)
	}
}
