package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/promises"
	"github.com/bcdr-harness/bcdr/report"
)

// quick shortens every run of a validation on the fake provider.
var quick = []string{"--set", "steady-state=15m", "--set", "after=5m", "--set", "failed-over-for=10m",
	"--set", "decision-window=10m", "--set", "fault-hold=5m", "--set", "min-writes-before-fault=10"}

func validate(t *testing.T, args ...string) (report.Validation, string, int) {
	t.Helper()
	return validateWith(t, quick, args...)
}

func validateWith(t *testing.T, sets []string, args ...string) (report.Validation, string, int) {
	t.Helper()
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append(append([]string{"validate", "--provider", "fake", "--out", dir}, sets...), args...), &stdout, &stderr)
	t.Logf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	v, err := report.ReadValidation(dir)
	if err != nil {
		t.Fatalf("no validation.json: %v", err)
	}
	return v, dir, code
}

// exitOf is the exit code a validation's verdict calls for.
func exitOf(v assertions.Verdict) int {
	switch v {
	case assertions.Pass:
		return exitPass
	case assertions.Fail:
		return exitFail
	}
	return exitUnknown
}

// sameAsRuns holds validation.json to the runs' own result.json files:
// every run's verdict, every promise's verdict in each of its evidence
// runs, and each promise's verdict as the worst of them.
func sameAsRuns(t *testing.T, v report.Validation, dir string, code int) {
	t.Helper()
	if code != exitOf(v.Verdict) {
		t.Errorf("exit %d, but validation.json says %s", code, v.Verdict)
	}
	results := map[string]report.Result{}
	for _, r := range v.Runs {
		res, err := report.ReadResult(filepath.Join(dir, r.Dir))
		if err != nil {
			t.Fatalf("run %s: %v", r.Dir, err)
		}
		results[r.Dir] = res
		if res.Verdict != r.Verdict || res.Seed != r.Seed || res.Replay != r.Replay {
			t.Errorf("run %s: validation.json says %s seed %d replay %q, result.json %s seed %d replay %q",
				r.Dir, r.Verdict, r.Seed, r.Replay, res.Verdict, res.Seed, res.Replay)
		}
	}
	for _, p := range v.Promises {
		spec, ok := promises.Lookup(p.ID)
		if !ok {
			t.Fatalf("validation.json names promise %s, which the map lacks", p.ID)
		}
		var vs []assertions.Verdict
		for _, e := range p.Evidence {
			got, _, _, ok := report.PromiseInRun(spec, results[e.Run])
			if !ok || got != e.Verdict {
				t.Errorf("%s in %s: validation.json says %s, the run's checks say %s", p.ID, e.Run, e.Verdict, got)
			}
			vs = append(vs, e.Verdict)
		}
		if len(vs) > 0 && assertions.Worst(vs...) != p.Verdict && len(v.Controls) == 0 {
			t.Errorf("%s: verdict %s, its runs say %s", p.ID, p.Verdict, assertions.Worst(vs...))
		}
		if p.Verdict != assertions.Pass && p.Reason == "" {
			t.Errorf("%s is %s without saying why", p.ID, p.Verdict)
		}
	}
}

// TestValidateFake runs the whole promise map on the fake provider and
// holds validation.json to what the runs said.
func TestValidateFake(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every scenario of the promise map")
	}
	v, dir, code := validate(t)
	if len(v.Promises) != len(promises.Map) || len(v.Runs) != len(promises.ScenarioNames()) {
		t.Errorf("%d promises and %d runs, want %d and %d", len(v.Promises), len(v.Runs), len(promises.Map), len(promises.ScenarioNames()))
	}
	for _, p := range v.Promises {
		if len(p.Evidence) == 0 {
			t.Errorf("%s: no evidence run", p.ID)
		}
	}
	if v.Environment.Provider != "fake" || v.Environment.Cores == 0 || v.Environment.OS == "" || len(v.Environment.TimeScales) == 0 {
		t.Errorf("environment: %+v", v.Environment)
	}
	sameAsRuns(t, v, dir, code)
}

// TestValidateVerdicts: validate's negative control, a planted failing
// run (every failback without the tail-of-log backup, a defect knob) must
// fail the failback promise with exit 1; and a promise whose run cannot
// tell (more writes demanded before the fault than the workload makes) is
// unknown, with its own exit code 2 and the reason.
func TestValidateVerdicts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs drills")
	}
	for _, tc := range []struct {
		name, set string
		want      assertions.Verdict
		code      int
		why       string
	}{
		{"planted failure", "skip-final-log-backup=true", assertions.Fail, exitFail, "failback-loss"},
		{"invalid test", "min-writes-before-fault=1000000", assertions.Unknown, exitUnknown, "not a valid test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, dir, code := validate(t, "--promise", "failback-no-loss", "--set", tc.set)
			sameAsRuns(t, v, dir, code)
			p := v.Promises[0]
			if tc.want == assertions.Fail && p.Verdict == assertions.Unknown && !strings.Contains(p.Reason, "failback-loss: ") {
				t.Skipf("the run could not tell on this machine: %s", p.Reason)
			}
			if p.Verdict != tc.want || code != tc.code || !strings.Contains(p.Reason, tc.why) {
				t.Errorf("failback-no-loss %s (exit %d), want %s (exit %d) naming %q: %s", p.Verdict, code, tc.want, tc.code, tc.why, p.Reason)
			}
		})
	}
}

func TestValidateUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	for _, args := range [][]string{{"--promise", "no-such"}, {"--runs", "0"}, {"--set", "rpo=forever"}, {"extra"}} {
		stdout.Reset()
		stderr.Reset()
		if code := run(context.Background(), append([]string{"validate", "--provider", "fake", "--out", t.TempDir()}, args...), &stdout, &stderr); code != exitUsage {
			t.Errorf("validate %v: exit %d, want %d\n%s", args, code, exitUsage, stderr.String())
		}
	}
	if code := run(context.Background(), []string{"validate", "--help"}, &stdout, &stderr); code != exitPass || !strings.Contains(stdout.String(), "failback-no-loss") {
		t.Errorf("validate --help: exit %d, or the promise IDs are missing:\n%s", code, stdout.String())
	}
}

// TestValidateControls: with --controls, the promise's negative control
// runs and is shown failing (the check can fail), beside its evidence run.
func TestValidateControls(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two drills")
	}
	// The default phases: 30 service minutes failed over leave region b
	// writes its last log backup has not shipped when the failback starts
	// (with quick's 10 the control once lost nothing on a loaded machine).
	v, dir, code := validateWith(t, []string{"--set", "min-writes-before-fault=10"}, "--promise", "failback-no-loss", "--controls")
	sameAsRuns(t, v, dir, code)
	if len(v.Controls) != 1 || len(v.Promises[0].Controls) != 1 {
		t.Fatalf("one control ran: %+v", v.Controls)
	}
	c := v.Promises[0].Controls[0]
	if !c.Ran || c.Name != "failback-without-final-log-backup" {
		t.Fatalf("control: %+v", c)
	}
	res, err := report.ReadResult(filepath.Join(dir, c.Dir))
	if err != nil {
		t.Fatal(err)
	}
	got := "not run"
	for _, r := range res.Checks {
		if r.Name == "failback-loss" {
			got = string(r.Verdict)
		}
	}
	if got != c.Got["failback-loss"] {
		t.Errorf("validation.json says the control's failback-loss was %s, its result.json %s", c.Got["failback-loss"], got)
	}
	if got == string(assertions.Unknown) {
		t.Skipf("the control could not tell on this machine: %s", c.Why)
	}
	if !c.Shown || got != string(assertions.Fail) {
		t.Errorf("the control did not show failback-loss failing: %+v", c)
	}
	if !strings.Contains(c.Replay, "scenario.yaml") {
		t.Errorf("the control's replay is not its scenario file: %q", c.Replay)
	}
}
