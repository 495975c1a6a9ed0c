package suitetest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/report"
	"github.com/bcdr-harness/bcdr/topology/fake"
)

func TestKnownIssueMatchesOnlyItsSymptom(t *testing.T) {
	saved := KnownIssues
	defer func() { KnownIssues = saved }()
	KnownIssues = []KnownIssue{{Check: "fault-domain-availability", Symptoms: []string{"instance-freeze", "context deadline exceeded", "1 client request failed"}, Why: "test entry"}}
	orphan := "orphan-entry-1: 2 journal lines with no entry row (a partial entry, or data read outside one transaction while writes went on) in region b right after failover"
	for _, c := range []struct {
		r    assertions.Result
		want bool
	}{
		{assertions.Result{Name: "ledger", Verdict: assertions.Fail, Violations: 1, Explanation: "1 stored journal entry of 9 violate the ledger's rules: " + orphan}, false}, // fixed: no longer tolerated
		{assertions.Result{Name: "ledger", Verdict: assertions.Fail, Violations: 2, Explanation: "2 stored journal entries of 9 violate: je-1: unbalanced; " + orphan}, false},
		{assertions.Result{Name: "ledger", Verdict: assertions.Unknown, Violations: 1, Explanation: orphan}, false},
		{assertions.Result{Name: "rpo", Verdict: assertions.Fail, Violations: 1, Explanation: orphan}, false},
		{assertions.Result{Name: "fault-domain-availability", Verdict: assertions.Fail, Explanation: "customers noticed the hardware fault (instance-freeze ...): 1 client request failed past the retry budget: context deadline exceeded"}, true},
		{assertions.Result{Name: "fault-domain-availability", Verdict: assertions.Fail, Explanation: "customers noticed the hardware fault (instance-freeze ...): 3 client requests failed past the retry budget: context deadline exceeded"}, false},
	} {
		if _, got := knownIssue(c.r); got != c.want {
			t.Errorf("%s %q: known %v, want %v", c.r.Name, c.r.Explanation, got, c.want)
		}
	}
	// The frozen-instance symptom is fixed: no longer tolerated.
	KnownIssues = saved
	frozen := assertions.Result{Name: "fault-domain-availability", Verdict: assertions.Fail, Explanation: "customers noticed the hardware fault (instance-freeze ...): 1 client request failed past the retry budget: context deadline exceeded"}
	if _, got := knownIssue(frozen); got {
		t.Errorf("the frozen-instance failure is tolerated again")
	}
}

func TestWithChecksAddsExpectedChecks(t *testing.T) {
	got := withChecks([]string{"validity"}, map[string]assertions.Verdict{"rpo": assertions.Pass, "validity": assertions.Pass, "ledger": assertions.Fail})
	if len(got) != 3 || got[0] != "validity" || got[1] != "ledger" || got[2] != "rpo" {
		t.Errorf("withChecks = %v", got)
	}
}

func TestBringUpFailedOnlyBeforeTheDrill(t *testing.T) {
	phase := func(p string) history.Op {
		return history.Op{Kind: history.Event, Key: history.EvPhase, Value: map[string]any{"phase": p}}
	}
	mk := func(ops ...history.Op) *harness.Outcome { return &harness.Outcome{History: history.History{Ops: ops}} }
	if !bringUpFailed(mk(phase("bring-up"))) {
		t.Error("a history that stops at bring-up is a failed bring-up")
	}
	if bringUpFailed(mk(phase("bring-up"), phase("steady-state"))) {
		t.Error("a run that reached steady state is not a failed bring-up")
	}
	if bringUpFailed(mk(phase("bring-up"), history.Op{Kind: history.JournalEntry, Type: history.Invoke})) {
		t.Error("a run with client operations is not a failed bring-up")
	}
	if bringUpFailed(nil) || bringUpFailed(mk()) {
		t.Error("no outcome or an empty history is not a failed bring-up")
	}
}

// errorRecorder is a testing.TB that keeps what a helper reports.
type errorRecorder struct {
	testing.TB
	errors []string
}

func (r *errorRecorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *errorRecorder) Logf(string, ...any) {}
func (r *errorRecorder) Helper()             {}

// Rejudge passes a saved run its files judge the same, and fails one whose
// result.json says otherwise, naming the check.
func TestRejudgeFailsADifferingVerdictNamingTheCheck(t *testing.T) {
	in := assertions.Input{History: history.History{Scale: 200, Epoch: time.Unix(1_800_000_000, 0)}, Budgets: assertions.DefaultBudgets()}
	names := []string{"validity", "ledger"}
	ev := assertions.NewEvidence(in, names)
	j := assertions.Judge(in, ev.Checks)
	out := &harness.Outcome{History: in.History, Evidence: &ev,
		Result: report.Result{Scenario: "synthetic", Checks: j.Checks, Verdict: j.Verdict, Reason: j.Reason}}
	dir := t.TempDir()
	if err := out.Save(dir); err != nil {
		t.Fatal(err)
	}
	same := &errorRecorder{TB: t}
	if rj := Rejudge(same, dir); rj == nil || len(same.errors) > 0 {
		t.Fatalf("the untouched run: %v", same.errors)
	}
	ledger, ok := out.Check("ledger")
	if !ok || ledger.Verdict == assertions.Pass {
		t.Fatalf("the synthetic run was meant to leave the ledger unjudged, got %+v", ledger)
	}
	for i := range out.Result.Checks {
		if out.Result.Checks[i].Name == "ledger" {
			out.Result.Checks[i].Verdict = assertions.Pass
		}
	}
	if err := report.WriteResult(dir, out.Result); err != nil {
		t.Fatal(err)
	}
	differs := &errorRecorder{TB: t}
	Rejudge(differs, dir)
	want := fmt.Sprintf("ledger: verdict saved pass, re-judged %s", ledger.Verdict)
	if len(differs.errors) != 1 || !strings.Contains(differs.errors[0], want) {
		t.Errorf("a saved pass the files do not give: errors %q, want one saying %q", differs.errors, want)
	}
}

// A run that only fell too close to call is skipped by AllPass and by an
// Expect whose wanted check was the one too close; an Expect whose wanted
// checks got their verdicts passes.
func TestTooCloseRunsAreSkipped(t *testing.T) {
	out := &harness.Outcome{Result: report.Result{Verdict: assertions.Unknown, Checks: []assertions.Result{
		{Name: "rpo", Verdict: assertions.Pass},
		{Name: "failback-interruption", Verdict: assertions.Unknown, TooClose: true, Explanation: "too close to call: over by 1s"},
	}}}
	var allPass, expectClose, expectOther bool
	t.Run("all pass", func(t *testing.T) { defer func() { allPass = t.Skipped() }(); AllPass(t, out) })
	t.Run("expect the close one", func(t *testing.T) {
		defer func() { expectClose = t.Skipped() }()
		Expect(t, out, map[string]assertions.Verdict{"failback-interruption": assertions.Pass})
	})
	t.Run("expect another", func(t *testing.T) {
		defer func() { expectOther = t.Skipped() }()
		Expect(t, out, map[string]assertions.Verdict{"rpo": assertions.Pass})
	})
	if !allPass || !expectClose || expectOther {
		t.Errorf("skipped: AllPass %v (want true), Expect of the too-close check %v (want true), Expect of a decided check %v (want false)", allPass, expectClose, expectOther)
	}
}

// RejudgeRun compares the judgement from the files with the run itself,
// not only with its result.json: an outcome whose checks differ from what
// its saved files give fails, naming the check; a finished run without
// evidence fails too.
func TestRejudgeRunComparesWithTheRunItself(t *testing.T) {
	in := assertions.Input{History: history.History{Scale: 200, Epoch: time.Unix(1_800_000_000, 0)}, Budgets: assertions.DefaultBudgets()}
	ev := assertions.NewEvidence(in, []string{"validity", "ledger"})
	j := assertions.Judge(in, ev.Checks)
	out := &harness.Outcome{History: in.History, Evidence: &ev,
		Result: report.Result{Scenario: "synthetic", Checks: j.Checks, Verdict: j.Verdict, Reason: j.Reason}}
	dir := t.TempDir()
	if err := out.Save(dir); err != nil {
		t.Fatal(err)
	}
	same := &errorRecorder{TB: t}
	if RejudgeRun(same, dir, out) == nil || len(same.errors) > 0 {
		t.Fatalf("the untouched run: %v", same.errors)
	}
	// The run believed a figure its files do not give (result.json as saved).
	ran := *out
	ran.Result.Checks = append([]assertions.Result(nil), out.Result.Checks...)
	ran.Result.Checks[1].ObservedServiceS = 42
	differs := &errorRecorder{TB: t}
	RejudgeRun(differs, dir, &ran)
	want := fmt.Sprintf("differs from the run itself: %s: figure saved 42s, re-judged 0s", ran.Result.Checks[1].Name)
	if len(differs.errors) != 1 || !strings.Contains(differs.errors[0], want) {
		t.Errorf("errors %q, want one saying %q", differs.errors, want)
	}
	noEvidence := &errorRecorder{TB: t}
	ran.Evidence = nil
	if RejudgeRun(noEvidence, dir, &ran) != nil || len(noEvidence.errors) != 1 || !strings.Contains(noEvidence.errors[0], "kept no evidence") {
		t.Errorf("a finished run without evidence: %q", noEvidence.errors)
	}
}

// A suite row's run on the fake provider goes through Run: it is saved
// (under BCDR_RESULTS), judged again from the folder as bcdr check does,
// every check the same as the run itself. Then the negative control of the
// comparison: the saved history tampered with (the sink's records of the
// customer notices rewritten as someone else's) changes customer-notice's
// verdict, and the comparison fails naming it.
func TestSuiteRunIsRejudgedAndATamperedHistoryIsCaught(t *testing.T) {
	if testing.Short() {
		t.Skip("a drill (on the fake provider): skipped with -short")
	}
	results := t.TempDir()
	t.Setenv("BCDR_RESULTS", results)
	sc := Short("region-outage")
	sc.Spec.Provider = fake.Name
	if err := sc.SetAll([]string{"probe-every=10s"}); err != nil {
		t.Fatal(err)
	}
	var out *harness.Outcome
	var dir string
	ok := t.Run("row", func(t *testing.T) {
		out = Run(t, sc)
		dir = filepath.Join(results, strings.ReplaceAll(t.Name(), "/", "_"))
	})
	if !ok || out == nil {
		t.Fatal("the row failed: its run, or its judgement again from the saved folder")
	}
	notice, found := out.Check("customer-notice")
	if !found || notice.Verdict != assertions.Pass {
		t.Skipf("customer-notice did not pass in this run (%+v): nothing for the tampering to change", notice)
	}
	path := filepath.Join(dir, report.HistoryFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the row's run was not saved under BCDR_RESULTS: %v", err)
	}
	mark := `"received_by":"` + assertions.SinkReceivedBy + `"`
	if n := bytes.Count(data, []byte(mark)); n != 2 {
		t.Fatalf("the saved history holds %d notices received by the sink, want 2", n)
	}
	if err := os.WriteFile(path, bytes.ReplaceAll(data, []byte(mark), []byte(`"received_by":"runbook"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	tampered := &errorRecorder{TB: t}
	rj := RejudgeRun(tampered, dir, out)
	want := "customer-notice: verdict saved pass, re-judged fail"
	found = false
	for _, e := range tampered.errors {
		found = found || strings.Contains(e, want)
	}
	if !found || rj == nil || rj.Again.Verdict != assertions.Fail {
		t.Errorf("the tampered history: errors %q, want ones saying %q and the run re-judged fail", tampered.errors, want)
	}
}
