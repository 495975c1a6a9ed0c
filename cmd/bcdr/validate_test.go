package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
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

// A bad --search value exits 254 before anything runs, naming the flag.
func TestValidateSearchUsage(t *testing.T) {
	for _, n := range []string{"-1", "101", "many"} {
		dir := filepath.Join(t.TempDir(), "v")
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"validate", "--provider", "fake", "--search", n, "--out", dir}, &stdout, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), "-search") {
			t.Errorf("validate --search %s: exit %d, want %d naming --search\n%s", n, code, exitUsage, stderr.String())
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("validate --search %s created its output folder (%v)", n, err)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"validate", "--help"}, &stdout, &stderr); code != exitPass || !strings.Contains(stdout.String(), "--search N") ||
		!strings.Contains(stdout.String(), "DIR/search/ID/") {
		t.Errorf("validate --help does not describe --search:\n%s", stdout.String())
	}
}

// The search goes to the first evidence scenario with a region loss to
// move, shaped as the validation's runs; a promise whose scenarios have
// none gets a reason; a promise whose figure no search makes worst gets
// no search at all.
func TestValidateSearchTargets(t *testing.T) {
	v := validation{provider: "fake", sets: []string{"log-backup-interval=7m"}, scale: 150}
	hardwareOnly := promises.Map[0]
	hardwareOnly.ID, hardwareOnly.Scenarios = "rpo-on-hardware", []string{"hardware/instance-crash"}
	wanFirst := promises.Map[0]
	wanFirst.ID, wanFirst.Scenarios = "rpo-wan-first", []string{"hardware/instance-crash", "network/wan-partition-then-outage", "region/region-outage-short"}
	fb, _ := promises.Lookup("failback-no-loss") // failback-loss: not a search figure
	cs, _ := promises.Lookup("cross-store")      // judged in every run
	specs := []report.PromiseSpec{hardwareOnly, wanFirst, fb, cs}
	plan, err := v.plan(specs, 4, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	got := searchTargets(specs, plan)
	if len(got) != 3 {
		t.Fatalf("want searches for the three rpo and cross-store promises, got %d: %+v", len(got), got)
	}
	if got[0].scenario != "" || !strings.Contains(got[0].why, "hardware/instance-crash") || !strings.Contains(got[0].why, "has a region loss to move") {
		t.Errorf("a promise without a region loss: %q %q", got[0].scenario, got[0].why)
	}
	w := got[1]
	if w.scenario != "network/wan-partition-then-outage" || w.why != "" {
		t.Errorf("the first scenario with a region loss: %q (%s)", w.scenario, w.why)
	}
	if w.sc.Seed != 4 || w.sc.Spec.Provider != "fake" || w.sc.Spec.LogBackupInterval != 7*time.Minute || w.sc.Scale != 150 {
		t.Errorf("the searched scenario is not shaped as the runs: seed %d, provider %s, log backup %s, scale %g",
			w.sc.Seed, w.sc.Spec.Provider, w.sc.Spec.LogBackupInterval, w.sc.Scale)
	}
	if got[2].promise.ID != "cross-store" || got[2].scenario != "network/wan-partition-then-outage" {
		t.Errorf("cross-store searches the validation's first scenario with a region loss: %+v", got[2].scenario)
	}
}

// An interrupt before the searches start: the validation is unknown and
// says INTERRUPTED, and so does each search block; nothing ran.
func TestValidateSearchInterrupted(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"validate", "--provider", "fake", "--promise", "failover-data-loss", "--search", "3", "--out", dir}, &stdout, &stderr)
	v, err := report.ReadValidation(dir)
	if err != nil {
		t.Fatalf("exit %d, no validation.json: %v\n%s", code, err, stderr.String())
	}
	if code != exitUnknown || v.Verdict != assertions.Unknown || !strings.HasPrefix(v.Summary, "INTERRUPTED") {
		t.Errorf("exit %d, verdict %s, summary %q", code, v.Verdict, v.Summary)
	}
	s := v.Promises[0].Search
	if s == nil || !strings.HasPrefix(s.Stopped, "INTERRUPTED") || s.Ran != 0 || s.Budget != 3 || s.Worst != nil {
		t.Errorf("the search block: %+v", s)
	}
	if !strings.Contains(stdout.String(), "failover-data-loss: search rpo, 0 of 3 drills") {
		t.Errorf("the console does not show the search:\n%s", stdout.String())
	}
}

// bcdr validate --search 3 on the fake provider, with log backups every 30
// minutes and a steady state of 33: the validation's own runs lose the
// region 3 minutes after a backup (a loss window well inside the 15-minute
// RPO), while the search moves the loss later in the backup period (seed
// 1 tries about +30s, +15m30s, then +23m), where the window grows past
// the RPO. replication-lag is skipped: with backups every 30 minutes it
// fails in the steady state of every run (the control
// log-shipping-lag-above-rpo), which would fail the promise whatever the
// search found. The promise must fail because of a searched moment; the
// search block has its 3 candidates and a worst.yaml that reads back with
// the worst moment. Five drills of about 80 service minutes.
func TestValidateSearchFake(t *testing.T) {
	if testing.Short() {
		t.Skip("runs five drills on the fake provider")
	}
	v, dir, code := validate(t, "--promise", "failover-data-loss", "--search", "3", "--set", "log-backup-interval=30m",
		"--set", "steady-state=33m", "--set", "skip-checks=replication-lag")
	sameAsRuns(t, v, dir, code)
	p := v.Promises[0]
	s := p.Search
	if s == nil {
		t.Fatalf("no search block: %+v", p)
	}
	if s.Figure != "rpo" || s.Budget != 3 || s.Ran != 3 || len(s.Candidates) != 3 || s.Scenario != "region/region-outage-short" || s.Stopped != "" {
		t.Fatalf("search block: %+v", s)
	}
	if len(p.Evidence) != 5 || len(v.Runs) != 5 {
		t.Errorf("the two runs and the three searched drills are the evidence: %d evidence, %d runs", len(p.Evidence), len(v.Runs))
	}
	for _, c := range s.Candidates {
		if _, err := os.Stat(filepath.Join(dir, c.Run, report.ResultFile)); err != nil || !strings.HasPrefix(c.Run, "search/failover-data-loss/") {
			t.Errorf("candidate #%d: run folder %s: %v", c.N, c.Run, err)
		}
	}
	w := s.Worst
	if w == nil {
		t.Fatalf("no worst moment: %+v", s)
	}
	sc, _, err := harness.LoadScenarioFile(filepath.Join(dir, s.File))
	if err != nil {
		t.Fatalf("worst.yaml does not read back: %v", err)
	}
	// The file loses the region at the worst moment, or, when that failed,
	// one noise band earlier (search's replayMoment).
	want := w.AtS
	if s.ReplayAt != "" {
		if s.ReplayAtS <= 0 || s.ReplayAtS >= w.AtS || w.Verdict != assertions.Fail {
			t.Errorf("replay moment %s (%vs) for the worst at %s (%s)", s.ReplayAt, s.ReplayAtS, w.At, w.Verdict)
		}
		want = s.ReplayAtS
	}
	if sc.Spec.Provider != "fake" || sc.Spec.LogBackupInterval != 30*time.Minute || sc.Seed != 1 || len(sc.Faults) != 1 ||
		sc.Faults[0].At.Seconds() != want {
		t.Errorf("worst.yaml: provider %s, log backup %s, seed %d, faults %v; want the region lost at %vs", sc.Spec.Provider,
			sc.Spec.LogBackupInterval, sc.Seed, sc.Faults, want)
	}
	if !strings.HasPrefix(s.Replay, "bcdr drill --file "+filepath.Join(dir, "search", "failover-data-loss", "worst.yaml")) {
		t.Errorf("replay: %q", s.Replay)
	}
	// The validation's own runs are a loss 3 minutes after a backup.
	for _, e := range p.Evidence {
		if e.SearchedAt == "" && e.Verdict == assertions.Fail {
			t.Errorf("the validation's own run %s failed (the test wants the failure from the search): %s", e.Run, e.Reason)
		}
	}
	if p.Verdict != assertions.Fail && w.Verdict != assertions.Fail {
		t.Skipf("no searched moment could be told failing on this machine: %s (worst %+v)", p.Reason, w)
	}
	if p.Verdict != assertions.Fail || code != exitFail || w.Verdict != assertions.Fail || w.Promise != assertions.Fail {
		t.Errorf("a failing searched moment fails the promise: %s (exit %d), worst %+v", p.Verdict, code, w)
	}
	if !strings.Contains(p.Reason, "searched moment: region-outage at +") || p.Worst == nil || !strings.HasPrefix(p.Worst.Run, "search/") {
		t.Errorf("the reason and the worst figure are a searched moment's: %q, worst %+v", p.Reason, p.Worst)
	}
}
