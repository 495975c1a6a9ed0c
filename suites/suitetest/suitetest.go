// Package suitetest is the test-facing layer of the suites: it runs a
// scenario under testing.T, saves its results where CI can find them, and
// compares every check with the verdict the scenario expects.
package suitetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/report"
	_ "github.com/bcdr-harness/bcdr/topology/local" // the embedded default provider
)

// Provider returns the provider the suites run on: BCDR_PROVIDER or local.
func Provider() string {
	if p := os.Getenv("BCDR_PROVIDER"); p != "" {
		return p
	}
	return "local"
}

// Run runs sc, saves its results under BCDR_RESULTS (when set) and returns
// the outcome. It fails the test if the run itself errored.
func Run(t testing.TB, sc harness.Scenario) *harness.Outcome {
	t.Helper()
	if sc.Spec.Provider == "" || sc.Spec.Provider == "local" {
		sc.Spec.Provider = Provider()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := harness.Run(ctx, sc, harness.Options{Logf: func(f string, a ...any) {
		t.Logf("+%5.1fs "+f, append([]any{time.Since(start).Seconds()}, a...)...)
	}})
	if out != nil {
		if dir := os.Getenv("BCDR_RESULTS"); dir != "" {
			d := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
			if werr := report.WriteAll(d, out.Result, out.History); werr != nil {
				t.Logf("save results: %v", werr)
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

// Expect compares each check's verdict with want (check name -> verdict).
func Expect(t testing.TB, out *harness.Outcome, want map[string]assertions.Verdict) {
	t.Helper()
	for name, v := range want {
		c, ok := out.Check(name)
		if !ok {
			t.Errorf("check %s did not run", name)
			continue
		}
		if c.Verdict != v {
			t.Errorf("check %s: want %s, got %s: %s", name, v, c.Verdict, c.Explanation)
		}
	}
}

// AllPass requires every check of the run to pass.
func AllPass(t testing.TB, out *harness.Outcome) {
	t.Helper()
	if len(out.Result.Checks) == 0 {
		t.Fatal("the run checked nothing")
	}
	for _, c := range out.Result.Checks {
		if c.Verdict != assertions.Pass {
			t.Errorf("check %s: %s: %s", c.Name, c.Verdict, c.Explanation)
		}
	}
	if out.Result.Verdict != assertions.Pass {
		t.Errorf("run verdict %s (%s)", out.Result.Verdict, out.Result.Reason)
	}
}

// Describe is a one-line summary for failure messages.
func Describe(out *harness.Outcome) string {
	return fmt.Sprintf("%s verdict %s (%s)", out.Result.Scenario, out.Result.Verdict, out.Result.Reason)
}
