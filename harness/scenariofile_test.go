package harness_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
)

func TestScenarioFileSetsKnobsFaultsAndChecks(t *testing.T) {
	yml := `# a nightly drill
scenario: region-outage
name: nightly-region
seed: 7
set:
  rpo: 10m
  rto: 5h
  instances-per-region: 3
  sign-off: refuse
  skip-final-log-backup: true
faults:
  - name: region-outage
    params: {region: a}
    at: 1m
  - instance-crash
checks: [validity, rpo]
expect: {rpo: pass}
`
	js := `{
  "scenario": "region-outage",
  "name": "nightly-region",
  "seed": 7,
  "set": {"rpo": "10m", "rto": "5h", "instances-per-region": 3, "sign-off": "refuse", "skip-final-log-backup": true},
  "faults": [{"name": "region-outage", "params": {"region": "a"}, "at": "1m"}, "instance-crash"],
  "checks": ["validity", "rpo"],
  "expect": {"rpo": "pass"}
}`
	for name, data := range map[string]string{"nightly.yaml": yml, "nightly.json": js} {
		sc, base, err := harness.ParseScenarioFile(name, []byte(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if base.Name != "region-outage" || sc.Name != "nightly-region" || sc.Seed != 7 {
			t.Errorf("%s: base %q name %q seed %d", name, base.Name, sc.Name, sc.Seed)
		}
		if sc.Budgets.RPO != 10*time.Minute || sc.Budgets.RTO != 5*time.Hour || sc.Spec.InstancesPerRegion != 3 ||
			sc.Runbook.SignOff != "refuse" || !sc.Runbook.SkipFinalLogBackup {
			t.Errorf("%s: knobs not applied: budgets %+v spec %+v runbook %+v", name, sc.Budgets, sc.Spec, sc.Runbook)
		}
		if len(sc.Faults) != 2 || sc.Faults[0].At != time.Minute || sc.Faults[0].Params["region"] != "a" || sc.Faults[1].Name != "instance-crash" {
			t.Errorf("%s: faults %+v", name, sc.Faults)
		}
		if strings.Join(sc.Checks, ",") != "validity,rpo" || sc.Expect["rpo"] != assertions.Pass {
			t.Errorf("%s: checks %v expect %v", name, sc.Checks, sc.Expect)
		}
	}
}

func TestScenarioFileErrorsNameFileLineAndField(t *testing.T) {
	for _, tc := range []struct {
		file, data string
		line       int
		field      string
		says       string
	}{
		{"a.yaml", "scenario: region-outage\nsed: 3\n", 2, "sed", "unknown field"},
		{"a.yaml", "scenario: nowhere\n", 1, "scenario", "unknown built-in scenario"},
		{"a.yaml", "set:\n  rpo: 15m\n  rto: soon\n", 3, "set.rto", "not a duration"},
		{"a.yaml", "set:\n  decision-window: -1m\n", 2, "set.decision-window", "must be in 1s..168h, got -1m"},
		{"a.yaml", "set:\n  nope: 1\n", 2, "set.nope", "unknown knob"},
		{"a.yaml", "scenario: region-outage\nset:\n  rate: 1e12\n", 3, "set.rate", "must be in 1..10000, got 1e12"},
		{"a.yaml", "set:\n  rpo: 15m\n  clients: 100000\n", 3, "set.clients", "must be in 1..256, got 100000"},
		{"a.yaml", "set:\n  rate: .nan\n", 2, "set.rate", "not a number"},
		{"a.yaml", "set:\n  rate: NaN\n", 2, "set.rate", "finite"},
		{"a.yaml", "set:\n  time-scale: 5000\n", 2, "set.time-scale", "must be in 1..1000, got 5000 (or auto)"},
		{"a.yaml", "set:\n  rto: 99999999999h\n", 2, "set.rto", "must be in 1s..720h, got 99999999999h"},
		{"a.json", "{\"set\": {\"rpo\": \"1m\",\n  \"instances-per-region\": 51}}\n", 2, "set.instances-per-region", "must be in 1..50"},
		{"a.yaml", "faults:\n  - name: instance-crash\n    at: 169h\n", 3, "faults[0].at", "must be in 0s..168h, got 169h"},
		{"a.yaml", "faults:\n  - name: instance-crash\n    duration: 9999999999h\n", 3, "faults[0].duration", "must be in 0s..168h"},
		{"a.yaml", "set:\n  rpo: 1m\n  rpo: 2m\n", 3, "set.rpo", "twice"},
		{"a.yaml", "faults:\n  - name: instance-crash\n    params:\n      instance: x\n", 4, "faults[0].params.instance", "not an integer"},
		{"a.yaml", "faults:\n  - name: no-such-fault\n", 2, "faults[0].name", "unknown fault"},
		{"a.yaml", "faults:\n  - nme: instance-crash\n", 2, "faults[0].nme", "unknown field"},
		{"a.yaml", "faults:\n  - name: instance-crash\n    duration: 5 minutes\n", 3, "faults[0].duration", "not a duration"},
		{"a.yaml", "checks: [rpo, nope]\n", 1, "checks[1]", "unknown check"},
		{"a.yaml", "expect:\n  rpo: maybe\n", 2, "expect.rpo", "pass, fail or unknown"},
		{"a.yaml", "set: [1, 2]\n", 1, "set", "mapping"},
		{"a.yaml", "scenario: region-outage\n  bad indent: [\n", 2, "", "not valid YAML"},
		{"a.json", "{\"set\": {\"rpo\": \"1m\"},\n \"sed\": 1}\n", 2, "sed", "unknown field"},
		{"a.json", "{\"set\": {\"rpo\": \"1m\"}\n\n, }\n", 3, "", "not valid JSON"},
	} {
		_, _, err := harness.ParseScenarioFile(tc.file, []byte(tc.data))
		var fe *harness.ScenarioFileError
		if !errors.As(err, &fe) {
			t.Errorf("%q: got %v, want a ScenarioFileError", tc.data, err)
			continue
		}
		if fe.Line != tc.line || fe.Field != tc.field || !strings.Contains(fe.Error(), tc.says) || !strings.HasPrefix(fe.Error(), tc.file+":") {
			t.Errorf("%q:\n got %q (line %d, field %q)\nwant line %d, field %q, saying %q", tc.data, fe.Error(), fe.Line, fe.Field, tc.line, tc.field, tc.says)
		}
	}
}
