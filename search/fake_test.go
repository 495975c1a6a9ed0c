package search

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/topology/fake"
)

// shortFakeDrill is the region drill on the in-memory provider with short
// phases: about 12 s of wall time a drill instead of 38.
func shortFakeDrill(t *testing.T, set ...string) harness.Scenario {
	t.Helper()
	sc := harness.DefaultScenario()
	sc.Spec.Provider = fake.Name
	require.NoError(t, sc.SetAll(append([]string{"decision-window=5m", "failed-over-for=5m", "after=5m",
		// A shared machine under load can slow the workload; validity
		// asks for fewer writes before the fault (as cmd/bcdr's tests do).
		"min-writes-before-fault=10"}, set...)))
	require.NoError(t, harness.Validate(sc))
	return sc
}

// loggedRun runs drills with the test's log and a time-out that only a
// hung drill reaches.
func loggedRun(t *testing.T) RunFunc {
	return func(ctx context.Context, sc harness.Scenario) (*harness.Outcome, error) {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		start := time.Now()
		out, err := harness.Run(ctx, sc, harness.Options{})
		t.Logf("drill with %d faults (%v) done in %.1fs: %v", len(sc.Faults), sc.Faults, time.Since(start).Seconds(), err)
		return out, err
	}
}

// With a log backup interval far above the RPO (30m against 15m), the loss
// window is over the budget when the region is lost before the first
// backup of the steady state has shipped (the oldest write then is from
// its start), and within it just after: the sweep (32s and 15m32s after a
// steady state of 21m, seed 1) must tell the two apart, and the worst
// moment must fail rpo by more than the harness's timing noise on a busy
// machine (an 18m interval failed by under two minutes, which a loaded
// machine's noise made too close to call). The worst schedule, written as
// a scenario file and read back, fails rpo again. Three drills and a
// replay take about a minute.
func TestFakeSearchFindsAFailingMomentAboveTheRPO(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four drills on the fake provider (about a minute)")
	}
	sc := shortFakeDrill(t, "log-backup-interval=30m", "steady-state=21m")
	rep, err := Search(context.Background(), sc, Options{Runs: 3, Seed: 1, Run: loggedRun(t)})
	require.NoError(t, err)
	require.Len(t, rep.Candidates, 3)
	for _, c := range rep.Candidates {
		t.Logf("#%d at +%s: rpo %s %s %s", c.N, c.At, c.Figure, c.Verdict, c.Why)
	}
	w, ok := rep.WorstCandidate()
	require.True(t, ok)
	// A failure is found: a fail, or on a machine so loaded that its
	// timing noise covers the excess, a figure over the budget that is too
	// close to call (never a pass).
	var over []Candidate
	for _, c := range rep.Candidates {
		if c.Measured && c.Figure > sc.Budgets.RPO && c.Verdict != assertions.Pass {
			over = append(over, c)
		}
	}
	require.NotEmpty(t, over, "no failing moment found: %+v", rep.Candidates)
	if over[0].Known() {
		require.Equal(t, assertions.Fail, w.Verdict, "a failing moment is the worst")
		require.Greater(t, w.Figure, sc.Budgets.RPO)
	}
	passed := false
	for _, c := range rep.Candidates {
		passed = passed || c.Verdict == assertions.Pass
	}
	require.True(t, passed, "every moment failed: the search told no moments apart: %+v", rep.Candidates)

	data, err := harness.ScenarioFile(rep.Scenario, harness.DefaultScenario())
	require.NoError(t, err)
	replay, _, err := harness.ParseScenarioFile("worst.yaml", data)
	require.NoError(t, err, "%s", data)
	require.Equal(t, rep.Scenario.Faults[rep.Step].At, replay.Faults[rep.Step].At)
	// The file has the worst moment, backed off by its noise when it
	// failed (replayMoment), so that the replay does not cross the backup.
	require.Equal(t, rep.ReplayAt, rep.Scenario.Faults[rep.Step].At)
	require.Equal(t, w.At-rep.Margin, rep.ReplayAt)
	t.Logf("the file loses the region at +%s (%s before the worst moment)", rep.ReplayAt, rep.Margin)
	require.Equal(t, fake.Name, replay.Spec.Provider)
	out, err := loggedRun(t)(context.Background(), replay)
	again := judge(out, err, "rpo")
	if w.Known() {
		// The worst schedule fails again (too close to call on a loaded
		// machine, but over the budget: never a pass).
		require.NotEqual(t, assertions.Pass, again.Verdict, "the worst schedule replayed: rpo %s", again.Figure)
		require.True(t, again.Measured, again.Why)
		require.Greater(t, again.Figure, sc.Budgets.RPO, "the worst schedule replayed: %s", again.Why)
	}
}

// The shrinker on real drills: a region drill with the failback's
// tail-of-log backup skipped (a defect) and two faults that have nothing
// to do with it (an instance crash and a fault domain lost in region a
// before the region loss; not a network fault, whose own check that it
// took effect a loaded machine can make fail). failback-loss fails; the shrinker must drop the two
// others, keep the region loss at its moment, and the scenario file it
// writes must fail failback-loss again when replayed. Budget: the original
// and two tries (the region loss alone, then half the clients: fewer
// clients make the loss a matter of luck, which a replay would not
// reproduce), then the replay: four drills, about a minute.
func TestFakeShrinkDropsTheFaultsThatDoNotMatter(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four drills on the fake provider (about a minute)")
	}
	sc := shortFakeDrill(t, "skip-final-log-backup=true", "steady-state=15m")
	sc.Seed = 11
	sc.Faults = []harness.FaultStep{
		{Name: "instance-crash", Params: map[string]string{"region": "a", "instance": "1"}, At: 2 * time.Minute, Duration: 3 * time.Minute},
		{Name: "fault-domain-loss", Params: map[string]string{"region": "a", "domain": "3"}, At: 6 * time.Minute, Duration: 3 * time.Minute},
		{Name: "region-outage", Params: map[string]string{"region": "a"}, At: 10 * time.Minute},
	}
	require.NoError(t, harness.Validate(sc))
	var tries []Candidate
	sh, err := Shrink(context.Background(), sc, ShrinkOptions{Check: "failback-loss", Runs: 3, Run: loggedRun(t),
		OnTry: func(c Candidate) { tries = append(tries, c) }})
	for _, c := range tries {
		t.Logf("#%d %s: %s %s kept=%v %s", c.N, c.Change, c.Figure, c.Verdict, c.Kept, c.Why)
	}
	require.NoError(t, err)
	require.Equal(t, assertions.Fail, sh.First.Verdict, "the original must fail: %s", sh.First.Why)
	require.Len(t, sh.Scenario.Faults, 1, "steps: %v", sh.Steps)
	require.Equal(t, "region-outage", sh.Scenario.Faults[0].Name)
	require.Equal(t, 10*time.Minute, sh.Scenario.Faults[0].At, "the region loss kept its moment")
	require.True(t, strings.HasPrefix(sh.Steps[0], "keep only region-outage"), sh.Steps[0])
	require.LessOrEqual(t, sh.Runs, 3)

	data, err := sh.File(harness.DefaultScenario(), "bcdr drill --file three-faults.yaml --seed 11", "shrunk.yaml")
	require.NoError(t, err)
	require.Contains(t, string(data), "seed 11, 3 faults")
	require.Contains(t, string(data), "#   1. keep only region-outage")
	replay, _, err := harness.ParseScenarioFile("shrunk.yaml", data)
	require.NoError(t, err, "%s", data)
	require.Equal(t, int64(11), replay.Seed)
	require.True(t, replay.Runbook.SkipFinalLogBackup)
	out, err := loggedRun(t)(context.Background(), replay)
	require.NoError(t, err)
	require.Equal(t, "failback-loss", sh.Check)
	fb, ok := out.Check("failback-loss")
	require.True(t, ok)
	require.Equal(t, assertions.Fail, fb.Verdict, "the shrunk schedule replayed: %s", fb.Explanation)
}
