package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
)

// Planted runs: results as harness.FinishResult writes them, with the
// verdicts assertions.Judge gave; the validation only combines them.

var (
	specRPO = PromiseSpec{ID: "failover-data-loss", Text: "unplanned region failover: data loss", Figure: "RPO at most 15 min",
		Checks: []string{"rpo", "cross-store"}, FigureCheck: "rpo", Scenarios: []string{"region/a", "region/b"},
		Controls: []string{"rpo-log-backup-above-budget"}}
	specFailback = PromiseSpec{ID: "failback-no-loss", Text: "failback: no data loss", Figure: "zero acknowledged writes lost",
		Checks: []string{"failback-loss"}, FigureCheck: "failback-loss", Scenarios: []string{"region/a"},
		Controls: []string{"failback-without-final-log-backup"}}
	specValid = PromiseSpec{ID: "valid-test", Text: "the test itself is valid", Figure: "enough traffic", Harness: true,
		Checks: []string{"validity"}, Every: true, ControlNote: "a note"}
	specs = []PromiseSpec{specRPO, specFailback, specValid}
)

func check(name string, v assertions.Verdict, observed, budget time.Duration) assertions.Result {
	return assertions.Result{Name: name, Verdict: v, Observed: observed, Budget: budget,
		ObservedServiceS: observed.Seconds(), BudgetServiceS: budget.Seconds(), Explanation: name + " said " + string(v)}
}

// plantedRun is a run whose checks all pass but for the overrides.
func plantedRun(scenario string, seed int64, rpo time.Duration, over ...assertions.Result) ValidationRun {
	checks := []assertions.Result{
		check("validity", assertions.Pass, 0, 0),
		check("rpo", assertions.Pass, rpo, 15*time.Minute),
		check("failback-loss", assertions.Pass, 0, 0),
		check("cross-store", assertions.Pass, 0, 15*time.Minute),
	}
	for _, o := range over {
		for i := range checks {
			if checks[i].Name == o.Name {
				checks[i] = o
			}
		}
	}
	var vs []assertions.Verdict
	for _, c := range checks {
		vs = append(vs, c.Verdict)
	}
	r := Result{Scenario: scenario, Seed: seed, Provider: "fake", SQLEngine: "postgres", TimeScale: 200,
		Verdict: assertions.Worst(vs...), Checks: checks, Replay: "bcdr drill --file runs/" + scenario + "/scenario.yaml", WallS: 20}
	dir := strings.ReplaceAll(scenario, "/", "-") + "-s" + string(rune('0'+seed))
	return ValidationRun{Scenario: scenario, Dir: "runs/" + dir, Result: r}
}

func TestValidationAllHold(t *testing.T) {
	runs := []ValidationRun{
		plantedRun("region/a", 1, 3*time.Minute), plantedRun("region/a", 2, 9*time.Minute),
		plantedRun("region/b", 1, 5*time.Minute), plantedRun("hardware/c", 1, 0),
	}
	v := BuildValidation(specs, runs, nil, Environment{Provider: "fake", Cores: 2})
	if v.Verdict != assertions.Pass || v.Held != 3 || v.Failed+v.Unknown != 0 {
		t.Fatalf("every planted run passed: want every promise held, got %s (%d held, %d failed, %d unknown): %s", v.Verdict, v.Held, v.Failed, v.Unknown, v.Summary)
	}
	rpo := v.Promises[0]
	if len(rpo.Evidence) != 3 {
		t.Errorf("the data-loss promise rests on its 3 runs of region/a and region/b, got %d", len(rpo.Evidence))
	}
	if rpo.Worst == nil || rpo.Worst.ServiceS != 540 || rpo.Median.ServiceS != 300 || rpo.Worst.Run != "runs/region-a-s2" {
		t.Errorf("worst 9m0s (region/a seed 2), median 5m0s; got worst %+v median %+v", rpo.Worst, rpo.Median)
	}
	if n := len(v.Promises[2].Evidence); n != 4 {
		t.Errorf("validity is judged in every run (4), got %d", n)
	}
	if c := rpo.Controls[0]; c.Ran || c.Name != "rpo-log-backup-above-budget" || !strings.Contains(c.Why, "--controls") {
		t.Errorf("a control not run is named and says how to run it: %+v", c)
	}
	if !strings.Contains(v.Summary, "Every one of the 3 promises held") {
		t.Errorf("summary: %s", v.Summary)
	}
	if v.Environment.TimeScales[0] != 200 || len(v.Seeds) != 2 {
		t.Errorf("time scales %v, seeds %v", v.Environment.TimeScales, v.Seeds)
	}
}

// TestValidationPlantedFailure is the negative control of validate: one
// planted failing run makes its promise fail, the others still hold, and
// the overall verdict is fail.
func TestValidationPlantedFailure(t *testing.T) {
	lost := check("failback-loss", assertions.Fail, 0, 0)
	lost.LostCount = 12
	runs := []ValidationRun{
		plantedRun("region/a", 1, 3*time.Minute), plantedRun("region/a", 2, 4*time.Minute, lost),
		plantedRun("region/b", 1, 5*time.Minute),
	}
	v := BuildValidation(specs, runs, nil, Environment{Provider: "fake"})
	fb := v.Promises[1]
	if fb.Verdict != assertions.Fail || v.Verdict != assertions.Fail || v.Failed != 1 || v.Held != 2 {
		t.Fatalf("a failing run of its scenario must fail failback-no-loss and the validation: %s %s (%d held)", fb.Verdict, v.Verdict, v.Held)
	}
	if !strings.Contains(fb.Reason, "region/a (seed 2)") || !strings.Contains(fb.Reason, "failback-loss said fail") || fb.Lost != 12 {
		t.Errorf("the reason names the run and the check: %q, lost %d", fb.Reason, fb.Lost)
	}
	if !strings.Contains(v.Summary, "1 of 3 promises did not hold (failback: no data loss)") {
		t.Errorf("summary: %s", v.Summary)
	}
}

func TestValidationUnknown(t *testing.T) {
	invalid := check("validity", assertions.Unknown, 0, 0)
	t.Run("invalid run", func(t *testing.T) {
		v := BuildValidation(specs, []ValidationRun{plantedRun("region/a", 1, time.Minute, invalid), plantedRun("region/b", 1, time.Minute)}, nil, Environment{})
		if v.Promises[1].Verdict != assertions.Unknown || !strings.Contains(v.Promises[1].Reason, "not a valid test") {
			t.Errorf("a pass in an invalid run proves nothing: %s %q", v.Promises[1].Verdict, v.Promises[1].Reason)
		}
		if v.Verdict != assertions.Unknown || v.Unknown != 3 {
			t.Errorf("overall %s with %d unknown", v.Verdict, v.Unknown)
		}
	})
	t.Run("no evidence", func(t *testing.T) {
		v := BuildValidation(specs, []ValidationRun{plantedRun("hardware/c", 1, 0)}, nil, Environment{})
		if p := v.Promises[0]; p.Verdict != assertions.Unknown || !strings.Contains(p.Reason, "no run of this validation judged it") {
			t.Errorf("a promise no run judged is unknown: %s %q", p.Verdict, p.Reason)
		}
	})
	t.Run("unjudged requests", func(t *testing.T) {
		r := plantedRun("region/a", 1, time.Minute)
		r.Result.Verdict, r.Result.Reason = assertions.Unknown, "2 customer requests failed where no check judged them"
		v := BuildValidation([]PromiseSpec{specFailback}, []ValidationRun{r}, nil, Environment{})
		if p := v.Promises[0]; p.Verdict != assertions.Unknown || !strings.Contains(p.Reason, "no check judged them") {
			t.Errorf("a run that could not tell for no check's reason: %s %q", p.Verdict, p.Reason)
		}
	})
	t.Run("control did not fail", func(t *testing.T) {
		ctl := ControlRun{Name: "failback-without-final-log-backup", Checks: []string{"failback-loss"}, Want: assertions.Fail,
			Dir: "runs/control", Result: plantedRun("region/a", 1, time.Minute).Result}
		v := BuildValidation([]PromiseSpec{specFailback}, []ValidationRun{plantedRun("region/a", 1, time.Minute)}, []ControlRun{ctl}, Environment{})
		p := v.Promises[0]
		if p.Verdict != assertions.Unknown || !strings.Contains(p.Reason, "did not show its check failing") || p.Controls[0].Shown {
			t.Errorf("a control that passed shows nothing: %s %q %+v", p.Verdict, p.Reason, p.Controls[0])
		}
		failing := ctl
		failing.Result = plantedRun("region/a", 1, time.Minute, check("failback-loss", assertions.Fail, 0, 0)).Result
		v = BuildValidation([]PromiseSpec{specFailback}, []ValidationRun{plantedRun("region/a", 1, time.Minute)}, []ControlRun{failing}, Environment{})
		if p := v.Promises[0]; p.Verdict != assertions.Pass || !p.Controls[0].Shown || p.Controls[0].Got["failback-loss"] != "fail" {
			t.Errorf("a control that failed as built: %s %+v", p.Verdict, p.Controls[0])
		}
	})
}

func TestValidationFiles(t *testing.T) {
	lost := check("failback-loss", assertions.Fail, 0, 0)
	v := BuildValidation(specs, []ValidationRun{plantedRun("region/a", 1, 3*time.Minute, lost), plantedRun("region/b", 1, 5*time.Minute)}, nil,
		Environment{Provider: "fake", Cores: 2, OS: "Debian <test>", Engines: []string{"in-memory"}})
	v.Command = "bcdr validate --provider fake"
	dir := t.TempDir()
	if *sampleDir != "" {
		dir = filepath.Join(*sampleDir, "validation")
	}
	if err := WriteValidation(dir, v); err != nil {
		t.Fatal(err)
	}
	back, err := ReadValidation(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.Verdict != v.Verdict || len(back.Promises) != len(v.Promises) || back.Promises[1].Evidence[0].Verdict != v.Promises[1].Evidence[0].Verdict {
		t.Errorf("validation.json does not read back as written")
	}
	page := readFile(t, filepath.Join(dir, ValidationHTMLFile))
	for _, want := range []string{
		`<p class="headline fail" id="summary">`, v.Summary[:40],
		`<tr class="fail" id="promise-failback-no-loss">`, `<tr class="pass" id="promise-failover-data-loss">`,
		`<a href="runs/region-a-s1/report.html">`, "bcdr drill --file runs/region/a/scenario.yaml",
		"failback-without-final-log-backup", "named, not run", "Debian &lt;test&gt;", "2 cores", "bcdr validate --provider fake",
		"5m; 3m of 15m", // worst; median of the budget
	} {
		if !strings.Contains(page, want) {
			t.Errorf("validation.html lacks %q", want)
		}
	}
	for _, external := range []string{"<script", "src=", "href=\"http", "@import", "url("} {
		if strings.Contains(page, external) {
			t.Errorf("validation.html is not self-contained: it has %q", external)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ValidationFile)); err != nil {
		t.Error(err)
	}
}

func TestValidationTrend(t *testing.T) {
	lost := check("failback-loss", assertions.Fail, 0, 0)
	lost.LostCount = 7
	older := BuildValidation(specs, []ValidationRun{plantedRun("region/a", 1, 3*time.Minute), plantedRun("region/b", 1, 5*time.Minute)}, nil, Environment{Provider: "fake"})
	older.Started = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	newer := BuildValidation(specs, []ValidationRun{plantedRun("region/a", 1, 11*time.Minute, lost), plantedRun("region/b", 1, 5*time.Minute)}, nil, Environment{Provider: "local"})
	newer.Started = older.Started.AddDate(1, 0, 0)
	root := t.TempDir()
	a, b := filepath.Join(root, "2027"), filepath.Join(root, "2026")
	if err := WriteValidation(a, newer); err != nil {
		t.Fatal(err)
	}
	if err := WriteValidation(b, older); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := ValidationTrend(&out, []string{a, b}); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	lines := strings.Split(out.String(), "\n")
	for _, want := range []struct{ prefix, first, second string }{
		{"promise (worst)", "#1 2026-01-05 10:00", "#2 2027-01-05 10:00"}, // oldest first
		{"(validation)", "pass 3/3 held", "fail 2/3 held"},
		{"failover-data-loss", "pass 5m", "pass 11m"},
		{"failback-no-loss", "pass", "fail 7 lost"},
	} {
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, want.prefix) {
				found = true
				i, j := strings.Index(l, want.first), strings.Index(l, want.second)
				if i < 0 || j < 0 || i > j {
					t.Errorf("row %q: want %q then %q: %q", want.prefix, want.first, want.second, l)
				}
			}
		}
		if !found {
			t.Errorf("no row %q", want.prefix)
		}
	}
	if !strings.Contains(out.String(), "#1 "+b+" (fake provider, seeds 1, 2 runs)") {
		t.Errorf("the folders are not listed oldest first:\n%s", out.String())
	}
}

// TestValidationReasonIsTheVerdicts: a promise that failed in one run and
// could not tell in another gives the failing run as its reason.
func TestValidationReasonIsTheVerdicts(t *testing.T) {
	unknownRun := plantedRun("region/a", 1, time.Minute, check("rpo", assertions.Unknown, 0, 0))
	failRun := plantedRun("region/b", 1, time.Minute, check("rpo", assertions.Fail, 20*time.Minute, 15*time.Minute))
	v := BuildValidation([]PromiseSpec{specRPO}, []ValidationRun{unknownRun, failRun}, nil, Environment{})
	if p := v.Promises[0]; p.Verdict != assertions.Fail || !strings.HasPrefix(p.Reason, "region/b (seed 1): rpo: rpo said fail") {
		t.Errorf("want fail for region/b's run, got %s: %q", p.Verdict, p.Reason)
	}
}
