package harness_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/harness"
)

// knobRanges lists, for every numeric knob, a value just inside each end of
// its range and one just outside. Written out by hand, not derived from the
// knob table, so that a changed range shows up here.
var knobRanges = []struct {
	knob            string
	lowIn, highIn   string
	lowOut, highOut string
}{
	{"time-scale", "1", "1000", "0.999", "1000.001"},
	{"seed", "0", "9223372036854775807", "-1", "9223372036854775808"},
	{"rpo", "1s", "720h", "999ms", "720h0m1s"},
	{"rto", "1s", "720h", "999ms", "720h0m1s"},
	{"failback-interruption", "1s", "720h", "999ms", "720h0m1s"},
	{"batch-outage", "1s", "720h", "999ms", "720h0m1s"},
	{"retry-budget", "1s", "720h", "999ms", "720h0m1s"},
	{"min-writes-before-fault", "0", "100000000", "-1", "100000001"},
	{"log-backup-interval", "1s", "24h", "999ms", "24h0m1s"},
	{"log-copy-interval", "1s", "24h", "999ms", "24h0m1s"},
	{"log-restore-interval", "1s", "24h", "999ms", "24h0m1s"},
	{"blob-replication-interval", "1s", "24h", "999ms", "24h0m1s"},
	{"probe-interval", "1s", "24h", "999ms", "24h0m1s"},
	{"decision-window", "1s", "168h", "999ms", "168h0m1s"},
	{"detect-after", "1", "100", "0", "101"},
	{"failed-over-for", "1s", "168h", "999ms", "168h0m1s"},
	{"instances-per-region", "1", "50", "0", "51"},
	{"fault-domains", "1", "5", "0", "6"},
	{"clients", "1", "256", "0", "257"},
	{"rate", "1", "10000", "0.999", "10000.001"},
	{"probe-every", "1s", "168h", "999ms", "168h0m1s"},
	{"steady-state", "1s", "168h", "999ms", "168h0m1s"},
	{"fault-hold", "1s", "168h", "999ms", "168h0m1s"},
	{"after", "1s", "168h", "999ms", "168h0m1s"},
	{"slow-switchover", "0s", "168h", "-1ns", "168h0m0.000000001s"},
	{"blob-drop-every", "0", "1000000", "-1", "1000001"},
	{"secondary-link-latency-ms", "0", "1000", "-1", "1001"},
}

// Every numeric knob takes the values just inside its range and refuses
// those just outside, with the knob named and the range in the message; a
// refused value leaves the scenario as it was.
func TestKnobRangesBothWays(t *testing.T) {
	for _, r := range knobRanges {
		for _, v := range []string{r.lowIn, r.highIn} {
			sc := harness.DefaultScenario()
			if err := sc.Set(r.knob, v); err != nil {
				t.Errorf("--set %s=%s: refused (%v), want accepted", r.knob, v, err)
				continue
			}
			if err := harness.CheckKnobs(sc); err != nil {
				t.Errorf("%s=%s accepted by Set but not by CheckKnobs: %v", r.knob, v, err)
			}
		}
		for _, v := range []string{r.lowOut, r.highOut} {
			sc := harness.DefaultScenario()
			before, _ := sc.Get(r.knob)
			err := sc.Set(r.knob, v)
			var ke *harness.KnobError
			if !errors.As(err, &ke) || ke.Knob != r.knob || !strings.Contains(err.Error(), "must be in") || !strings.Contains(err.Error(), v) {
				t.Errorf("--set %s=%s: got %v, want a range error naming the knob and the value", r.knob, v, err)
			}
			if after, _ := sc.Get(r.knob); after != before {
				t.Errorf("--set %s=%s refused but changed the value from %s to %s", r.knob, v, before, after)
			}
		}
	}
}

// The table above covers every knob that has a range of numbers.
func TestEveryNumericKnobHasARangeTest(t *testing.T) {
	tested := map[string]bool{}
	for _, r := range knobRanges {
		tested[r.knob] = true
	}
	n := 0
	for _, k := range harness.Knobs() {
		if !strings.Contains(k.Range, "..") {
			continue
		}
		n++
		if !tested[k.Name] {
			t.Errorf("knob %s (range %s) has no row in knobRanges", k.Name, k.Range)
		}
	}
	if n != len(knobRanges) {
		t.Errorf("%d knobs with a numeric range, %d rows in knobRanges", n, len(knobRanges))
	}
}

// Every knob shows its range in the help.
func TestEveryKnobHasARange(t *testing.T) {
	for _, k := range harness.Knobs() {
		if k.Range == "" {
			t.Errorf("knob %s has no range", k.Name)
		}
	}
}

// Values that are no number at all, or too big for any type, are refused
// with a message that says so.
func TestKnobRefusesNaNInfAndOverflow(t *testing.T) {
	for _, tc := range []struct{ knob, value, says string }{
		{"rate", "NaN", "finite"},
		{"rate", "nan", "finite"},
		{"rate", "+Inf", "finite"},
		{"rate", "-inf", "finite"},
		{"rate", "infinity", "finite"},
		{"rate", "1e400", "too large"},
		{"rate", "1e12", "must be in 1..10000, got 1e12"},
		{"time-scale", "Inf", "finite"},
		{"clients", "100000", "must be in 1..256, got 100000"},
		{"clients", "99999999999999999999", "must be in 1..256"},
		{"clients", "1e3", "not an integer"},
		{"clients", "0x10", "not an integer"},
		{"clients", "08", "not an integer"},
		{"seed", "7abc", "not an integer"},
		{"rpo", "9999999999999h", "must be in 1s..720h, got 9999999999999h"},
		{"rpo", "1.5.5h", "not a duration"},
		{"rpo", "soon", "not a duration"},
	} {
		sc := harness.DefaultScenario()
		err := sc.Set(tc.knob, tc.value)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("--set %s=%s: got %v, want an error saying %q", tc.knob, tc.value, err, tc.says)
		}
	}
}

// A scenario built in Go, without Set, is held to the same ranges by
// Validate: the rate of issue 13, NaN, too many clients, fault times.
func TestValidateChecksRangesOfScenariosBuiltInGo(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*harness.Scenario)
		says   string
	}{
		{"rate 1e12", func(s *harness.Scenario) { s.Workload.Rate = 1e12 }, "knob rate: must be in 1..10000"},
		{"rate NaN", func(s *harness.Scenario) { s.Workload.Rate = math.NaN() }, "knob rate: must be in 1..10000, got NaN"},
		{"clients 100000", func(s *harness.Scenario) { s.Workload.Clients = 100000 }, "knob clients: must be in 1..256"},
		{"scale 1e6", func(s *harness.Scenario) { s.Scale = 1e6 }, "knob time-scale"},
		{"scale 0.5", func(s *harness.Scenario) { s.Scale = 0.5 }, "knob time-scale"},
		{"steady state 0", func(s *harness.Scenario) { s.SteadyState = 0 }, "knob steady-state: must be in 1s..168h"},
		{"fault at 169h", func(s *harness.Scenario) { s.Faults[0].At = 169 * time.Hour }, "faults[0] (region-outage): at: must be in 0s..168h"},
		{"fault duration negative", func(s *harness.Scenario) { s.Faults[0].Duration = -time.Minute }, "faults[0] (region-outage): duration: must be in 0s..168h"},
	} {
		sc := harness.DefaultScenario()
		tc.change(&sc)
		err := harness.Validate(sc)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: Validate says %v, want %q", tc.name, err, tc.says)
		}
	}
	// The ends of the fault times are accepted.
	sc := harness.DefaultScenario()
	sc.Faults[0].At, sc.Faults[0].Duration = harness.MaxFaultOffset, harness.MaxFaultOffset
	if err := harness.Validate(sc); err != nil {
		t.Errorf("fault at and duration of 168h: %v", err)
	}
}

// Every built-in scenario is within the ranges.
func TestBuiltinsAreInRange(t *testing.T) {
	for _, b := range harness.Builtins() {
		if err := harness.CheckKnobs(b); err != nil {
			t.Errorf("%s: %v", b.Name, err)
		}
	}
}
