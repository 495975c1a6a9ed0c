// Package promises is the promise map in code: every promise of the BCDR
// article (and of the harness itself) with the figure promised, the checks
// that judge it, the scenarios whose runs are its evidence and the negative
// controls that show its checks can fail. docs/promises.md's map table
// agrees with it (a test compares them); bcdr validate runs it.
//
// The scenarios and controls here are the suites' rows of the same names
// (suites/region, suites/network, suites/hardware, suites/controls), cut to
// suite length the same way (Short), so that bcdr validate runs outside go
// test what the suites run inside it.
package promises

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/report"
)

// Promise is one row of the map: its ID, its text as in the first column
// of docs/promises.md's map (Harness marks a promise of the harness
// itself), the figure promised, the checks that judge it (FigureCheck: the
// one whose observed figure is the promise's), the scenarios (suite/row)
// whose runs are its evidence (Every: every run that judged one of its
// checks), and its negative controls (or ControlNote: why it has none that
// bcdr validate can run). report.PromiseSpec documents each field.
type Promise = report.PromiseSpec

// Map is the promise map, in the order of docs/promises.md.
var Map = []Promise{
	{ID: "failover-data-loss", Text: "unplanned region failover: data loss", Figure: "RPO at most 15 min",
		Checks: []string{"rpo", "replication-lag", "cross-store"}, FigureCheck: "rpo",
		Scenarios: []string{"region/region-outage-short", "network/wan-partition-then-outage"},
		Controls:  []string{"rpo-log-backup-above-budget", "log-shipping-lag-above-rpo", "blob-replication-above-rpo", "blob-replicator-drops-every-tenth"}},
	{ID: "failover-recovery-time", Text: "unplanned region failover: recovery time", Figure: "RTO 4 to 10 h (budget 4 h)",
		Checks: []string{"rto"}, FigureCheck: "rto",
		Scenarios: []string{"region/region-outage-short", "network/wan-partition-then-outage"},
		Controls:  []string{"rto-decision-window-above-budget"}},
	{ID: "hardware-faults", Text: "hardware faults inside a region (five fault domains)", Figure: "customers barely notice; no data loss",
		Checks: []string{"fault-domain-availability", "rpo", "ledger", "cross-store"}, FigureCheck: "fault-domain-availability",
		Scenarios: []string{"hardware/instance-crash", "hardware/fault-domain-loss"},
		Controls:  []string{"single-fault-domain-placement"}},
	{ID: "failover-without-loss", Text: "failover without possible data loss", Figure: "no customer consent needed",
		Checks: []string{"sign-off"}, FigureCheck: "sign-off",
		Scenarios:   []string{"network/region-isolation"},
		ControlNote: "the violating direction is the next promise's control (runbook-skips-sign-off-gate)"},
	{ID: "failover-with-loss", Text: "failover with possible data loss", Figure: "the customer's written sign-off first; a refusal leaves the environment waiting",
		Checks: []string{"sign-off"}, FigureCheck: "sign-off",
		Scenarios: []string{"region/region-outage-short", "region/sign-off-refused"},
		Controls:  []string{"runbook-skips-sign-off-gate"}},
	{ID: "customer-notice", Text: "customers are notified of a failover and of a failback", Figure: "a notice received by the notification sink the runbook posts to (customer-notified, recorded by the sink) before each traffic switch (front-door-switched), in both directions; a failover that needed sign-off names the expected loss",
		Checks:    []string{"customer-notice"},
		Scenarios: []string{"region/region-outage-short"},
		Controls:  []string{"runbook-skips-customer-notice", "notification-sink-down"}},
	{ID: "secondary-capacity", Text: "while failed over, the secondary carries the load (compute provisioned in both regions)", Figure: "acknowledged writes per service minute at least 0.8 of steady state's; median write latency (wall) at most 2 times steady state's plus 10 ms",
		Checks: []string{"secondary-capacity"}, FigureCheck: "secondary-capacity",
		Scenarios: []string{"region/region-outage-short"},
		Controls:  []string{"under-provisioned-secondary"}},
	{ID: "limited-mode", Text: "while failed over (\"limited mode\")", Figure: "update maintenance and package deployment refused throughout; financial reporting unavailable until a support request restores it in the secondary region alone (the runbook makes the request halfway through the failed-over period: support-request, then reporting-restored)",
		Checks:    []string{"limited-mode"},
		Scenarios: []string{"region/region-outage-short", "network/wan-partition-then-outage"},
		Controls:  []string{"runbook-skips-limited-mode", "aos-ignores-limited-mode", "runbook-ignores-reporting-request", "reporting-request-lifts-limited-mode"}},
	{ID: "restored-after-failback", Text: "after failback, everything restored", Figure: "financial reporting, maintenance and package deployment, and batch answer normally again; no request refused in limited mode; the database out of limited mode at the end",
		Checks:    []string{"restored-after-failback"},
		Scenarios: []string{"region/region-outage-short"},
		Controls:  []string{"runbook-leaves-limited-mode-on"}},
	{ID: "failback-no-loss", Text: "failback: no data loss", Figure: "zero acknowledged writes lost, including those acknowledged while failed over",
		Checks: []string{"failback-loss", "ledger", "cross-store"}, FigureCheck: "failback-loss",
		Scenarios: []string{"region/region-outage-short"},
		Controls:  []string{"failback-without-final-log-backup"}},
	{ID: "failback-interruption", Text: "failback: users interrupted", Figure: "at most a few minutes (budget 5 min)",
		Checks: []string{"failback-interruption"}, FigureCheck: "failback-interruption",
		Scenarios: []string{"region/region-outage-short"},
		Controls:  []string{"failback-slower-than-budgets"}},
	{ID: "failback-batch", Text: "failback: batch service", Figure: "down at most 25 min",
		Checks: []string{"batch-outage"}, FigureCheck: "batch-outage",
		Scenarios: []string{"region/region-outage-short"},
		Controls:  []string{"failback-slower-than-budgets"}},
	{ID: "ledger", Text: "ledger integrity", Figure: "every surviving entry balanced, none partial, none applied twice", Harness: true,
		Checks: []string{"ledger"}, Every: true,
		ControlNote: "TestLedgerControl in suites/controls corrupts a real drill's journal; no drill can make the ledger fail, so bcdr validate does not run it"},
	{ID: "cross-store", Text: "SQL and blob agree", Figure: "every invoice row's document present with its checksum, or blob loss inside the RPO window", Harness: true,
		Checks: []string{"cross-store"}, FigureCheck: "cross-store", Every: true,
		Controls: []string{"blob-replicator-drops-every-tenth"}},
	{ID: "cutover-fingerprint", Text: "the stores agree at each cutover", Figure: "at failback the region taking over holds exactly the rows and objects of the region left; at failover the promoted region holds a subset of the lost one's, identical where both hold a row", Harness: true,
		Checks:    []string{"cutover-fingerprint"},
		Scenarios: []string{"region/region-outage-short"},
		Controls:  []string{"corrupt-row-at-failback", "drop-object-at-failback"}},
	{ID: "valid-test", Text: "the test itself is valid", Figure: "enough traffic before the fault, the fault took effect, healthy before and after", Harness: true,
		Checks: []string{"validity"}, Every: true,
		Controls: []string{"too-little-traffic-before-fault"}},
}

// Short returns a built-in scenario cut to suite length, as
// suites/suitetest.Short does: 5 instances per region, 20 service minutes
// of steady state, a 15-minute decision window, 15 minutes failed over,
// non-region faults held 15 minutes, 10 minutes of traffic after.
func Short(builtin string) harness.Scenario {
	sc, ok := harness.Builtin(builtin)
	if !ok {
		sc = harness.DefaultScenario()
	}
	sc.Spec.InstancesPerRegion = 5
	sc.SteadyState = 20 * time.Minute
	sc.Runbook.DecisionWindow = 15 * time.Minute
	sc.Runbook.FailedOverFor = 15 * time.Minute
	sc.FaultHold = 15 * time.Minute
	sc.After = 10 * time.Minute
	return sc
}

func region(name, desc string, steps ...harness.FaultStep) harness.Scenario {
	sc := Short("region-outage")
	sc.Name, sc.Description = name, desc
	if len(steps) > 0 {
		sc.Faults = steps
	}
	return sc
}

func hardware(name, desc, fault string, params map[string]string) harness.Scenario {
	sc := Short("instance-crash")
	sc.Name, sc.Description = name, desc
	sc.Faults = []harness.FaultStep{{Name: fault, Params: params}}
	return sc
}

// scenarios are the runs of the map, by suite/row.
var scenarios = map[string]func() harness.Scenario{
	"region/region-outage-short": func() harness.Scenario {
		return region("region-outage-short", "The headline drill cut to suite length: region a lost, failover within the RTO and the RPO, limited mode, failback without loss within its interruption and batch budgets.")
	},
	"region/sign-off-refused": func() harness.Scenario {
		sc := region("sign-off-refused", "The secondary lags when region a is lost and the customer refuses sign-off: the environment waits for region a (no failover), which returns a fault hold after the refusal.")
		sc.Runbook.SignOff = "refuse"
		// No failover: nothing fails back, nothing runs in limited mode,
		// no customer is told of a move.
		sc.SkipChecks = []string{"customer-notice", "failback-loss", "failback-interruption", "batch-outage", "limited-mode", "restored-after-failback", "secondary-capacity", "cutover-fingerprint"}
		sc.Spec.LogBackupInterval = 12 * time.Minute
		return sc
	},
	"network/wan-partition-then-outage": func() harness.Scenario {
		return region("wan-partition-then-outage", "The WAN is cut, and 3 service minutes later region a is lost: the loss window includes the partition; the runbook must ask for sign-off, and the loss stays within the RPO.",
			harness.FaultStep{Name: "wan-partition", Duration: 20 * time.Minute},
			harness.FaultStep{Name: "region-outage", Params: map[string]string{"region": "a"}, At: 3 * time.Minute})
	},
	"network/region-isolation": func() harness.Scenario {
		return region("region-isolation", "Region a is cut off from its clients and from region b while its processes keep running: the runbook fails over; the isolated primary must not keep acknowledging writes that are then lost.",
			harness.FaultStep{Name: "region-isolation", Params: map[string]string{"region": "a"}})
	},
	"hardware/instance-crash": func() harness.Scenario {
		return hardware("instance-crash", "One AOS instance is killed; the load balancer stops sending to it and clients retry elsewhere.",
			"instance-crash", map[string]string{"region": "a", "instance": "0"})
	},
	"hardware/fault-domain-loss": func() harness.Scenario {
		return hardware("fault-domain-loss", "Every instance of fault domain 0 is killed (a rack's power); the other four domains carry the load.",
			"fault-domain-loss", map[string]string{"region": "a", "domain": "0"})
	},
}

// Scenario returns the scenario of a suite/row name.
func Scenario(name string) (harness.Scenario, bool) {
	f, ok := scenarios[name]
	if !ok {
		return harness.Scenario{}, false
	}
	return f(), true
}

// ScenarioNames lists the scenarios of the map, sorted.
func ScenarioNames() []string {
	var out []string
	for n := range scenarios {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Control is a negative control: a scenario built to violate a promise,
// and the verdict its check must reach to show that it can fail.
type Control struct {
	Name string
	// Base is the suite/row scenario it starts from, Knobs its settings;
	// NoFault drops the base's faults (a steady-state control).
	Base    string
	Knobs   []string
	NoFault bool
	// Checks are the checks it violates and Want the verdict each must
	// reach (fail; unknown for validity, whose failure makes a run unknown).
	Checks []string
	Want   assertions.Verdict
	Desc   string
}

// Controls are the negative controls of the map (suites/controls rows of
// the same names).
var Controls = []Control{
	{Name: "rpo-log-backup-above-budget", Base: "region/region-outage-short", Knobs: []string{"log-backup-interval=40m", "steady-state=30m", "rpo=15m"},
		Checks: []string{"rpo"}, Want: assertions.Fail, Desc: "log backups every 40 service minutes against a 15-minute RPO"},
	{Name: "log-shipping-lag-above-rpo", Base: "hardware/instance-crash", Knobs: []string{"log-backup-interval=25m", "steady-state=25m", "after=5m"}, NoFault: true,
		Checks: []string{"replication-lag"}, Want: assertions.Fail, Desc: "no fault, log backups every 25 service minutes against a 15-minute RPO"},
	{Name: "blob-replication-above-rpo", Base: "hardware/instance-crash", Knobs: []string{"blob-replication-interval=30m", "steady-state=45m", "after=5m"}, NoFault: true,
		Checks: []string{"replication-lag"}, Want: assertions.Fail, Desc: "no fault, blob replication rounds every 30 service minutes against a 15-minute RPO"},
	{Name: "blob-replicator-drops-every-tenth", Base: "region/region-outage-short", Knobs: []string{"blob-drop-every=10"},
		Checks: []string{"cross-store"}, Want: assertions.Fail, Desc: "the blob replicator silently skips every 10th object"},
	{Name: "rto-decision-window-above-budget", Base: "region/region-outage-short", Knobs: []string{"decision-window=25m", "rto=20m"},
		Checks: []string{"rto"}, Want: assertions.Fail, Desc: "a 25-minute decision window against a 20-minute RTO"},
	{Name: "single-fault-domain-placement", Base: "hardware/fault-domain-loss", Knobs: []string{"placement=single", "fault-hold=5m"},
		Checks: []string{"fault-domain-availability"}, Want: assertions.Fail, Desc: "every AOS instance in fault domain 0, which is lost"},
	{Name: "runbook-skips-sign-off-gate", Base: "region/region-outage-short", Knobs: []string{"skip-sign-off-gate=true", "log-backup-interval=12m"},
		Checks: []string{"sign-off"}, Want: assertions.Fail, Desc: "the secondary lags and the runbook fails over without asking"},
	{Name: "runbook-skips-customer-notice", Base: "region/region-outage-short", Knobs: []string{"skip-customer-notice=true"},
		Checks: []string{"customer-notice"}, Want: assertions.Fail, Desc: "no notice in either direction"},
	{Name: "notification-sink-down", Base: "region/region-outage-short", Knobs: []string{"notification-sink-down=true"},
		Checks: []string{"customer-notice"}, Want: assertions.Fail, Desc: "the notification sink answers 503 to every notice: the runbook posts, customers get nothing"},
	{Name: "runbook-skips-limited-mode", Base: "region/region-outage-short", Knobs: []string{"skip-limited-mode=true"},
		Checks: []string{"limited-mode"}, Want: assertions.Fail, Desc: "the runbook leaves limited mode off while failed over"},
	{Name: "aos-ignores-limited-mode", Base: "region/region-outage-short", Knobs: []string{"aos-ignore-limited-mode=true"},
		Checks: []string{"limited-mode"}, Want: assertions.Fail, Desc: "every AOS ignores limited mode"},
	{Name: "runbook-ignores-reporting-request", Base: "region/region-outage-short", Knobs: []string{"ignore-reporting-request=true"},
		Checks: []string{"limited-mode"}, Want: assertions.Fail, Desc: "the support request to restore financial reporting is recorded and nothing is done"},
	{Name: "reporting-request-lifts-limited-mode", Base: "region/region-outage-short", Knobs: []string{"reporting-request-lifts-limited-mode=true"},
		Checks: []string{"limited-mode"}, Want: assertions.Fail, Desc: "the request is carried out by leaving limited mode altogether"},
	{Name: "under-provisioned-secondary", Base: "region/region-outage-short", Knobs: []string{"secondary-link-latency-ms=200", "retry-budget=10m"},
		Checks: []string{"secondary-capacity"}, Want: assertions.Fail, Desc: "region b's client link answers 200 wall ms late"},
	{Name: "runbook-leaves-limited-mode-on", Base: "region/region-outage-short", Knobs: []string{"skip-limited-mode-off=true"},
		Checks: []string{"restored-after-failback"}, Want: assertions.Fail, Desc: "the failback does not take the environment out of limited mode"},
	{Name: "failback-without-final-log-backup", Base: "region/region-outage-short", Knobs: []string{"skip-final-log-backup=true"},
		Checks: []string{"failback-loss"}, Want: assertions.Fail, Desc: "failback without the tail-of-log backup"},
	{Name: "corrupt-row-at-failback", Base: "region/region-outage-short", Knobs: []string{"corrupt-row-at-failback=true"},
		Checks: []string{"cutover-fingerprint"}, Want: assertions.Fail, Desc: "one invoice in the region taking over gains a cent at the failback's cutover"},
	{Name: "drop-object-at-failback", Base: "region/region-outage-short", Knobs: []string{"drop-object-at-failback=true"},
		Checks: []string{"cutover-fingerprint"}, Want: assertions.Fail, Desc: "one document both regions hold is deleted from the region taking over at the failback's cutover"},
	{Name: "failback-slower-than-budgets", Base: "region/region-outage-short", Knobs: []string{"slow-switchover=30m"},
		Checks: []string{"failback-interruption", "batch-outage"}, Want: assertions.Fail, Desc: "the planned switch keeps the front door drained 30 minutes longer"},
	{Name: "too-little-traffic-before-fault", Base: "hardware/fault-domain-loss", Knobs: []string{"min-writes-before-fault=1000000"},
		Checks: []string{"validity"}, Want: assertions.Unknown, Desc: "more writes demanded before the fault than the workload makes"},
}

// LookupControl finds a control by name.
func LookupControl(name string) (Control, bool) {
	for _, c := range Controls {
		if c.Name == name {
			return c, true
		}
	}
	return Control{}, false
}

// Build returns the control's scenario, named after it.
func (c Control) Build() (harness.Scenario, error) {
	sc, ok := Scenario(c.Base)
	if !ok {
		return sc, fmt.Errorf("control %s: no scenario %s", c.Name, c.Base)
	}
	if c.NoFault {
		sc.Faults = nil
	}
	if err := sc.SetAll(c.Knobs); err != nil {
		return sc, fmt.Errorf("control %s: %w", c.Name, err)
	}
	// The checks the control must fail are judged whatever its faults call
	// for: a steady-state control (NoFault) derives none beyond the
	// always-run ones, and a control whose check was never run shows
	// nothing.
	sc.Checks = slices.Clone(sc.Checks) // the base scenario's list stays its own
	for _, want := range c.Checks {
		if !slices.Contains(sc.Checks, want) {
			sc.Checks = append(sc.Checks, want)
		}
	}
	sc.Name, sc.Description = c.Name, "Negative control: "+c.Desc+"."
	return sc, nil
}

// Lookup finds a promise by ID.
func Lookup(id string) (Promise, bool) {
	for _, p := range Map {
		if p.ID == id {
			return p, true
		}
	}
	return Promise{}, false
}
