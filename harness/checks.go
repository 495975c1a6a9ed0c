package harness

import (
	"fmt"
	"sort"
	"strings"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/faults"
)

// alwaysChecks judge every run, whatever its faults: the test was valid,
// the ledger is intact, SQL and the blob store agree.
var alwaysChecks = []string{"validity", "ledger", "cross-store"}

// checkOrder is the order checks are run and printed in.
var checkOrder = []string{"validity", "fault-domain-availability", "rpo", "rto", "sign-off", "customer-notice", "failback-loss",
	"failback-interruption", "batch-outage", "limited-mode", "restored-after-failback", "secondary-capacity", "cutover-fingerprint", "ledger", "cross-store", "replication-lag"}

// DerivedChecks are the checks a run with these faults is judged by, the one
// derivation every kind of run uses (built-in drills, scenario files, random
// schedules, bcdr up, the suites): validity, ledger and cross-store always;
// for any hardware or network fault, fault-domain-availability and rpo (with
// no failover nothing may be lost), only rpo for a single-instance fault
// (faults.Definition.SingleInstance: its outage is expected, not its loss); for any region loss, and whenever the
// runbook failed over whatever the fault, every region check
// (assertions.RegionChecks). A step whose fault is not in the catalogue adds
// nothing (prepare rejects it before a run).
func DerivedChecks(steps []FaultStep, failedOver bool) []string {
	set := map[string]bool{}
	for _, c := range alwaysChecks {
		set[c] = true
	}
	regionLoss := failedOver
	for _, st := range steps {
		d, ok := faults.Lookup(st.Name)
		if !ok {
			continue
		}
		switch {
		case d.RegionLoss:
			regionLoss = true
		case d.SingleInstance:
			set["rpo"] = true // no loss; its outage is expected (one instance per region)
		case d.Class == faults.Hardware || d.Class == faults.Network:
			set["fault-domain-availability"], set["rpo"] = true, true
		}
	}
	if regionLoss {
		for _, c := range assertions.RegionChecks() {
			set[c] = true
		}
	}
	return ordered(set)
}

// ordered lists a set of check names in checkOrder, others after by name.
func ordered(set map[string]bool) []string {
	var out []string
	for _, c := range checkOrder {
		if set[c] {
			out = append(out, c)
			delete(set, c)
		}
	}
	var rest []string
	for c := range set {
		rest = append(rest, c)
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// ChecksToRun are the checks a run of sc is judged by: the derived checks
// (DerivedChecks), plus the scenario's own Checks, minus the SkipChecks. It
// also returns the derived or named checks that SkipChecks dropped, which
// every report shows.
func (sc *Scenario) ChecksToRun(failedOver bool) (run, skipped []string) {
	set := map[string]bool{}
	for _, c := range DerivedChecks(sc.Faults, failedOver) {
		set[c] = true
	}
	for _, c := range sc.Checks {
		set[c] = true
	}
	for _, c := range sc.SkipChecks {
		if set[c] {
			skipped = append(skipped, c)
			delete(set, c)
		}
	}
	return ordered(set), skipped
}

// checkNames validates a list of check names for a knob or field.
func checkNames(field string, names []string) error {
	for _, name := range names {
		if _, ok := assertions.Lookup(name); !ok {
			return &KnobError{Knob: field, Err: fmt.Errorf("unknown check %q (known: %v)", name, assertions.Names())}
		}
	}
	return nil
}

// skipChecksKnob is the skip-checks knob: derived checks the run drops, by
// name, comma-separated ("" = none).
func skipChecksKnob() Knob {
	return Knob{Name: "skip-checks", Help: "checks to drop from the ones the faults call for, comma-separated (shown in every report)", Range: "check names",
		get: func(s *Scenario) string { return strings.Join(s.SkipChecks, ",") },
		set: func(s *Scenario, v string) error {
			var names []string
			for _, n := range strings.Split(v, ",") {
				if n = strings.TrimSpace(n); n != "" {
					names = append(names, n)
				}
			}
			for _, n := range names {
				if _, ok := assertions.Lookup(n); !ok {
					return fmt.Errorf("unknown check %q (known: %s)", n, strings.Join(assertions.Names(), ", "))
				}
			}
			s.SkipChecks = names
			return nil
		}}
}
