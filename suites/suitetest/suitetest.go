// Package suitetest is the test-facing layer of the suites: it runs a
// scenario under testing.T, saves its results where CI can find them, judges
// the saved run again from its files (Rejudge), and compares every check
// with the verdict the scenario expects.
package suitetest

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/promises"
	"github.com/bcdr-harness/bcdr/topology"
	_ "github.com/bcdr-harness/bcdr/topology/providers" // every provider (BCDR_PROVIDER=NAME)
)

// Provider returns the provider the suites run on: BCDR_PROVIDER or the
// default (local).
func Provider() string {
	if p := os.Getenv("BCDR_PROVIDER"); p != "" {
		return p
	}
	return topology.DefaultSpec().Provider
}

// Run runs sc, saves its results under BCDR_RESULTS (when set) and returns
// the outcome. It fails the test if the run itself errored, and skips it
// with -short: every suite drill honours -short here.
func Run(t testing.TB, sc harness.Scenario) *harness.Outcome {
	t.Helper()
	if testing.Short() {
		t.Skip("drills are skipped with -short")
	}
	if sc.Spec.Provider == "" || sc.Spec.Provider == topology.DefaultSpec().Provider {
		sc.Spec.Provider = Provider()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	opts := harness.Options{Logf: func(f string, a ...any) {
		t.Logf("+%5.1fs "+f, append([]any{time.Since(start).Seconds()}, a...)...)
	}}
	out, err := harness.Run(ctx, sc, opts)
	if err != nil && bringUpFailed(out) && ctx.Err() == nil {
		// The environment never came up (a port taken by another process
		// between its choice and its bind, say): no drill ran and no
		// verdict is hidden by trying once more.
		t.Logf("%s: bring-up failed, trying once more: %v", sc.Name, err)
		out, err = harness.Run(ctx, sc, opts)
	}
	if err == nil && ctx.Err() == nil {
		if scale, why := out.RerunScale(0); scale > 0 {
			// Too close to call is not a verdict: the figure lies within
			// the harness's own timing noise of its budget. The same drill
			// at a scale where that noise is small decides it (a finer
			// measurement, not the same one tried again). So with a run
			// the machine could not drive: at a lower scale it has more
			// wall time for the same writes.
			t.Logf("%s: %s; deciding at scale %g", sc.Name, why, scale)
			sc.Scale = scale
			out, err = harness.Run(ctx, sc, opts)
		}
	}
	if out != nil {
		replayFile := replayable(t, sc, out)
		// Every run is saved (under BCDR_RESULTS, else in a folder of the
		// test's own) and judged again from its files alone.
		dir, kept := os.Getenv("BCDR_RESULTS"), true
		if dir == "" {
			dir, kept = t.TempDir(), false
		}
		d := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
		if werr := out.Save(d); werr != nil {
			t.Errorf("save results: %v", werr)
		} else {
			if err == nil {
				// A run that finished is judged again from its folder,
				// as bcdr check DIR does, check by check against the
				// run itself.
				RejudgeRun(t, d, out)
			}
			if kept && replayFile != nil {
				p := filepath.Join(d, "scenario.yaml")
				if werr := os.WriteFile(p, replayFile, 0o644); werr == nil {
					out.Result.Replay = "bcdr drill --file " + p
				}
			}
		}
		t.Logf("%s: verdict %s, %d acknowledged writes, %d failed, %d unknown; replay: %s",
			sc.Name, out.Result.Verdict, out.Result.Workload.AcknowledgedWrites, out.Result.Workload.Failed,
			out.Result.Workload.Unknown, out.Result.Replay)
		for _, c := range out.Result.Checks {
			t.Logf("  %-26s %-7s observed %8.1fs budget %8.1fs (service) lost %d: %s", c.Name, c.Verdict,
				c.ObservedServiceS, c.BudgetServiceS, c.LostCount, c.Explanation)
		}
	}
	if err != nil {
		t.Fatalf("%s: run failed: %v", sc.Name, err)
	}
	return out
}

// Rejudge judges the run saved in dir again from its files alone
// (harness.Rejudge: history.jsonl and evidence.json, the code the run was
// judged with) and fails the test for every way the outcome differs from
// the saved result.json: a check's verdict, figure or noise band, naming
// the check, or the run's verdict.
func Rejudge(t testing.TB, dir string) *harness.Rejudgement {
	t.Helper()
	rj, err := harness.Rejudge(dir)
	if err != nil {
		t.Errorf("judge the saved run again: %v", err)
		return nil
	}
	for _, d := range rj.Differences {
		t.Errorf("judged again from its saved files, the run differs: %s", d)
	}
	if len(rj.Differences) == 0 {
		t.Logf("judged again from its saved files: %d checks, every verdict and figure the same (%s)", len(rj.Again.Checks), rj.Again.Verdict)
	}
	return rj
}

// RejudgeRun judges the run saved in dir again from its files alone, as
// bcdr check DIR does (harness.Rejudge), and fails the test for every way
// the outcome differs from the saved result.json (Rejudge) or from the
// run's own judgement in out: per check its name, verdict, observed figure
// and noise band, and the run's verdict. A finished run without evidence
// cannot be judged again, and fails too.
func RejudgeRun(t testing.TB, dir string, out *harness.Outcome) *harness.Rejudgement {
	t.Helper()
	if out.Evidence == nil {
		t.Errorf("the run finished but kept no evidence, so %s cannot be judged again from its files", dir)
		return nil
	}
	rj := Rejudge(t, dir)
	if rj == nil {
		return nil
	}
	for _, d := range harness.Compare(out.Result, rj.Again) {
		t.Errorf("judged again from its saved files, the run differs from the run itself: %s", d)
	}
	return rj
}

// replayable makes a row that is not a built-in scenario replayable from
// the CLI: its replay names a scenario file, whose content is logged if the
// test fails (BCDR_RESULTS also saves it beside the results).
func replayable(t testing.TB, sc harness.Scenario, out *harness.Outcome) []byte {
	if _, ok := harness.Builtin(sc.Name); ok {
		return nil
	}
	data, err := harness.ScenarioFile(sc, harness.DefaultScenario())
	if err != nil {
		t.Logf("write the scenario file of %s: %v", sc.Name, err)
		return nil
	}
	out.Result.Replay = "bcdr drill --file scenario.yaml (the file is logged if this test fails)"
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("to replay %s, save this as scenario.yaml and run: bcdr drill --file scenario.yaml\n%s", sc.Name, data)
		}
	})
	return data
}

// bringUpFailed tells whether a run ended before its environment was up:
// its history holds nothing after the bring-up phase.
func bringUpFailed(out *harness.Outcome) bool {
	if out == nil {
		return false
	}
	for _, op := range out.History.Ops {
		if op.Kind != history.Event {
			return false // a client operation: the drill ran
		}
		if p, _ := op.Value["phase"].(string); op.Key == history.EvPhase && p != "bring-up" {
			return false
		}
	}
	return len(out.History.Ops) > 0
}

// Expect compares each check's verdict with want (check name -> verdict).
// A test whose wanted checks missed their verdicts only for being too
// close to call is skipped (the run's own verdict is not Expect's
// business, so neither is its reason).
func Expect(t testing.TB, out *harness.Outcome, want map[string]assertions.Verdict) {
	t.Helper()
	var missed []assertions.Result // the wanted checks that did not get their verdict
	defer func() { skipTooClose(t, missed, "") }()
	for name, v := range want {
		c, ok := out.Check(name)
		if !ok {
			t.Errorf("check %s did not run", name)
			continue
		}
		if c.Verdict != v {
			if k, ok := knownIssue(c); ok && v == assertions.Pass && os.Getenv("BCDR_STRICT") == "" {
				t.Logf("KNOWN ISSUE, not counted (BCDR_STRICT=1 counts it): check %s %s: %s\n    known because: %s", name, c.Verdict, c.Explanation, k.Why)
				continue
			}
			missed = append(missed, c)
			if harness.MachineUndecided(c) {
				continue // skipTooClose says so
			}
			t.Errorf("check %s: want %s, got %s: %s", name, v, c.Verdict, c.Explanation)
		}
	}
}

// skipTooClose skips a test that nothing else failed when what it judged
// (checks, and the run's reason) was too close to call even after the
// rerun, or the run too starved to drive its workload
// (harness.TooCloseOnly): the machine was too noisy to tell a pass
// from a fail, which is no verdict either way, and the skip line says why
// and by how much.
func skipTooClose(t testing.TB, checks []assertions.Result, runReason string) {
	t.Helper()
	why, ok := harness.TooCloseOnly(checks, runReason)
	if !ok || t.Failed() {
		return
	}
	t.Skipf("not judged on this machine, too close to call or too starved to drive the workload (a quieter machine or a lower --scale decides): %s", why)
}

// KnownIssue is a failure that is understood, owned outside the suites and
// not fixed yet. A check that fails with every one of Symptoms in its
// explanation is logged, not counted, unless BCDR_STRICT is set; any other
// failure of the same check still fails the test.
type KnownIssue struct {
	Check    string
	Symptoms []string
	// EveryViolation requires the first symptom once per counted violation,
	// so that a real violation among the known ones still fails.
	EveryViolation bool
	Why            string
}

// KnownIssues lists the failures tolerated for now. Remove an entry once
// its cause is fixed; BCDR_STRICT=1 shows whether it still happens.
var KnownIssues = []KnownIssue{
	// Empty: the last entry (a frozen instance taking both of a client's
	// attempts, fault-domain-availability) stopped happening once clients'
	// attempts were capped at a quarter of the retry budget and a request
	// that fails on an instance takes it out of rotation: BCDR_STRICT=1
	// passed 3 runs of 3 of the hardware suite.
}

func knownIssue(r assertions.Result) (KnownIssue, bool) {
	for _, k := range KnownIssues {
		if k.Check != r.Name || r.Verdict != assertions.Fail {
			continue
		}
		all := true
		for _, s := range k.Symptoms {
			all = all && strings.Contains(r.Explanation, s)
		}
		if all && k.EveryViolation && strings.Count(r.Explanation, k.Symptoms[0]) != r.Violations {
			all = false
		}
		if all {
			return k, true
		}
	}
	return KnownIssue{}, false
}

// AllPass requires every check of the run to pass.
func AllPass(t testing.TB, out *harness.Outcome) {
	t.Helper()
	if len(out.Result.Checks) == 0 {
		t.Fatal("the run checked nothing")
	}
	defer skipTooClose(t, out.Result.Checks, out.Result.Reason)
	for _, c := range out.Result.Checks {
		if harness.MachineUndecided(c) {
			continue
		}
		if c.Verdict != assertions.Pass {
			t.Errorf("check %s: %s: %s", c.Name, c.Verdict, c.Explanation)
		}
	}
	if _, tooClose := harness.TooCloseOnly(out.Result.Checks, out.Result.Reason); out.Result.Verdict != assertions.Pass && !tooClose {
		t.Errorf("run verdict %s (%s)", out.Result.Verdict, out.Result.Reason)
	}
}

// Short returns a built-in scenario cut to suite length, so that a suite of
// several drills stays within minutes: 5 instances per region, 20 service
// minutes of steady state, a 15-minute decision window, 15 minutes failed
// over, non-region faults held 15 minutes, 10 minutes of traffic after.
// (promises.Short: bcdr validate cuts the map's scenarios the same way).
func Short(builtin string) harness.Scenario { return promises.Short(builtin) }

// Row is one line of a suite table: a scenario (data, with the verdict each
// check must reach in its Expect) and, optionally, further assertions on
// the outcome, such as the explanation naming the right operations.
type Row struct {
	Scenario harness.Scenario
	// Skip, when set, is why the row cannot run yet (one line).
	Skip string
	// Then runs after the verdicts were compared.
	Then func(t *testing.T, out *harness.Outcome)
}

// MissingFault names the first fault of sc that the catalogue lacks ("" if
// none is missing).
func MissingFault(sc harness.Scenario) string {
	for _, f := range sc.Faults {
		if _, ok := faults.Lookup(f.Name); !ok {
			return f.Name
		}
	}
	return ""
}

// RunTable runs every row as a subtest, one after the other (drills share
// two CPU cores; running them side by side would turn timing into noise).
// A row whose fault is not in the catalogue yet is skipped with its name.
// Every check named in Expect is run even if the scenario's Checks omit it.
func RunTable(t *testing.T, rows []Row) {
	t.Helper()
	// Every row can be replayed from the CLI (a scenario file), checked in
	// short mode too.
	for _, row := range rows {
		sc := row.Scenario
		sc.Checks = withChecks(sc.Checks, sc.Expect)
		data, err := harness.ScenarioFile(sc, harness.DefaultScenario())
		if err != nil {
			t.Fatalf("%s: scenario file: %v", sc.Name, err)
		}
		got, _, err := harness.ParseScenarioFile(sc.Name+".yaml", data)
		if err != nil {
			t.Fatalf("%s: its scenario file does not read back: %v\n%s", sc.Name, err, data)
		}
		if len(got.Faults) == 0 && len(sc.Faults) == 0 {
			got.Faults = sc.Faults // none either way
		}
		if !reflect.DeepEqual(got, sc) {
			t.Fatalf("%s: its scenario file reads back as another scenario:\n%s\nwant %+v\ngot  %+v", sc.Name, data, sc, got)
		}
	}
	if testing.Short() {
		t.Skip("drills are skipped with -short")
	}
	for _, row := range rows {
		row := row
		t.Run(row.Scenario.Name, func(t *testing.T) {
			if row.Skip != "" && os.Getenv("BCDR_UNSKIP") == "" {
				t.Skip(row.Skip + " (BCDR_UNSKIP=1 runs it anyway)")
			}
			if f := MissingFault(row.Scenario); f != "" {
				t.Skipf("fault %q is not in the catalogue yet (bcdr faults)", f)
			}
			sc := row.Scenario
			sc.Checks = withChecks(sc.Checks, sc.Expect)
			if len(sc.Expect) == 0 {
				t.Fatal("the row expects nothing: a drill that checks nothing proves nothing")
			}
			out := Run(t, sc)
			Expect(t, out, sc.Expect)
			if row.Then != nil {
				row.Then(t, out)
			}
		})
	}
}

func withChecks(checks []string, expect map[string]assertions.Verdict) []string {
	out := append([]string(nil), checks...)
	have := map[string]bool{}
	for _, c := range out {
		have[c] = true
	}
	var extra []string
	for name := range expect {
		if !have[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	return append(out, extra...)
}

// Pass expects every named check to pass.
func Pass(names ...string) map[string]assertions.Verdict {
	out := map[string]assertions.Verdict{}
	for _, n := range names {
		out[n] = assertions.Pass
	}
	return out
}

// With returns want with the extra verdicts added (a copy).
func With(want map[string]assertions.Verdict, name string, v assertions.Verdict) map[string]assertions.Verdict {
	out := map[string]assertions.Verdict{}
	for k, x := range want {
		out[k] = x
	}
	out[name] = v
	return out
}

// CheckNames requires the named check's result to mention every history
// operation in ops by index and every text in mentions.
func CheckNames(t testing.TB, out *harness.Outcome, check string, mentions ...string) assertions.Result {
	t.Helper()
	r, ok := out.Check(check)
	if !ok {
		t.Fatalf("check %s did not run", check)
	}
	for _, m := range mentions {
		if !strings.Contains(r.Explanation, m) {
			t.Errorf("check %s: explanation does not mention %q: %s", check, m, r.Explanation)
		}
	}
	return r
}

// OpsExist requires every operation a result names to be in the history,
// and at least one of them to be of one of kinds (a client operation the
// explanation can point at) when kinds are given.
func OpsExist(t testing.TB, out *harness.Outcome, r assertions.Result, kinds ...history.Kind) {
	t.Helper()
	if len(r.Ops) == 0 {
		t.Errorf("check %s names no operation", r.Name)
		return
	}
	found := len(kinds) == 0
	for _, i := range r.Ops {
		if i < 0 || i >= len(out.History.Ops) {
			t.Errorf("check %s names operation %d, outside the history (%d ops)", r.Name, i, len(out.History.Ops))
			continue
		}
		for _, k := range kinds {
			found = found || out.History.Ops[i].Kind == k
		}
	}
	if !found {
		t.Errorf("check %s names no %v operation among %v", r.Name, kinds, r.Ops)
	}
}
