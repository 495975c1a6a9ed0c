package harness_test

import (
	"strings"
	"testing"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
)

func TestDerivedChecks(t *testing.T) {
	steps := func(names ...string) []harness.FaultStep {
		var out []harness.FaultStep
		for _, n := range names {
			out = append(out, harness.FaultStep{Name: n})
		}
		return out
	}
	region := strings.Join(assertions.RegionChecks(), ",")
	for _, c := range []struct {
		faults     []string
		failedOver bool
		want       string
	}{
		{nil, false, "validity,ledger,cross-store"},
		{[]string{"fault-domain-loss"}, false, "validity,fault-domain-availability,rpo,ledger,cross-store"},
		{[]string{"wan-partition"}, false, "validity,fault-domain-availability,rpo,ledger,cross-store"},
		{[]string{"region-flapping"}, false, "validity,ledger,cross-store"},
		// One blob store per region: its crash is an expected outage; no loss is promised.
		{[]string{"blob-crash"}, false, "validity,rpo,ledger,cross-store"},
		{[]string{"blob-crash", "instance-crash"}, false, "validity,fault-domain-availability,rpo,ledger,cross-store"},
		// A network fault the runbook failed over for: every region check too.
		{[]string{"aos-sql-partition"}, true, "validity,fault-domain-availability,rpo,rto,sign-off,customer-notice,failback-loss,failback-interruption,batch-outage,limited-mode,restored-after-failback,secondary-capacity,cutover-fingerprint,ledger,cross-store,replication-lag"},
		{[]string{"wan-partition", "region-outage"}, false, "validity,fault-domain-availability,rpo,rto,sign-off,customer-notice,failback-loss,failback-interruption,batch-outage,limited-mode,restored-after-failback,secondary-capacity,cutover-fingerprint,ledger,cross-store,replication-lag"},
	} {
		got := harness.DerivedChecks(steps(c.faults...), c.failedOver)
		if strings.Join(got, ",") != c.want {
			t.Errorf("%v failed over %v: %v, want %s", c.faults, c.failedOver, got, c.want)
		}
	}
	// Every region check for a region loss, whatever else.
	got := harness.DerivedChecks(steps("region-outage"), false)
	for _, want := range assertions.RegionChecks() {
		if !strings.Contains(","+strings.Join(got, ",")+",", ","+want+",") {
			t.Errorf("region-outage: %v lacks %s (region checks %s)", got, want, region)
		}
	}
}

// Every built-in drill is judged by the checks its faults call for: none
// runs with validity alone.
func TestBuiltinDrillsAreJudged(t *testing.T) {
	for _, sc := range harness.Builtins() {
		if sc.Name == "random" {
			continue // its faults are picked before the run (schedule tests)
		}
		run, skipped := sc.ChecksToRun(false)
		if len(skipped) > 0 || len(run) < 4 {
			t.Errorf("%s: checks %v, skipped %v", sc.Name, run, skipped)
		}
		for _, c := range []string{"validity", "ledger", "cross-store", "rpo"} {
			if !strings.Contains(strings.Join(run, ","), c) {
				t.Errorf("%s runs %v, without %s", sc.Name, run, c)
			}
		}
	}
	for _, name := range []string{"instance-crash", "fault-domain-loss"} {
		sc, _ := harness.Builtin(name)
		run, _ := sc.ChecksToRun(false)
		if strings.Join(run, ",") != "validity,fault-domain-availability,rpo,ledger,cross-store" {
			t.Errorf("%s runs %v", name, run)
		}
	}
}

// checks: adds to the derived set; dropping one needs skip-checks, by knob
// or by file field, and is reported.
func TestChecksAddAndSkipChecksDrop(t *testing.T) {
	sc, _ := harness.Builtin("fault-domain-loss")
	sc.Checks = []string{"replication-lag"}
	if err := sc.SetAll([]string{"skip-checks=fault-domain-availability, rpo"}); err != nil {
		t.Fatal(err)
	}
	run, skipped := sc.ChecksToRun(false)
	if strings.Join(run, ",") != "validity,ledger,cross-store,replication-lag" || strings.Join(skipped, ",") != "fault-domain-availability,rpo" {
		t.Errorf("run %v skipped %v", run, skipped)
	}
	if v, _ := sc.Get("skip-checks"); v != "fault-domain-availability,rpo" {
		t.Errorf("knob reads %q", v)
	}
	if err := sc.Set("skip-checks", "no-such-check"); err == nil {
		t.Error("an unknown check was accepted")
	}
	yml := `scenario: fault-domain-loss
faults:
  - name: fault-domain-loss
checks: [replication-lag]
skip-checks: [fault-domain-availability]
`
	got, _, err := harness.ParseScenarioFile("s.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	run, skipped = got.ChecksToRun(false)
	if strings.Join(run, ",") != "validity,rpo,ledger,cross-store,replication-lag" || strings.Join(skipped, ",") != "fault-domain-availability" {
		t.Errorf("file: run %v skipped %v", run, skipped)
	}
	// The file written back reads as the same scenario.
	data, err := harness.ScenarioFile(got, harness.DefaultScenario())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "skip-checks:") {
		t.Errorf("written file lacks skip-checks:\n%s", data)
	}
	again, _, err := harness.ParseScenarioFile("s.yaml", data)
	if err != nil || strings.Join(again.SkipChecks, ",") != "fault-domain-availability" {
		t.Errorf("read back: %v %v\n%s", again.SkipChecks, err, data)
	}
	if _, _, err := harness.ParseScenarioFile("s.yaml", []byte("scenario: region-outage\nskip-checks: [nope]\n")); err == nil || !strings.Contains(err.Error(), "skip-checks[0]") {
		t.Errorf("an unknown skipped check: %v", err)
	}
}

// A file with only faults gets the checks of its faults, not the base's.
func TestScenarioFileWithOnlyFaultsGetsDerivedChecks(t *testing.T) {
	sc, _, err := harness.ParseScenarioFile("s.yaml", []byte("scenario: region-outage\nset:\n  instances-per-region: 1\nfaults:\n  - name: fault-domain-loss\n"))
	if err != nil {
		t.Fatal(err)
	}
	run, _ := sc.ChecksToRun(false)
	if strings.Join(run, ",") != "validity,fault-domain-availability,rpo,ledger,cross-store" {
		t.Errorf("checks %v", run)
	}
}
