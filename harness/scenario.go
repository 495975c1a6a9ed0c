// Package harness runs drills: it stands the environment up, drives the
// finance workload through it, injects the scenario's faults, lets the DR
// runbook act, records everything in a history, and hands the history and
// the surviving data to the checks.
//
// A Scenario is data: topology, workload, faults, runbook policy, budgets and
// the checks to run. A suite is a table of scenarios.
package harness

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/topology"
)

// WorkloadConfig shapes the client traffic.
type WorkloadConfig struct {
	Clients int     `json:"clients"`
	Rate    float64 `json:"rate"` // business writes per wall second, all clients together
	// InvoiceShare is the fraction of writes that are invoices (with a document).
	InvoiceShare float64 `json:"invoice_share"`
	// ProbeEvery is the service time between batch, report and maintenance probes.
	ProbeEvery time.Duration `json:"probe_every"`
}

// FaultStep injects one fault from the catalogue.
type FaultStep struct {
	Name   string            `json:"name"`
	Params map[string]string `json:"params,omitempty"`
	// At is the service time after the steady-state phase when it is injected.
	At time.Duration `json:"at"`
	// Duration is how long (service time) before it is recovered; 0 means
	// "once the runbook has failed over and the failed-over period is over"
	// for region faults, and the scenario's FaultHold otherwise.
	Duration time.Duration `json:"duration"`
	// After names a recorded event (history.EvFailbackStart, say) that must
	// happen before At starts to count: a fault that strikes during the
	// failback. "" = the fault's own default (faults.Definition.After),
	// else the start of the fault phase.
	After string `json:"after,omitempty"`
}

// RunbookConfig is the DR runbook's policy.
type RunbookConfig struct {
	// DecisionWindow is how long an outage must last before the region is
	// judged not to come back in reasonable time (service time).
	DecisionWindow time.Duration `json:"decision_window"`
	// DetectAfter is how many failed health probes in a row make an outage.
	DetectAfter int `json:"detect_after"`
	// SignOff is the customer's answer when a failover could lose data:
	// "approve" or "refuse".
	SignOff string `json:"sign_off"`
	// FailedOverFor is how long the environment runs failed over before the
	// primary region is brought back (service time).
	FailedOverFor time.Duration `json:"failed_over_for"`
	// SkipFinalLogBackup makes failback skip the tail-of-log backup (a
	// defect, for the failback-loss negative control).
	SkipFinalLogBackup bool `json:"skip_final_log_backup"`
	// SkipSignOffGate makes the runbook fail over without asking (a defect,
	// for the sign-off negative control).
	SkipSignOffGate bool `json:"skip_sign_off_gate"`
	// SkipLimitedMode makes the runbook leave limited mode off while failed
	// over (a defect, for the limited-mode negative control).
	SkipLimitedMode bool `json:"skip_limited_mode"`
	// SkipLimitedModeOff makes the failback leave limited mode on (a
	// defect, for the restored-after-failback negative control).
	SkipLimitedModeOff bool `json:"skip_limited_mode_off"`
	// SkipCustomerNotice makes the runbook move traffic without notifying
	// customers, in both directions (a defect, for the customer-notice
	// negative control).
	SkipCustomerNotice bool `json:"skip_customer_notice"`
	// IgnoreReportingRequest makes the runbook take the customer's support
	// request to restore financial reporting while failed over and do
	// nothing; ReportingRequestLiftsLimitedMode makes it carry the request
	// out by leaving limited mode altogether (maintenance allowed again).
	// Both are defects, for the limited-mode negative controls.
	IgnoreReportingRequest           bool `json:"ignore_reporting_request,omitempty"`
	ReportingRequestLiftsLimitedMode bool `json:"reporting_request_lifts_limited_mode,omitempty"`
	// SlowSwitchover keeps the front door drained this much longer during
	// the failback's planned switch (service time; a defect, for the
	// failback-interruption and batch-outage negative control).
	SlowSwitchover time.Duration `json:"slow_switchover"`
	// CorruptRowAtFailback adds a cent to one invoice in the region taking
	// over, and DropObjectAtFailback deletes one object from its bucket,
	// at the failback's cutover, before the stores are fingerprinted
	// (defects, for the cutover-fingerprint negative controls).
	CorruptRowAtFailback bool `json:"corrupt_row_at_failback,omitempty"`
	DropObjectAtFailback bool `json:"drop_object_at_failback,omitempty"`
}

// Scenario is one drill, as data.
type Scenario struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Seed        int64  `json:"seed"`
	// Scale is service seconds per wall second; 0 leaves it to the provider
	// (topology.ProviderScale: 200 for local, lower for containers).
	Scale    float64            `json:"time_scale"`
	Spec     topology.Spec      `json:"topology"`
	Workload WorkloadConfig     `json:"workload"`
	Faults   []FaultStep        `json:"faults"`
	Runbook  RunbookConfig      `json:"runbook"`
	Budgets  assertions.Budgets `json:"budgets"`
	// SteadyState is the service time of normal traffic before the first fault.
	SteadyState time.Duration `json:"steady_state"`
	// FaultHold is how long a non-region fault stays injected by default.
	FaultHold time.Duration `json:"fault_hold"`
	// After is the service time of traffic after the last recovery.
	After time.Duration `json:"after"`
	// Checks names checks to run besides the ones the faults call for
	// (DerivedChecks): it adds, never replaces.
	Checks []string `json:"checks"`
	// SkipChecks drops checks the faults call for (or Checks names); every
	// report shows what was dropped.
	SkipChecks []string `json:"skip_checks,omitempty"`
	// Expect gives the verdict each check must reach (suites compare).
	Expect map[string]assertions.Verdict `json:"expect,omitempty"`
	// SecondaryLinkLatencyMS under-provisions region b: its client link
	// answers this many wall milliseconds late from the start (a defect,
	// for the secondary-capacity negative control; 0 = none).
	SecondaryLinkLatencyMS int `json:"secondary_link_latency_ms,omitempty"`
	// NotificationSinkDown makes the run's notification sink answer 503
	// to every notice (a defect, for the customer-notice negative
	// control: no notice reaches customers).
	NotificationSinkDown bool `json:"notification_sink_down,omitempty"`
	// NotifyURL, when set, is a webhook the runbook posts every notice to
	// as well as to the sink; it must be, or resolve only to, a loopback
	// address (CheckNotifyURL). What it answers is not judged.
	NotifyURL string `json:"notify_url,omitempty"`
}

// DefaultScenario is the region drill with the documented defaults.
func DefaultScenario() Scenario {
	return Scenario{
		Name:        "region-outage",
		Description: "Region A is lost; the runbook fails over to region B after the decision window, runs in limited mode, then fails back with no loss.",
		Seed:        1,
		Spec:        topology.DefaultSpec(),
		Workload:    WorkloadConfig{Clients: 8, Rate: 60, InvoiceShare: 0.3, ProbeEvery: 2 * time.Minute},
		Faults:      []FaultStep{{Name: "region-outage", Params: map[string]string{"region": "a"}}},
		Runbook: RunbookConfig{DecisionWindow: 30 * time.Minute, DetectAfter: 3, SignOff: "approve",
			FailedOverFor: 30 * time.Minute},
		Budgets:     assertions.DefaultBudgets(),
		SteadyState: 45 * time.Minute,
		FaultHold:   20 * time.Minute,
		After:       15 * time.Minute,
		// No Checks: a region loss calls for every region check
		// (DerivedChecks), and a file that replaces the faults gets the
		// checks of its own faults.
	}
}

// Knob is one named setting of a scenario, settable as --set name=value.
type Knob struct {
	Name string
	Help string
	// Range is the values the knob takes, as shown by bcdr drill --help:
	// "1..10000", "1s..24h", "true|false".
	Range string
	get   func(*Scenario) string
	set   func(*Scenario, string) error
	// check tells whether the scenario's value is in range (nil: every value
	// the field can hold is); Validate runs it on scenarios built in Go.
	check func(*Scenario) error
}

// Ranges of the numeric knobs. A value outside them either cannot run (a
// rate of 1e12 writes per second has no ticker period) or asks the machine
// for more than a drill can have (100000 clients).
const (
	MaxRate           = 10000 // business writes per wall second
	MaxClients        = 256
	MaxTimeScale      = 1000
	MaxInstances      = 50
	MaxFaultDomains   = 5
	MaxDetectAfter    = 100
	MaxMinWrites      = 100_000_000
	MaxBlobDropEvery  = 1_000_000
	MinSchedule       = time.Second // log backup, copy, restore, blob replication, health probes
	MaxSchedule       = 24 * time.Hour
	MinPhase          = time.Second // steady state, holds, windows, the failed-over period
	MaxPhase          = 168 * time.Hour
	MinBudget         = time.Second
	MaxBudget         = 720 * time.Hour
	MaxFaultOffset    = 168 * time.Hour // a fault step's at and duration
	maxSlowSwitchover = 168 * time.Hour
	// MaxSecondaryLinkLatencyMS bounds the secondary-link-latency-ms defect
	// (wall milliseconds).
	MaxSecondaryLinkLatencyMS = 1000
)

// shortDur writes a duration without its zero tails: 24h, 1h30m, 1s.
func shortDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func rangeError(rng, got string) error {
	return fmt.Errorf("must be in %s, got %s", rng, got)
}

func durKnob(name, help string, min, max time.Duration, p func(*Scenario) *time.Duration) Knob {
	rng := shortDur(min) + ".." + shortDur(max)
	return Knob{Name: name, Help: help, Range: rng,
		get: func(s *Scenario) string { return p(s).String() },
		set: func(s *Scenario, v string) error {
			d, err := time.ParseDuration(strings.TrimSpace(v))
			if err != nil {
				if overflowsDuration(v) {
					return rangeError(rng, v)
				}
				return fmt.Errorf("not a duration (want e.g. 15m, 4h): %q", v)
			}
			if d < min || d > max {
				return rangeError(rng, v)
			}
			*p(s) = d
			return nil
		},
		check: func(s *Scenario) error {
			if d := *p(s); d < min || d > max {
				return rangeError(rng, d.String())
			}
			return nil
		}}
}

// overflowsDuration tells whether v is a duration too large for
// time.Duration (which time.ParseDuration reports only as "invalid
// duration"): a plain number that overflows, and valid once made small.
func overflowsDuration(v string) bool {
	v = strings.TrimLeft(strings.TrimSpace(v), "+-")
	i := strings.IndexFunc(v, func(r rune) bool { return r != '.' && (r < '0' || r > '9') })
	if i <= 0 || strings.Count(v[:i], ".") > 1 || v[:i] == "." {
		return false
	}
	if _, err := time.ParseDuration(v); err == nil {
		return false
	}
	_, err := time.ParseDuration("1" + v[i:])
	return err == nil
}

// parseInt reads a decimal integer written the plain way (no sign but -, no
// leading zeros, no base prefix); ok is false for anything else. An integer
// too big for int64 reads as ±inf (big = true).
func parseInt(v string) (n int64, big, ok bool) {
	v = strings.TrimSpace(v)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return n, true, true
		}
		return 0, false, false
	}
	if strconv.FormatInt(n, 10) != v {
		return 0, false, false
	}
	return n, false, true
}

func intKnob(name, help string, min, max int, p func(*Scenario) *int) Knob {
	rng := fmt.Sprintf("%d..%d", min, max)
	return Knob{Name: name, Help: help, Range: rng,
		get: func(s *Scenario) string { return strconv.Itoa(*p(s)) },
		set: func(s *Scenario, v string) error {
			n, big, ok := parseInt(v)
			if !ok {
				return fmt.Errorf("not an integer: %q", v)
			}
			if big || n < int64(min) || n > int64(max) {
				return rangeError(rng, strings.TrimSpace(v))
			}
			*p(s) = int(n)
			return nil
		},
		check: func(s *Scenario) error {
			if n := *p(s); n < min || n > max {
				return rangeError(rng, strconv.Itoa(n))
			}
			return nil
		}}
}

// parseFloat reads a finite number; NaN and infinities are refused.
func parseFloat(v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("too large or too small a number: %q", v)
		}
		return 0, fmt.Errorf("not a number: %q", v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("must be a finite number, got %q", v)
	}
	return f, nil
}

func floatKnob(name, help string, min, max float64, p func(*Scenario) *float64) Knob {
	rng := fmt.Sprintf("%g..%g", min, max)
	inRange := func(f float64) bool { return f >= min && f <= max } // false for NaN
	return Knob{Name: name, Help: help, Range: rng,
		get: func(s *Scenario) string { return strconv.FormatFloat(*p(s), 'g', -1, 64) },
		set: func(s *Scenario, v string) error {
			f, err := parseFloat(v)
			if err != nil {
				return err
			}
			if !inRange(f) {
				return rangeError(rng, strings.TrimSpace(v))
			}
			*p(s) = f
			return nil
		},
		check: func(s *Scenario) error {
			if f := *p(s); !inRange(f) {
				return rangeError(rng, strconv.FormatFloat(f, 'g', -1, 64))
			}
			return nil
		}}
}

// scaleKnob is the time scale: a number in 1..MaxTimeScale, or auto (0) for
// the provider's own.
func scaleKnob() Knob {
	k := floatKnob("time-scale", "service seconds per wall second (auto: the provider's, "+topology.ScaleHelp()+")", 1, MaxTimeScale,
		func(s *Scenario) *float64 { return &s.Scale })
	get, set, check := k.get, k.set, k.check
	k.Range = "auto or " + k.Range
	k.get = func(s *Scenario) string {
		if s.Scale == 0 {
			return "auto"
		}
		return get(s)
	}
	k.set = func(s *Scenario, v string) error {
		if v := strings.TrimSpace(v); v == "auto" || v == "0" {
			s.Scale = 0
			return nil
		}
		if err := set(s, v); err != nil {
			return fmt.Errorf("%v (or auto)", err)
		}
		return nil
	}
	k.check = func(s *Scenario) error {
		if s.Scale == 0 {
			return nil
		}
		if err := check(s); err != nil {
			return fmt.Errorf("%v (or auto)", err)
		}
		return nil
	}
	return k
}

func blobEngineKnob() Knob {
	k := choiceKnob("blob-engine", "what keeps the buckets in sync: minio = MinIO's own bucket replication ("+
		strings.Join(topology.BlobEngineProviders(topology.BlobEngineMinIO), ", ")+"), "+
		"s3 = the harness's replicator over any S3 server; auto: the provider's ("+topology.BlobEngineHelp()+")",
		[]string{"auto", topology.BlobEngineMinIO, topology.BlobEngineS3}, func(s *Scenario) *string { return &s.Spec.BlobEngine })
	get, set := k.get, k.set
	k.get = func(s *Scenario) string {
		if s.Spec.BlobEngine == "" {
			return "auto"
		}
		return get(s)
	}
	k.set = func(s *Scenario, v string) error {
		if err := set(s, v); err != nil {
			return err
		}
		if v == "auto" {
			s.Spec.BlobEngine = ""
		}
		return nil
	}
	return k
}

// BlobEngine is the blob engine the scenario runs: its own, or its provider's.
func (s *Scenario) BlobEngine() string {
	if s.Spec.BlobEngine != "" {
		return s.Spec.BlobEngine
	}
	return topology.ProviderBlobEngine(s.Spec.Provider)
}

// TimeScale is the scale the scenario runs at: its own, or its provider's.
func (s *Scenario) TimeScale() float64 {
	if s.Scale > 0 {
		return s.Scale
	}
	return topology.ProviderScale(s.Spec.Provider)
}

func boolKnob(name, help string, p func(*Scenario) *bool) Knob {
	return Knob{Name: name, Help: help, Range: "true|false",
		get: func(s *Scenario) string { return fmt.Sprint(*p(s)) },
		set: func(s *Scenario, v string) error {
			switch v {
			case "true", "1", "yes":
				*p(s) = true
			case "false", "0", "no":
				*p(s) = false
			default:
				return fmt.Errorf("not a boolean (true or false): %q", v)
			}
			return nil
		}}
}

func choiceKnob(name, help string, choices []string, p func(*Scenario) *string) Knob {
	return Knob{Name: name, Help: help + " (" + strings.Join(choices, ", ") + ")", Range: strings.Join(choices, "|"),
		get: func(s *Scenario) string { return *p(s) },
		set: func(s *Scenario, v string) error {
			for _, c := range choices {
				if v == c {
					*p(s) = v
					return nil
				}
			}
			return fmt.Errorf("must be one of %s, got %q", strings.Join(choices, ", "), v)
		}}
}

// notifyURLKnob is the webhook every notice is also posted to: "" (none)
// or an http(s) URL on loopback.
func notifyURLKnob() Knob {
	check := func(s *Scenario) error { return CheckNotifyURL(s.NotifyURL) }
	return Knob{Name: "notify-url", Help: "a webhook that also gets every customer notice, besides the run's own notification sink (loopback only: a drill never sends traffic off the machine; empty = none)",
		Range: "http://127.0.0.1:PORT/PATH or empty",
		get:   func(s *Scenario) string { return s.NotifyURL },
		set: func(s *Scenario, v string) error {
			if err := CheckNotifyURL(v); err != nil {
				return err
			}
			s.NotifyURL = v
			return nil
		},
		check: check}
}

// providerKnob chooses among the registered providers (topology/providers),
// each described by its own help line.
func providerKnob() Knob {
	var lines []string
	for _, d := range topology.ProviderDefs() {
		lines = append(lines, d.Name+": "+d.Help)
	}
	return choiceKnob("provider", "where the environment runs; "+strings.Join(lines, "; "), topology.Providers(), func(s *Scenario) *string { return &s.Spec.Provider })
}

// Knobs lists every setting, in help order.
func Knobs() []Knob {
	return []Knob{
		scaleKnob(),
		{Name: "seed", Help: "seed of every random choice (workload, schedules)", Range: "0..9223372036854775807",
			get: func(s *Scenario) string { return fmt.Sprint(s.Seed) },
			set: func(s *Scenario, v string) error {
				n, big, ok := parseInt(v)
				if !ok {
					return fmt.Errorf("not an integer: %q", v)
				}
				if big || n < 0 {
					return rangeError("0..9223372036854775807", strings.TrimSpace(v))
				}
				s.Seed = n
				return nil
			}},
		providerKnob(),
		choiceKnob("sql-engine", "SQL engine", topology.SQLEngines(), func(s *Scenario) *string { return &s.Spec.SQLEngine }),
		blobEngineKnob(),
		durKnob("rpo", "RPO budget: most data loss allowed on a region failover (service time)", MinBudget, MaxBudget, func(s *Scenario) *time.Duration { return &s.Budgets.RPO }),
		durKnob("rto", "RTO budget: longest recovery allowed on a region failover (service time)", MinBudget, MaxBudget, func(s *Scenario) *time.Duration { return &s.Budgets.RTO }),
		durKnob("failback-interruption", "longest write interruption allowed during failback", MinBudget, MaxBudget, func(s *Scenario) *time.Duration { return &s.Budgets.FailbackInterruption }),
		durKnob("batch-outage", "longest batch-service outage allowed around failback", MinBudget, MaxBudget, func(s *Scenario) *time.Duration { return &s.Budgets.BatchOutage }),
		durKnob("retry-budget", "how long a client retries one request before the failure is customer-visible", MinBudget, MaxBudget, func(s *Scenario) *time.Duration { return &s.Budgets.RetryBudget }),
		intKnob("min-writes-before-fault", "least acknowledged writes before the fault for a valid run", 0, MaxMinWrites, func(s *Scenario) *int { return &s.Budgets.MinWritesBeforeFault }),
		durKnob("log-backup-interval", "SQL log backup schedule; bounds the RPO", MinSchedule, MaxSchedule, func(s *Scenario) *time.Duration { return &s.Spec.LogBackupInterval }),
		durKnob("log-copy-interval", "SQL log copy (across the WAN) schedule", MinSchedule, MaxSchedule, func(s *Scenario) *time.Duration { return &s.Spec.LogCopyInterval }),
		durKnob("log-restore-interval", "SQL log restore schedule on the secondary", MinSchedule, MaxSchedule, func(s *Scenario) *time.Duration { return &s.Spec.LogRestoreInterval }),
		durKnob("blob-replication-interval", "blob replication schedule", MinSchedule, MaxSchedule, func(s *Scenario) *time.Duration { return &s.Spec.BlobReplInterval }),
		durKnob("probe-interval", "load-balancer health probe interval", MinSchedule, MaxSchedule, func(s *Scenario) *time.Duration { return &s.Spec.ProbeInterval }),
		durKnob("decision-window", "how long an outage lasts before the region is declared lost", MinPhase, MaxPhase, func(s *Scenario) *time.Duration { return &s.Runbook.DecisionWindow }),
		intKnob("detect-after", "failed health probes in a row that make an outage", 1, MaxDetectAfter, func(s *Scenario) *int { return &s.Runbook.DetectAfter }),
		choiceKnob("sign-off", "customer's answer when a failover could lose data", []string{"approve", "refuse"}, func(s *Scenario) *string { return &s.Runbook.SignOff }),
		durKnob("failed-over-for", "how long to run failed over before the primary region returns", MinPhase, MaxPhase, func(s *Scenario) *time.Duration { return &s.Runbook.FailedOverFor }),
		intKnob("instances-per-region", "AOS instances per region", 1, MaxInstances, func(s *Scenario) *int { return &s.Spec.InstancesPerRegion }),
		intKnob("fault-domains", "fault domains per region", 1, MaxFaultDomains, func(s *Scenario) *int { return &s.Spec.FaultDomains }),
		choiceKnob("placement", "placement of instances over fault domains", []string{"round-robin", "single"}, func(s *Scenario) *string { return &s.Spec.Placement }),
		intKnob("clients", "concurrent workload clients", 1, MaxClients, func(s *Scenario) *int { return &s.Workload.Clients }),
		floatKnob("rate", "business writes per wall second, all clients", 1, MaxRate, func(s *Scenario) *float64 { return &s.Workload.Rate }),
		durKnob("probe-every", "service time between batch, report and maintenance probes", MinPhase, MaxPhase, func(s *Scenario) *time.Duration { return &s.Workload.ProbeEvery }),
		durKnob("steady-state", "traffic before the first fault (service time)", MinPhase, MaxPhase, func(s *Scenario) *time.Duration { return &s.SteadyState }),
		durKnob("fault-hold", "how long a non-region fault stays injected", MinPhase, MaxPhase, func(s *Scenario) *time.Duration { return &s.FaultHold }),
		durKnob("after", "traffic after the last recovery (service time)", MinPhase, MaxPhase, func(s *Scenario) *time.Duration { return &s.After }),
		boolKnob("skip-final-log-backup", "DEFECT: failback skips the tail-of-log backup (shows failback-loss catching it)", func(s *Scenario) *bool { return &s.Runbook.SkipFinalLogBackup }),
		boolKnob("skip-sign-off-gate", "DEFECT: fail over without asking for sign-off", func(s *Scenario) *bool { return &s.Runbook.SkipSignOffGate }),
		boolKnob("skip-limited-mode", "DEFECT: stay out of limited mode while failed over", func(s *Scenario) *bool { return &s.Runbook.SkipLimitedMode }),
		boolKnob("skip-limited-mode-off", "DEFECT: the failback leaves limited mode on (shows restored-after-failback catching it)", func(s *Scenario) *bool { return &s.Runbook.SkipLimitedModeOff }),
		boolKnob("skip-customer-notice", "DEFECT: fail over and back without notifying customers (shows customer-notice catching it)", func(s *Scenario) *bool { return &s.Runbook.SkipCustomerNotice }),
		boolKnob("ignore-reporting-request", "DEFECT: the support request to restore financial reporting while failed over is ignored (shows limited-mode catching it)", func(s *Scenario) *bool { return &s.Runbook.IgnoreReportingRequest }),
		boolKnob("reporting-request-lifts-limited-mode", "DEFECT: the support request to restore financial reporting leaves limited mode altogether, maintenance too (shows limited-mode catching it)", func(s *Scenario) *bool { return &s.Runbook.ReportingRequestLiftsLimitedMode }),
		boolKnob("corrupt-row-at-failback", "DEFECT: at the failback's cutover one invoice in the region taking over gains a cent (shows cutover-fingerprint catching it)", func(s *Scenario) *bool { return &s.Runbook.CorruptRowAtFailback }),
		boolKnob("drop-object-at-failback", "DEFECT: at the failback's cutover one object is deleted from the bucket of the region taking over (shows cutover-fingerprint catching it)", func(s *Scenario) *bool { return &s.Runbook.DropObjectAtFailback }),
		skipChecksKnob(),
		durKnob("slow-switchover", "DEFECT: the failback's planned switch keeps the front door drained this much longer (shows failback-interruption and batch-outage catching it)", 0, maxSlowSwitchover, func(s *Scenario) *time.Duration { return &s.Runbook.SlowSwitchover }),
		intKnob("blob-drop-every", "DEFECT: the blob replicator drops every Nth object (0 = never)", 0, MaxBlobDropEvery, func(s *Scenario) *int { return &s.Spec.BlobDropEvery }),
		intKnob("secondary-link-latency-ms", "DEFECT: region b's client link answers this many wall milliseconds late (shows secondary-capacity catching an under-provisioned secondary)", 0, MaxSecondaryLinkLatencyMS, func(s *Scenario) *int { return &s.SecondaryLinkLatencyMS }),
		boolKnob("notification-sink-down", "DEFECT: the notification sink answers 503 to every notice, so no customer is told (shows customer-notice catching it)", func(s *Scenario) *bool { return &s.NotificationSinkDown }),
		notifyURLKnob(),
		boolKnob("aos-ignore-limited-mode", "DEFECT: the AOS accepts maintenance in limited mode", func(s *Scenario) *bool { return &s.Spec.AOSIgnoreLimitedMode }),
	}
}

// KnobError is a bad knob setting; the CLI exits 254 on it.
type KnobError struct {
	Knob string
	Err  error
}

func (e *KnobError) Error() string { return fmt.Sprintf("knob %s: %v", e.Knob, e.Err) }
func (e *KnobError) Unwrap() error { return e.Err }

// Set applies one name=value setting.
func (s *Scenario) Set(name, value string) error {
	for _, k := range Knobs() {
		if k.Name == name {
			if err := k.set(s, value); err != nil {
				return &KnobError{Knob: name, Err: err}
			}
			return nil
		}
	}
	return &KnobError{Knob: name, Err: fmt.Errorf("unknown knob (see --help for the list)")}
}

// Get returns a knob's current value as text.
func (s *Scenario) Get(name string) (string, bool) {
	for _, k := range Knobs() {
		if k.Name == name {
			return k.get(s), true
		}
	}
	return "", false
}

// KnobValues returns every knob's value.
func (s *Scenario) KnobValues() map[string]string {
	out := map[string]string{}
	for _, k := range Knobs() {
		out[k.Name] = k.get(s)
	}
	return out
}

// SetAll applies name=value settings in order.
func (s *Scenario) SetAll(settings []string) error {
	for _, kv := range settings {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			return &KnobError{Knob: kv, Err: fmt.Errorf("want name=value")}
		}
		if err := s.Set(strings.TrimSpace(name), strings.TrimSpace(value)); err != nil {
			return err
		}
	}
	return nil
}

// ReplayCommand is the command that runs this scenario again with the same
// seed and the settings that differ from the built-in scenario base.
func (s *Scenario) ReplayCommand(base Scenario) string {
	var parts []string
	bv := base.KnobValues()
	var names []string
	for n, v := range s.KnobValues() {
		if n == "seed" || bv[n] == v {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		v, _ := s.Get(n)
		parts = append(parts, "--set "+n+"="+v)
	}
	cmd := fmt.Sprintf("bcdr drill %s --seed %d", s.Name, s.Seed)
	if len(parts) > 0 {
		cmd += " " + strings.Join(parts, " ")
	}
	return cmd
}

// CheckKnobs reports the first knob whose value is out of its range.
func CheckKnobs(sc Scenario) error {
	for _, k := range Knobs() {
		if k.check == nil {
			continue
		}
		if err := k.check(&sc); err != nil {
			return &KnobError{Knob: k.Name, Err: err}
		}
	}
	return nil
}

// CheckFaultTimes tells whether a fault step's at and duration are in
// 0..MaxFaultOffset.
func CheckFaultTimes(st FaultStep) error {
	rng := "0s.." + shortDur(MaxFaultOffset)
	if st.At < 0 || st.At > MaxFaultOffset {
		return fmt.Errorf("at: %w", rangeError(rng, st.At.String()))
	}
	if st.Duration < 0 || st.Duration > MaxFaultOffset {
		return fmt.Errorf("duration: %w", rangeError(rng, st.Duration.String()))
	}
	return nil
}
