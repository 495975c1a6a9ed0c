// Package network holds the drills for network faults: a WAN partition
// between the regions with and without a later region outage, latency on
// the WAN, the AOS instances cut off from their SQL server, and a region
// isolated from its clients and its pair.
package network_test

import (
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/suites/suitetest"
)

func scenario(name, desc string, steps []harness.FaultStep, expect map[string]assertions.Verdict) harness.Scenario {
	sc := suitetest.Short("region-outage")
	sc.Name, sc.Description = name, desc
	sc.Faults = steps
	sc.Expect = expect
	return sc
}

// noLoss is what a network fault inside one region pair must keep when no
// region is lost: customers do not notice, nothing lost, ledger and
// documents intact, and a valid run.
func noLoss() map[string]assertions.Verdict {
	return suitetest.Pass("validity", "fault-domain-availability", "rpo", "ledger", "cross-store", "replication-lag")
}

// regionPromise is the BCDR article's region promise as checks.
func regionPromise() map[string]assertions.Verdict {
	return suitetest.Pass("validity", "rpo", "rto", "sign-off", "failback-loss", "limited-mode", "ledger", "cross-store", "replication-lag")
}

func TestNetwork(t *testing.T) {
	suitetest.RunTable(t, []suitetest.Row{
		{Scenario: scenario("wan-partition", "The WAN between the regions is cut for 15 service minutes: log shipping and blob replication stall, the primary keeps serving, both catch up after; nothing is lost.",
			[]harness.FaultStep{{Name: "wan-partition"}}, noLoss()),
			Then: noFailover},
		{Scenario: scenario("wan-partition-then-outage", "The WAN is cut, and 3 service minutes later region a is lost: the secondary only has what crossed before the cut, so the loss window includes the partition; the runbook must ask for sign-off, and the loss stays within the RPO.",
			[]harness.FaultStep{{Name: "wan-partition", Duration: 20 * time.Minute},
				{Name: "region-outage", Params: map[string]string{"region": "a"}, At: 3 * time.Minute}}, regionPromise()),
			Then: partitionInLossWindow},
		{Scenario: scenario("wan-latency", "300 ms (wall) of latency on every WAN connection for 15 service minutes: shipping slows, customers do not see it, nothing is lost.",
			[]harness.FaultStep{{Name: "link-latency", Params: map[string]string{"link": "wan", "latency": "300ms", "jitter": "50ms"}}}, noLoss()),
			Then: noFailover},
		{Scenario: scenario("aos-sql-partition", "Region a's AOS instances lose their SQL server for 5 service minutes (the server keeps running): writes fail meanwhile, the region comes back inside the decision window, no failover, nothing acknowledged is lost.",
			[]harness.FaultStep{{Name: "aos-sql-partition", Params: map[string]string{"region": "a"}, Duration: 5 * time.Minute}},
			// Customers do notice: writes fail for 5 minutes, past the retry budget.
			suitetest.With(noLoss(), "fault-domain-availability", assertions.Fail)),
			Then: noFailover},
		{Scenario: scenario("region-isolation", "Region a is cut off from its clients and from region b while its processes keep running: customers see an outage, the runbook fails over; the isolated primary must not keep acknowledging writes that are then lost.",
			[]harness.FaultStep{{Name: "region-isolation", Params: map[string]string{"region": "a"}}}, regionPromise())},
	})
}

func noFailover(t *testing.T, out *harness.Outcome) {
	t.Helper()
	if op, ok := out.History.FirstEvent(history.EvFailoverStart); ok {
		t.Errorf("a network fault that the region survives led to a region failover at service %s", op.Service)
	}
}

// partitionInLossWindow: the writes lost by the failover go back to the WAN
// cut, and sign-off was asked before failing over.
func partitionInLossWindow(t *testing.T, out *harness.Outcome) {
	t.Helper()
	rpo, _ := out.Check("rpo")
	if rpo.LostCount == 0 || rpo.Observed < 3*time.Minute {
		t.Errorf("with the WAN cut 3 minutes before the outage, the loss window must be at least 3 minutes: %s", rpo.Explanation)
	}
	if _, ok := out.History.FirstEvent(history.EvSignOffGranted); !ok {
		t.Errorf("the secondary lagged, yet no sign-off was granted before failover")
	}
}
