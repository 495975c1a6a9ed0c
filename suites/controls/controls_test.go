// Package controls holds the negative controls: for every check, a drill
// built to violate the promise it guards, showing the check failing with an
// explanation that names the right operations. A check that has never been
// seen failing proves nothing.
package controls_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/suites/suitetest"
)

// control builds a row: base with knob settings, the violated check's
// verdict (fail, or unknown for validity), checks that must still pass, and
// further assertions.
func control(t *testing.T, base harness.Scenario, name, desc string, knobs []string,
	violated string, v assertions.Verdict, passing []string, then func(*testing.T, *harness.Outcome)) suitetest.Row {
	t.Helper()
	sc := base
	if err := sc.SetAll(knobs); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	sc.Name, sc.Description = name, desc
	sc.Expect = suitetest.With(suitetest.Pass(passing...), violated, v)
	return suitetest.Row{Scenario: sc, Then: then}
}

// failed fetches a check that must have failed and requires it to name
// operations of the given kinds that exist in the history.
func failed(t *testing.T, out *harness.Outcome, check string, kinds ...history.Kind) assertions.Result {
	t.Helper()
	r, ok := out.Check(check)
	if !ok {
		t.Fatalf("check %s did not run", check)
	}
	if r.Explanation == "" {
		t.Errorf("check %s failed without an explanation", check)
	}
	suitetest.OpsExist(t, out, r, kinds...)
	t.Logf("CONTROL %s: %s %s, observed %.0fs budget %.0fs (service), lost %d, violations %d: %s",
		out.Result.Scenario, r.Name, r.Verdict, r.ObservedServiceS, r.BudgetServiceS, r.LostCount, r.Violations, r.Explanation)
	return r
}

var writes = []history.Kind{history.JournalEntry, history.Invoice}

func TestControls(t *testing.T) {
	region := suitetest.Short("region-outage")
	noFault := suitetest.Short("instance-crash")
	noFault.Faults = nil
	hardware := suitetest.Short("fault-domain-loss")

	slowFailback := control(t, region, "failback-slower-than-budgets",
		"A failback whose planned switch keeps the front door drained 30 minutes longer (the slow-switchover defect) breaks the 5-minute write-interruption and 25-minute batch budgets: both failback checks must report the stretch and the probes that failed in it.",
		[]string{"slow-switchover=30m"}, "failback-interruption", assertions.Fail, []string{"validity", "failback-loss"},
		func(t *testing.T, out *harness.Outcome) {
			r := failed(t, out, "failback-interruption", writes...)
			if r.Window == nil || r.ObservedServiceS <= r.BudgetServiceS {
				t.Errorf("failback-interruption must give the stretch beyond its budget: %+v", r)
			}
			suitetest.CheckNames(t, out, "failback-interruption", "front-door-drained")
			b := failed(t, out, "batch-outage", history.Batch)
			if b.Violations == 0 {
				t.Errorf("batch-outage must count the failed batch probes")
			}
		})
	slowFailback.Scenario.Expect["batch-outage"] = assertions.Fail

	builtinHardware, _ := harness.Builtin("fault-domain-loss")
	builtinHardware.Expect = nil

	// A 40-minute stall then the loss: the writes of the stall are lost, and
	// rpo must measure them to the moment region a was lost.
	stallScenario := region
	stallScenario.Faults = []harness.FaultStep{{Name: "replication-stall-then-loss", Params: map[string]string{"region": "a", "stall": "40m"}}}
	stallThenLoss := control(t, stallScenario, "long-stall-then-loss",
		"The WAN fails for 40 service minutes while region a keeps taking writes, then region a is lost: the failover loses about 40 minutes of writes, beyond the 15-minute RPO, measured to the moment of loss (region-lost), not to the start of the stall.",
		nil, "rpo", assertions.Fail, []string{"validity"}, lossNamed(30))

	// The WAN is cut, region a is lost 40 minutes in, and the WAN heals
	// while region a is still down: nothing of region a may be shipped then.
	wanScenario := region
	wanScenario.Faults = []harness.FaultStep{{Name: "wan-partition", Duration: 45 * time.Minute},
		{Name: "region-outage", Params: map[string]string{"region": "a"}, At: 40 * time.Minute}}
	wanHeals := control(t, wanScenario, "wan-heals-during-loss",
		"The WAN is cut for 45 service minutes and region a is lost 40 minutes in: when the WAN heals region a is still down, and its log backups must not reach region b, so the failover loses the writes of the whole partition, beyond the RPO.",
		nil, "rpo", assertions.Fail, []string{"validity"}, lossNamed(30))

	suitetest.RunTable(t, []suitetest.Row{
		control(t, region, "rpo-log-backup-above-budget",
			"Log backups every 40 service minutes against a 15-minute RPO: region a is lost 30 minutes after the last backup, so the writes of those 30 minutes are lost.",
			[]string{"log-backup-interval=40m", "steady-state=30m", "rpo=15m"}, "rpo", assertions.Fail, []string{"validity"},
			func(t *testing.T, out *harness.Outcome) {
				r := failed(t, out, "rpo", writes...)
				if r.LostCount == 0 || r.ObservedServiceS <= r.BudgetServiceS {
					t.Errorf("rpo must name lost writes beyond the budget: lost %d, observed %.0fs", r.LostCount, r.ObservedServiceS)
				}
				suitetest.CheckNames(t, out, "rpo", "log backup interval", "region-outage")
			}),
		control(t, region, "rto-decision-window-above-budget",
			"The runbook's decision window (25m) alone is longer than the RTO budget (20m): writes cannot recover in region b in time.",
			[]string{"decision-window=25m", "rto=20m"}, "rto", assertions.Fail, []string{"validity"},
			func(t *testing.T, out *harness.Outcome) {
				r := failed(t, out, "rto", history.Event)
				if r.ObservedServiceS <= r.BudgetServiceS {
					t.Errorf("rto observed %.0fs within the budget %.0fs", r.ObservedServiceS, r.BudgetServiceS)
				}
				suitetest.CheckNames(t, out, "rto", "region-outage")
			}),
		control(t, region, "failback-without-final-log-backup",
			"Failback promotes region a without the tail-of-log backup: the writes region b took since its last log backup are lost.",
			[]string{"skip-final-log-backup=true"}, "failback-loss", assertions.Fail, []string{"validity", "rpo"},
			func(t *testing.T, out *harness.Outcome) {
				r := failed(t, out, "failback-loss", writes...)
				if r.LostCount == 0 || r.Lost[0].Region != "b" {
					t.Errorf("failback-loss must name writes acknowledged in region b: %+v", r.Lost)
				}
				suitetest.CheckNames(t, out, "failback-loss", "final log backup")
			}),
		slowFailback,
		control(t, region, "corrupt-row-at-failback",
			"At the failback's cutover, once region a is promoted and before traffic returns, one invoice in region a gains a cent (the corrupt-row-at-failback defect): the stores no longer agree, and the bisection of the cutover fingerprint must name that invoice and what each region holds.",
			[]string{"corrupt-row-at-failback=true"}, "cutover-fingerprint", assertions.Fail, []string{"validity", "failback-loss", "cross-store"},
			cutoverDefectNamed("altered invoice", func(key string) []string {
				return []string{"invoices " + key + " differs: region b has ", "region a has "}
			})),
		control(t, region, "drop-object-at-failback",
			"At the failback's cutover, once region a is promoted and before traffic returns, one invoice document both regions hold identically is deleted from region a's bucket (the drop-object-at-failback defect): the buckets no longer agree, and the bisection of the cutover fingerprint must name that object as only in region b.",
			[]string{"drop-object-at-failback=true"}, "cutover-fingerprint", assertions.Fail, []string{"validity", "failback-loss"},
			cutoverDefectNamed("dropped object", func(key string) []string {
				return []string{"objects " + key + " only in region b", "missing from region a"}
			})),
		control(t, hardware, "single-fault-domain-placement",
			"Every AOS instance placed in fault domain 0 (a misconfiguration), and fault domain 0 is lost for 5 service minutes (inside the decision window, so no failover): no instance is left, every request fails.",
			[]string{"placement=single", "fault-hold=5m"}, "fault-domain-availability", assertions.Fail, []string{"validity"},
			func(t *testing.T, out *harness.Outcome) {
				r := failed(t, out, "fault-domain-availability", writes...)
				if r.Violations == 0 {
					t.Errorf("fault-domain-availability must count the failed requests")
				}
				suitetest.CheckNames(t, out, "fault-domain-availability", "fault-domain-loss", "failed past the retry budget")
			}),
		control(t, region, "blob-replicator-drops-every-tenth",
			"The blob replicator silently skips every 10th object: after failover, region b holds invoice rows whose documents never arrived, long before the fault.",
			[]string{"blob-drop-every=10"}, "cross-store", assertions.Fail, []string{"validity"},
			func(t *testing.T, out *harness.Outcome) {
				r := failed(t, out, "cross-store", history.Invoice)
				if r.Violations == 0 {
					t.Errorf("cross-store must count the rows without documents")
				}
				suitetest.CheckNames(t, out, "cross-store", "missing from the bucket in region b")
			}),
		control(t, region, "runbook-skips-limited-mode",
			"The runbook leaves limited mode off while failed over: region b accepts maintenance and serves financial reports.",
			[]string{"skip-limited-mode=true"}, "limited-mode", assertions.Fail, []string{"validity"},
			limitedModeNamed),
		control(t, region, "aos-ignores-limited-mode",
			"The runbook sets limited mode but every AOS ignores it: region b accepts maintenance and serves reports while failed over.",
			[]string{"aos-ignore-limited-mode=true"}, "limited-mode", assertions.Fail, []string{"validity"},
			limitedModeNamed),
		control(t, region, "runbook-ignores-reporting-request",
			"Halfway through the failed-over period the customer asks support to restore financial reporting, and the runbook does nothing: reports stay refused (HTTP 423) after the request.",
			[]string{"ignore-reporting-request=true"}, "limited-mode", assertions.Fail, []string{"validity", "customer-notice", "restored-after-failback"},
			func(t *testing.T, out *harness.Outcome) {
				r := failed(t, out, "limited-mode", history.Report)
				if r.Violations == 0 {
					t.Errorf("limited-mode must count the reports refused after the request")
				}
				suitetest.CheckNames(t, out, "limited-mode", "after the support request to restore reporting", "never carried out")
			}),
		control(t, region, "reporting-request-lifts-limited-mode",
			"The runbook carries out the customer's request to restore financial reporting by leaving limited mode altogether: region b accepts maintenance and package deployment for the rest of the failed-over period.",
			[]string{"reporting-request-lifts-limited-mode=true"}, "limited-mode", assertions.Fail, []string{"validity", "customer-notice"},
			func(t *testing.T, out *harness.Outcome) {
				r := failed(t, out, "limited-mode", history.Maintenance)
				if r.Violations == 0 {
					t.Errorf("limited-mode must count the maintenance requests accepted")
				}
				suitetest.CheckNames(t, out, "limited-mode", "accepted by", "carried out (reporting-restored)")
			}),
		control(t, region, "runbook-leaves-limited-mode-on",
			"The failback switches traffic back to region a without taking the environment out of limited mode: financial reports and maintenance stay refused (HTTP 423) after failback, and region a's database is still in limited mode at the end.",
			[]string{"skip-limited-mode-off=true"}, "restored-after-failback", assertions.Fail, []string{"validity", "limited-mode", "customer-notice", "failback-loss"},
			func(t *testing.T, out *harness.Outcome) {
				r := failed(t, out, "restored-after-failback", history.Maintenance, history.Report)
				if r.Violations == 0 || r.Window == nil {
					t.Errorf("restored-after-failback must count the refused requests and the stretch they span: %+v", r)
				}
				suitetest.CheckNames(t, out, "restored-after-failback", "refused in limited mode", "still in limited mode at the end")
			}),
		control(t, region, "runbook-skips-customer-notice",
			"The runbook fails over and back without notifying customers: neither traffic switch is preceded by a notice.",
			[]string{"skip-customer-notice=true"}, "customer-notice", assertions.Fail, []string{"validity", "sign-off", "limited-mode", "restored-after-failback"},
			func(t *testing.T, out *harness.Outcome) {
				r := failed(t, out, "customer-notice", history.Event)
				if r.Violations != 2 {
					t.Errorf("customer-notice must name both switches without a notice: %d violations", r.Violations)
				}
				suitetest.CheckNames(t, out, "customer-notice", "no failover notice reached customers before the traffic switch to region b",
					"no failback notice reached customers before the traffic switch to region a")
			}),
		control(t, region, "notification-sink-down",
			"The runbook posts its notices, but the customers' notification sink answers 503 to every one (the notification-sink-down defect): the runbook tries each three times and moves traffic anyway, and no customer was told of either switch.",
			[]string{"notification-sink-down=true"}, "customer-notice", assertions.Fail, []string{"validity", "sign-off", "limited-mode", "restored-after-failback"},
			func(t *testing.T, out *harness.Outcome) {
				r := failed(t, out, "customer-notice", history.Event)
				if r.Violations != 2 {
					t.Errorf("customer-notice must name both switches without a notice received: %d violations", r.Violations)
				}
				if n := out.History.Events(history.EvCustomerNotified); len(n) != 0 {
					t.Errorf("a sink that answers 503 recorded notices: %v", n)
				}
				suitetest.CheckNames(t, out, "customer-notice", "no failover notice reached customers before the traffic switch to region b",
					"no failback notice reached customers before the traffic switch to region a", "HTTP 503")
			}),
		control(t, region, "under-provisioned-secondary",
			"Region b is under-provisioned: its client link answers 200 wall milliseconds late (the secondary-link-latency-ms defect), so once failed over every write takes several times its steady-state latency and the clients keep up with fewer writes. A 10-minute retry budget gives an attempt 750 ms wall, so the slow link slows writes without timing them out.",
			[]string{"secondary-link-latency-ms=200", "retry-budget=10m"}, "secondary-capacity", assertions.Fail, []string{"validity", "limited-mode", "customer-notice"},
			func(t *testing.T, out *harness.Outcome) {
				r := failed(t, out, "secondary-capacity", writes...)
				if r.Window == nil || r.Observed <= r.Budget {
					t.Errorf("secondary-capacity must give the median latency over its budget and the writes it read: %+v", r)
				}
				suitetest.CheckNames(t, out, "secondary-capacity", "did not carry the load", "median write")
			}),
		control(t, region, "runbook-skips-sign-off-gate",
			"Log backups every 12 minutes, so the secondary lags when region a is lost, and the runbook fails over without asking for sign-off: acknowledged writes are lost without the customer's consent.",
			[]string{"skip-sign-off-gate=true", "log-backup-interval=12m"}, "sign-off", assertions.Fail, []string{"validity", "rpo"},
			func(t *testing.T, out *harness.Outcome) {
				r := failed(t, out, "sign-off", writes...)
				if r.LostCount == 0 {
					t.Errorf("sign-off must name the writes lost without consent")
				}
				suitetest.CheckNames(t, out, "sign-off", "without the customer's written sign-off", "no sign-off was requested")
			}),
		control(t, noFault, "log-shipping-lag-above-rpo",
			"No fault at all, but log backups run every 25 service minutes against a 15-minute RPO: during steady state the secondary trails the primary by more than the budget, and the check must name the first sample over it.",
			[]string{"log-backup-interval=25m", "steady-state=25m", "after=5m"}, "replication-lag", assertions.Fail, []string{"validity", "rpo", "ledger"},
			func(t *testing.T, out *harness.Outcome) {
				r := failed(t, out, "replication-lag", history.Event)
				suitetest.CheckNames(t, out, "replication-lag", "SQL in", "log backup")
				if r.Window == nil || r.Violations == 0 {
					t.Errorf("replication-lag must say when the lag went over the budget")
				}
			}),
		control(t, noFault, "blob-replication-above-rpo",
			"No fault at all, but blob replication runs every 30 service minutes against a 15-minute RPO: documents written since a round wait up to 30 minutes for the next, and the check must see them at risk between rounds, not only while a round lists them.",
			[]string{"blob-replication-interval=30m", "steady-state=45m", "after=5m"}, "replication-lag", assertions.Fail, []string{"validity", "ledger"},
			func(t *testing.T, out *harness.Outcome) {
				r := failed(t, out, "replication-lag", history.Event)
				suitetest.CheckNames(t, out, "replication-lag", "blob in", "blob replication")
				if r.Window == nil || r.Violations < 2 {
					t.Errorf("replication-lag must see the blob lag over the budget in several samples between rounds, saw %d", r.Violations)
				}
			}),
		// The built-in hardware drill as a user runs it, with a scale set
		// of one instance: its derived fault-domain-availability check
		// (no checks named) must fail.
		control(t, builtinHardware, "builtin-fault-domain-loss-scale-set-of-one",
			"The built-in fault-domain-loss drill with one AOS instance per region: losing its fault domain leaves no instance, customers' requests fail, and the check the fault calls for fails without the scenario naming it.",
			[]string{"instances-per-region=1"}, "fault-domain-availability", assertions.Fail, []string{"validity"},
			func(t *testing.T, out *harness.Outcome) {
				failed(t, out, "fault-domain-availability", writes...)
				if out.Result.Verdict != assertions.Fail {
					t.Errorf("run verdict %s, want fail", out.Result.Verdict)
				}
			}),
		stallThenLoss,
		wanHeals,
		control(t, hardware, "too-little-traffic-before-fault",
			"The run demands more writes before the fault than the workload can make: the run cannot tell, so validity is unknown, not pass.",
			[]string{"min-writes-before-fault=1000000"}, "validity", assertions.Unknown, nil,
			func(t *testing.T, out *harness.Outcome) {
				r, _ := out.Check("validity")
				if !strings.Contains(r.Explanation, "acknowledged writes before the fault") {
					t.Errorf("validity must say the traffic was too little: %s", r.Explanation)
				}
				if out.Result.Verdict == assertions.Pass {
					t.Errorf("an invalid run passed")
				}
			}),
	})
}

// lossNamed requires rpo to fail with a loss window of at least min
// service minutes, measured to the region-lost moment, every lost write
// inside it.
func lossNamed(min int) func(*testing.T, *harness.Outcome) {
	return func(t *testing.T, out *harness.Outcome) {
		t.Helper()
		r := failed(t, out, "rpo", writes...)
		if r.LostCount == 0 || r.Observed < time.Duration(min)*time.Minute {
			t.Errorf("rpo must name a loss window of at least %dm: observed %s, lost %d", min, r.Observed, r.LostCount)
		}
		suitetest.CheckNames(t, out, "rpo", "region-lost")
		if strings.Contains(r.Explanation, "INCONSISTENT") {
			t.Errorf("the loss window does not hold the lost writes: %s", r.Explanation)
		}
	}
}

func limitedModeNamed(t *testing.T, out *harness.Outcome) {
	t.Helper()
	r := failed(t, out, "limited-mode", history.Maintenance, history.Report)
	if r.Violations == 0 {
		t.Errorf("limited-mode must count the accepted requests")
	}
	suitetest.CheckNames(t, out, "limited-mode", "while failed over")
}

// cutoverDefectNamed: cutover-fingerprint names exactly the one row or
// object the cutover defect damaged (the key its event records), in the
// words names gives for that key.
func cutoverDefectNamed(what string, names func(key string) []string) func(*testing.T, *harness.Outcome) {
	return func(t *testing.T, out *harness.Outcome) {
		t.Helper()
		r, ok := out.Check("cutover-fingerprint")
		if !ok {
			t.Fatal("check cutover-fingerprint did not run")
		}
		key := ""
		for _, op := range out.History.Ops {
			if op.Kind == history.Event && op.Key == harness.EvCutoverDefect {
				key, _ = op.Value["key"].(string)
			}
		}
		t.Logf("CONTROL %s: %s %s, violations %d: %s", out.Result.Scenario, r.Name, r.Verdict, r.Violations, r.Explanation)
		if key == "" || r.Violations != 1 {
			t.Fatalf("cutover-fingerprint must name the one %s (%q): %d violations", what, key, r.Violations)
		}
		suitetest.CheckNames(t, out, "cutover-fingerprint", names(key)...)
	}
}
