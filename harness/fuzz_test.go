package harness_test

import (
	"errors"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/bcdr-harness/bcdr/harness"
)

// scenarioSeeds are scenario files the fuzzer starts from: the examples of
// bcdr drill and some the error tests use.
func scenarioSeeds(f *testing.F) {
	for _, p := range []string{"../cmd/bcdr/testdata/nightly-region.yaml", "../cmd/bcdr/testdata/wan-latency.json"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.HasSuffix(p, ".json"), data)
	}
	for _, s := range []string{
		"scenario: region-outage\n",
		"scenario: region-outage\nset:\n  rate: 1e12\n",
		"set:\n  clients: 100000\n",
		"set:\n  time-scale: auto\n  rate: 10000\n  clients: 256\n",
		"set:\n  rate: .nan\n  rpo: 99999999999h\n",
		"seed: 3\nfaults:\n  - name: instance-crash\n    params: {instance: \"2\"}\n    at: 5m\n    duration: 168h\n",
		"faults:\n  - wan-partition\n  - name: region-outage\n    params: {region: a}\n    at: 40m\nchecks: [validity, rpo]\nexpect: {rpo: fail}\n",
		"faults: []\nchecks: []\nexpect: {}\nskip-checks: [rpo]\n",
		"name: x\ndescription: \"\"\nset: {sign-off: refuse, skip-checks: rpo}\n",
		"scenario: region-outage\n  bad indent: [\n",
		"&a [*a]",
	} {
		f.Add(false, []byte(s))
	}
	f.Add(true, []byte("{\"scenario\": \"region-outage\", \"set\": {\"rate\": 1e12}}"))
	f.Add(true, []byte("{\"set\": {\"rpo\": \"1m\"}\n\n, }\n"))
}

// FuzzScenarioFile: ParseScenarioFile never panics; every error is a
// ScenarioFileError that starts with the file's name; a scenario it accepts
// is valid, has every knob in range, and reads back the same after
// ScenarioFile writes it.
func FuzzScenarioFile(f *testing.F) {
	scenarioSeeds(f)
	f.Fuzz(func(t *testing.T, isJSON bool, data []byte) {
		name := "fuzz.yaml"
		if isJSON {
			name = "fuzz.json"
		}
		sc, base, err := harness.ParseScenarioFile(name, data)
		if err != nil {
			var fe *harness.ScenarioFileError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a ScenarioFileError: %T %v", err, err)
			}
			if !strings.HasPrefix(err.Error(), name+":") || fe.File != name {
				t.Fatalf("error does not start with the file's name: %v", err)
			}
			return
		}
		if err := harness.Validate(sc); err != nil {
			t.Fatalf("parsed scenario does not validate: %v\n%s", err, data)
		}
		if err := harness.CheckKnobs(sc); err != nil {
			t.Fatalf("parsed scenario has a knob out of range: %v\n%s", err, data)
		}
		out, err := harness.ScenarioFile(sc, base)
		if err != nil {
			t.Fatalf("ScenarioFile: %v", err)
		}
		again, base2, err := harness.ParseScenarioFile("again.yaml", out)
		if err != nil {
			t.Fatalf("the written file does not parse: %v\ninput:\n%s\nwritten:\n%s", err, data, out)
		}
		if base2.Name != base.Name {
			t.Fatalf("base %s read back as %s", base.Name, base2.Name)
		}
		if !sameScenario(sc, again) {
			t.Fatalf("round trip changed the scenario\ninput:\n%s\nwritten:\n%s\nbefore: %+v\nafter:  %+v", data, out, sc, again)
		}
	})
}

// sameScenario compares two scenarios, an empty map or list being the same
// as none (a fault's params: {} and no params run alike).
func sameScenario(a, b harness.Scenario) bool {
	norm := func(s harness.Scenario) harness.Scenario {
		if len(s.Checks) == 0 {
			s.Checks = nil
		}
		if len(s.SkipChecks) == 0 {
			s.SkipChecks = nil
		}
		if len(s.Expect) == 0 {
			s.Expect = nil
		}
		fs := make([]harness.FaultStep, len(s.Faults))
		for i, st := range s.Faults {
			if len(st.Params) == 0 {
				st.Params = nil
			}
			fs[i] = st
		}
		s.Faults = fs
		return s
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// FuzzKnob: setting any knob to any text never panics; a value it takes is
// in range (CheckKnobs, Validate's check, agrees), reads back with Get as
// text that Set takes again to the same value, and a value it refuses
// leaves the scenario unchanged.
func FuzzKnob(f *testing.F) {
	knobs := harness.Knobs()
	def := harness.DefaultScenario()
	for i, k := range knobs {
		v, _ := def.Get(k.Name)
		f.Add(uint8(i), v)
		if lo, hi, ok := strings.Cut(k.Range, ".."); ok {
			f.Add(uint8(i), strings.TrimPrefix(lo, "auto or "))
			f.Add(uint8(i), hi)
		}
	}
	for _, v := range []string{"1e12", "NaN", "-Inf", "1e400", "99999999999999999999", "-1", "0", "auto", "9999999999999h", "0x10", " 5 ", "1.5.5h", "", "true"} {
		f.Add(uint8(0), v)
	}
	f.Fuzz(func(t *testing.T, i uint8, v string) {
		k := knobs[int(i)%len(knobs)]
		sc := harness.DefaultScenario()
		err := sc.Set(k.Name, v)
		if err != nil {
			var ke *harness.KnobError
			if !errors.As(err, &ke) || ke.Knob != k.Name {
				t.Fatalf("--set %s=%q: error does not name the knob: %v", k.Name, v, err)
			}
			if !reflect.DeepEqual(sc, harness.DefaultScenario()) && !hasNaN(sc) {
				t.Fatalf("--set %s=%q refused but changed the scenario", k.Name, v)
			}
			return
		}
		if err := harness.CheckKnobs(sc); err != nil {
			t.Fatalf("--set %s=%q accepted, but out of range: %v", k.Name, v, err)
		}
		if hasNaN(sc) {
			t.Fatalf("--set %s=%q accepted NaN", k.Name, v)
		}
		got, _ := sc.Get(k.Name)
		again := harness.DefaultScenario()
		if err := again.Set(k.Name, got); err != nil {
			t.Fatalf("--set %s=%q accepted, but its value read back, %q, is refused: %v", k.Name, v, got, err)
		}
		if !reflect.DeepEqual(sc, again) {
			t.Fatalf("--set %s=%q and --set %s=%q differ", k.Name, v, k.Name, got)
		}
	})
}

func hasNaN(sc harness.Scenario) bool {
	return math.IsNaN(sc.Scale) || math.IsNaN(sc.Workload.Rate) || math.IsNaN(sc.Workload.InvoiceShare)
}
