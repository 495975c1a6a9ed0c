// Package harness runs drills: it stands the environment up, drives the
// finance workload through it, injects the scenario's faults, lets the DR
// runbook act, records everything in a history, and hands the history and
// the surviving data to the checks.
//
// A Scenario is data: topology, workload, faults, runbook policy, budgets and
// the checks to run. A suite is a table of scenarios.
package harness

import (
	"fmt"
	"sort"
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
	// SlowSwitchover keeps the front door drained this much longer during
	// the failback's planned switch (service time; a defect, for the
	// failback-interruption and batch-outage negative control).
	SlowSwitchover time.Duration `json:"slow_switchover"`
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
	get  func(*Scenario) string
	set  func(*Scenario, string) error
}

func durKnob(name, help string, p func(*Scenario) *time.Duration) Knob {
	return Knob{Name: name, Help: help,
		get: func(s *Scenario) string { return p(s).String() },
		set: func(s *Scenario, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("not a duration (want e.g. 15m, 4h): %q", v)
			}
			if d < 0 {
				return fmt.Errorf("must not be negative, got %s", v)
			}
			*p(s) = d
			return nil
		}}
}

func posDurKnob(name, help string, p func(*Scenario) *time.Duration) Knob {
	k := durKnob(name, help, p)
	set := k.set
	k.set = func(s *Scenario, v string) error {
		if err := set(s, v); err != nil {
			return err
		}
		if *p(s) == 0 {
			return fmt.Errorf("must be positive, got %s", v)
		}
		return nil
	}
	return k
}

func intKnob(name, help string, min int, p func(*Scenario) *int) Knob {
	return Knob{Name: name, Help: help,
		get: func(s *Scenario) string { return fmt.Sprint(*p(s)) },
		set: func(s *Scenario, v string) error {
			var n int
			if _, err := fmt.Sscan(v, &n); err != nil || fmt.Sprint(n) != strings.TrimSpace(v) {
				return fmt.Errorf("not an integer: %q", v)
			}
			if n < min {
				return fmt.Errorf("must be at least %d, got %d", min, n)
			}
			*p(s) = n
			return nil
		}}
}

func floatKnob(name, help string, min float64, p func(*Scenario) *float64) Knob {
	return Knob{Name: name, Help: help,
		get: func(s *Scenario) string { return fmt.Sprint(*p(s)) },
		set: func(s *Scenario, v string) error {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				return fmt.Errorf("not a number: %q", v)
			}
			if f < min {
				return fmt.Errorf("must be at least %g, got %g", min, f)
			}
			*p(s) = f
			return nil
		}}
}

// scaleKnob is the time scale: a number of at least 1, or auto (0) for the
// provider's own.
func scaleKnob() Knob {
	k := floatKnob("time-scale", "service seconds per wall second (auto: the provider's, 200 local, 100 containers)", 1,
		func(s *Scenario) *float64 { return &s.Scale })
	get, set := k.get, k.set
	k.get = func(s *Scenario) string {
		if s.Scale == 0 {
			return "auto"
		}
		return get(s)
	}
	k.set = func(s *Scenario, v string) error {
		if v == "auto" || v == "0" {
			s.Scale = 0
			return nil
		}
		return set(s, v)
	}
	return k
}

func blobEngineKnob() Knob {
	k := choiceKnob("blob-engine", "what keeps the buckets in sync: minio = MinIO's own bucket replication (containers), "+
		"s3 = the harness's replicator over any S3 server; auto: the provider's (s3 local, minio containers)",
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
	return Knob{Name: name, Help: help,
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
	return Knob{Name: name, Help: help + " (" + strings.Join(choices, ", ") + ")",
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

// Knobs lists every setting, in help order.
func Knobs() []Knob {
	return []Knob{
		scaleKnob(),
		{Name: "seed", Help: "seed of every random choice (workload, schedules)",
			get: func(s *Scenario) string { return fmt.Sprint(s.Seed) },
			set: func(s *Scenario, v string) error {
				if _, err := fmt.Sscan(v, &s.Seed); err != nil {
					return fmt.Errorf("not an integer: %q", v)
				}
				return nil
			}},
		choiceKnob("provider", "where the environment runs", []string{"local", "containers"}, func(s *Scenario) *string { return &s.Spec.Provider }),
		choiceKnob("sql-engine", "SQL engine", []string{"postgres", "sqlserver"}, func(s *Scenario) *string { return &s.Spec.SQLEngine }),
		blobEngineKnob(),
		posDurKnob("rpo", "RPO budget: most data loss allowed on a region failover (service time)", func(s *Scenario) *time.Duration { return &s.Budgets.RPO }),
		posDurKnob("rto", "RTO budget: longest recovery allowed on a region failover (service time)", func(s *Scenario) *time.Duration { return &s.Budgets.RTO }),
		posDurKnob("failback-interruption", "longest write interruption allowed during failback", func(s *Scenario) *time.Duration { return &s.Budgets.FailbackInterruption }),
		posDurKnob("batch-outage", "longest batch-service outage allowed around failback", func(s *Scenario) *time.Duration { return &s.Budgets.BatchOutage }),
		posDurKnob("retry-budget", "how long a client retries one request before the failure is customer-visible", func(s *Scenario) *time.Duration { return &s.Budgets.RetryBudget }),
		intKnob("min-writes-before-fault", "least acknowledged writes before the fault for a valid run", 0, func(s *Scenario) *int { return &s.Budgets.MinWritesBeforeFault }),
		posDurKnob("log-backup-interval", "SQL log backup schedule; bounds the RPO", func(s *Scenario) *time.Duration { return &s.Spec.LogBackupInterval }),
		posDurKnob("log-copy-interval", "SQL log copy (across the WAN) schedule", func(s *Scenario) *time.Duration { return &s.Spec.LogCopyInterval }),
		posDurKnob("log-restore-interval", "SQL log restore schedule on the secondary", func(s *Scenario) *time.Duration { return &s.Spec.LogRestoreInterval }),
		posDurKnob("blob-replication-interval", "blob replication schedule", func(s *Scenario) *time.Duration { return &s.Spec.BlobReplInterval }),
		posDurKnob("probe-interval", "load-balancer health probe interval", func(s *Scenario) *time.Duration { return &s.Spec.ProbeInterval }),
		posDurKnob("decision-window", "how long an outage lasts before the region is declared lost", func(s *Scenario) *time.Duration { return &s.Runbook.DecisionWindow }),
		intKnob("detect-after", "failed health probes in a row that make an outage", 1, func(s *Scenario) *int { return &s.Runbook.DetectAfter }),
		choiceKnob("sign-off", "customer's answer when a failover could lose data", []string{"approve", "refuse"}, func(s *Scenario) *string { return &s.Runbook.SignOff }),
		posDurKnob("failed-over-for", "how long to run failed over before the primary region returns", func(s *Scenario) *time.Duration { return &s.Runbook.FailedOverFor }),
		intKnob("instances-per-region", "AOS instances per region", 1, func(s *Scenario) *int { return &s.Spec.InstancesPerRegion }),
		intKnob("fault-domains", "fault domains per region", 1, func(s *Scenario) *int { return &s.Spec.FaultDomains }),
		choiceKnob("placement", "placement of instances over fault domains", []string{"round-robin", "single"}, func(s *Scenario) *string { return &s.Spec.Placement }),
		intKnob("clients", "concurrent workload clients", 1, func(s *Scenario) *int { return &s.Workload.Clients }),
		floatKnob("rate", "business writes per wall second, all clients", 1, func(s *Scenario) *float64 { return &s.Workload.Rate }),
		posDurKnob("probe-every", "service time between batch, report and maintenance probes", func(s *Scenario) *time.Duration { return &s.Workload.ProbeEvery }),
		posDurKnob("steady-state", "traffic before the first fault (service time)", func(s *Scenario) *time.Duration { return &s.SteadyState }),
		posDurKnob("fault-hold", "how long a non-region fault stays injected", func(s *Scenario) *time.Duration { return &s.FaultHold }),
		posDurKnob("after", "traffic after the last recovery (service time)", func(s *Scenario) *time.Duration { return &s.After }),
		boolKnob("skip-final-log-backup", "DEFECT: failback skips the tail-of-log backup (shows failback-loss catching it)", func(s *Scenario) *bool { return &s.Runbook.SkipFinalLogBackup }),
		boolKnob("skip-sign-off-gate", "DEFECT: fail over without asking for sign-off", func(s *Scenario) *bool { return &s.Runbook.SkipSignOffGate }),
		boolKnob("skip-limited-mode", "DEFECT: stay out of limited mode while failed over", func(s *Scenario) *bool { return &s.Runbook.SkipLimitedMode }),
		skipChecksKnob(),
		durKnob("slow-switchover", "DEFECT: the failback's planned switch keeps the front door drained this much longer (shows failback-interruption and batch-outage catching it)", func(s *Scenario) *time.Duration { return &s.Runbook.SlowSwitchover }),
		intKnob("blob-drop-every", "DEFECT: the blob replicator drops every Nth object (0 = never)", 0, func(s *Scenario) *int { return &s.Spec.BlobDropEvery }),
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
