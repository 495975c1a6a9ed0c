package region_test

import (
	"testing"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/suites/suitetest"
)

// TestRegionOutageFailoverFailback is the headline drill: region A is lost,
// the runbook fails over to B within the RTO, loses at most the RPO, runs in
// limited mode, and fails back losing nothing.
func TestRegionOutageFailoverFailback(t *testing.T) {
	sc, _ := harness.Builtin("region-outage")
	out := suitetest.Run(t, sc)
	suitetest.AllPass(t, out)
	if n := out.Result.Workload.AcknowledgedWrites; n < 1000 {
		t.Errorf("only %d acknowledged writes; the drill needs at least 1000 to mean something", n)
	}
}

// TestLogBackupIntervalAboveRPOFailsRPO: with log backups rarer than the
// RPO budget, the writes since the last backup are lost and the loss window
// exceeds the budget. The rpo check must say so.
func TestLogBackupIntervalAboveRPOFailsRPO(t *testing.T) {
	sc, _ := harness.Builtin("region-outage")
	if err := sc.SetAll([]string{"log-backup-interval=3h", "rpo=15m"}); err != nil {
		t.Fatal(err)
	}
	out := suitetest.Run(t, sc)
	suitetest.Expect(t, out, map[string]assertions.Verdict{"rpo": assertions.Fail, "failback-loss": assertions.Pass})
	rpo, _ := out.Check("rpo")
	if rpo.LostCount == 0 || rpo.ObservedServiceS <= rpo.BudgetServiceS {
		t.Errorf("rpo failed without naming lost writes beyond the budget: %+v", rpo)
	}
	if out.Result.Verdict != assertions.Fail {
		t.Errorf("run verdict %s, want fail", out.Result.Verdict)
	}
}

// TestFailbackWithoutFinalLogBackupLosesWrites: skipping the tail-of-log
// backup on failback loses the writes made on region B since its last log
// backup; failback-loss must catch it.
func TestFailbackWithoutFinalLogBackupLosesWrites(t *testing.T) {
	sc, _ := harness.Builtin("region-outage")
	if err := sc.SetAll([]string{"skip-final-log-backup=true"}); err != nil {
		t.Fatal(err)
	}
	out := suitetest.Run(t, sc)
	suitetest.Expect(t, out, map[string]assertions.Verdict{"failback-loss": assertions.Fail})
	fb, _ := out.Check("failback-loss")
	if fb.LostCount == 0 || len(fb.Lost) == 0 || fb.Lost[0].Region != "b" {
		t.Errorf("failback-loss should name writes acknowledged in region b: %+v", fb)
	}
}
