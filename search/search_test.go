package search

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/report"
)

// outcome is a drill's outcome as the search reads it: a validity verdict
// and one check with a figure.
func outcome(validity assertions.Verdict, check string, v assertions.Verdict, fig time.Duration) *harness.Outcome {
	return &harness.Outcome{Result: report.Result{Verdict: v, WallS: 1, Checks: []assertions.Result{
		{Name: "validity", Verdict: validity},
		{Name: check, Verdict: v, ObservedServiceS: fig.Seconds()},
	}}}
}

func TestPlannerSweepsOnePeriodEvenly(t *testing.T) {
	period := 5 * time.Minute
	p := NewPlanner(period, 12, 1)
	c := p.Coarse()
	require.Len(t, c, CoarseCount(12))
	require.Equal(t, 6, len(c))
	gap := period / 6
	for i, at := range c {
		require.GreaterOrEqual(t, at, time.Duration(0))
		require.Less(t, at, period, "the sweep stays within one period")
		if i > 0 {
			require.Equal(t, gap, at-c[i-1], "evenly spaced")
		}
	}
	// The same seed gives the same moments; seeds move the sweep's phase.
	require.Equal(t, c, NewPlanner(period, 12, 1).Coarse())
	phases := map[time.Duration]bool{}
	for seed := int64(0); seed < 8; seed++ {
		phases[NewPlanner(period, 12, seed).Coarse()[0]] = true
	}
	require.Greater(t, len(phases), 1, "the seed does not move the sweep")
	// Small budgets.
	require.Equal(t, 1, CoarseCount(1))
	require.Equal(t, 2, CoarseCount(2))
	require.Equal(t, 2, CoarseCount(3))
	require.Equal(t, 2, CoarseCount(4))
}

// sawtooth is an RPO-like loss window over the moment of the loss: it
// grows with the moment and drops when the next backup's copy lands, at
// phase+k*period.
func sawtooth(period, phase time.Duration) func(time.Duration) time.Duration {
	return func(at time.Duration) time.Duration {
		x := (at - phase) % period
		if x < 0 {
			x += period
		}
		return period/5 + x
	}
}

func TestSearchClimbsTheSawtoothToItsPeak(t *testing.T) {
	sc := harness.DefaultScenario()
	period := sc.Spec.LogBackupInterval
	phase := 3*time.Minute + 10*time.Second
	f := sawtooth(period, phase)
	var ran []time.Duration
	run := func(_ context.Context, s harness.Scenario) (*harness.Outcome, error) {
		at := s.Faults[0].At
		ran = append(ran, at)
		v := assertions.Pass
		if f(at) > 6*time.Minute {
			v = assertions.Fail
		}
		return outcome(assertions.Pass, "rpo", v, f(at)), nil
	}
	rep, err := Search(context.Background(), sc, Options{Runs: 12, Seed: 1, Run: run})
	require.NoError(t, err)
	require.Len(t, rep.Candidates, len(ran))
	require.LessOrEqual(t, len(ran), 12, "within the budget")
	w, ok := rep.WorstCandidate()
	require.True(t, ok)
	for _, c := range rep.Candidates {
		require.GreaterOrEqual(t, w.Figure, c.Figure, "the worst is the largest figure")
	}
	// The peak is just before phase (+k periods): the refinement gets
	// within its smallest steps of it, closer than the coarse sweep did.
	peak := period/5 + period
	var coarseBest time.Duration
	for _, c := range rep.Candidates[:CoarseCount(12)] {
		coarseBest = max(coarseBest, c.Figure)
	}
	require.Greater(t, w.Figure, coarseBest, "the local search improved on the sweep: %v", ran)
	require.Greater(t, w.Figure, peak-20*time.Second, "worst %s, peak %s: %v", w.Figure, peak, ran)
	require.Equal(t, w.At, rep.Scenario.Faults[0].At, "the worst schedule has the worst moment")
	require.Contains(t, rep.Scenario.Description, "rpo")
	// Every moment once.
	seen := map[time.Duration]bool{}
	for _, at := range ran {
		require.False(t, seen[at], "moment %s run twice: %v", at, ran)
		seen[at] = true
	}
}

func TestSearchTakesAnUnknownOnlyWhenNothingIsKnown(t *testing.T) {
	sc := harness.DefaultScenario()
	i := 0
	run := func(_ context.Context, s harness.Scenario) (*harness.Outcome, error) {
		i++
		if i == 2 {
			// The largest figure, but too close to call.
			return outcome(assertions.Pass, "rpo", assertions.Unknown, time.Hour), nil
		}
		if i == 3 {
			// A large figure in a run that is not valid.
			return outcome(assertions.Unknown, "rpo", assertions.Fail, 30*time.Minute), nil
		}
		return outcome(assertions.Pass, "rpo", assertions.Pass, time.Duration(i)*time.Minute), nil
	}
	rep, err := Search(context.Background(), sc, Options{Runs: 4, Run: run})
	require.NoError(t, err)
	require.Len(t, rep.Candidates, 4)
	w, _ := rep.WorstCandidate()
	require.Equal(t, 4, w.N, "the largest known figure, not the unknown ones")
	require.Equal(t, 4*time.Minute, w.Figure)
	require.False(t, rep.Candidates[2].Known(), "a run that is not valid judged nothing")

	// Nothing known: the unknown is all there is.
	run = func(_ context.Context, s harness.Scenario) (*harness.Outcome, error) {
		return nil, fmt.Errorf("bring-up failed")
	}
	rep, err = Search(context.Background(), sc, Options{Runs: 2, Run: run})
	require.NoError(t, err)
	w, ok := rep.WorstCandidate()
	require.True(t, ok)
	require.False(t, w.Known())
	require.Contains(t, w.Why, "bring-up failed")
}

func TestSearchRefusesAScenarioWithoutRegionLoss(t *testing.T) {
	sc := harness.DefaultScenario()
	sc.Faults = []harness.FaultStep{{Name: "instance-crash", Params: map[string]string{"region": "a"}}}
	_, err := Search(context.Background(), sc, Options{Run: func(context.Context, harness.Scenario) (*harness.Outcome, error) {
		t.Fatal("no drill may run")
		return nil, nil
	}})
	require.ErrorContains(t, err, "no region loss")
	_, err = Search(context.Background(), harness.DefaultScenario(), Options{Figure: "latency"})
	require.ErrorContains(t, err, "unknown figure")
}

func TestPeriodFollowsTheFigure(t *testing.T) {
	sc := harness.DefaultScenario()
	sc.Spec.LogBackupInterval = 18 * time.Minute
	sc.Spec.BlobReplInterval = 2 * time.Minute
	require.Equal(t, 18*time.Minute, Period(sc, "rpo"))
	require.Equal(t, 18*time.Minute, Period(sc, "rto"))
	require.Equal(t, 2*time.Minute, Period(sc, "cross-store"))
}

// threeFaults is a region drill with two faults before the region loss.
func threeFaults() harness.Scenario {
	sc := harness.DefaultScenario()
	sc.Seed = 7
	sc.Faults = []harness.FaultStep{
		{Name: "instance-crash", Params: map[string]string{"region": "a", "instance": "1"}, At: 2 * time.Minute, Duration: 4 * time.Minute},
		{Name: "link-latency", Params: map[string]string{"link": "client-a"}, At: 6 * time.Minute},
		{Name: "region-outage", Params: map[string]string{"region": "a"}, At: 12 * time.Minute},
	}
	return sc
}

func TestShrinksKeepFaultTimesAbsolute(t *testing.T) {
	sc := threeFaults()
	at := map[string]time.Duration{}
	for _, st := range sc.Faults {
		at[st.Name] = st.At
	}
	chs := Shrinks(sc, "failback-loss")
	require.NotEmpty(t, chs)
	require.True(t, strings.HasPrefix(chs[0].Desc, "keep only region-outage"), "a region check tries the region loss alone first: %s", chs[0].Desc)
	drops := 0
	for _, ch := range chs {
		got := ch.Apply(sc)
		for _, st := range got.Faults {
			require.Equal(t, at[st.Name], st.At, "%s moved %s", ch.Desc, st.Name)
		}
		if len(got.Faults) < len(sc.Faults) {
			drops++
		}
	}
	require.Equal(t, 3+3, drops, "three keep-one and three drop-one changes")
	require.Len(t, sc.Faults, 3, "a change does not edit the scenario it was made from")
	require.Equal(t, 4*time.Minute, sc.Faults[0].Duration)

	// A check that is not a region check keeps the schedule's order.
	chs = Shrinks(sc, "fault-domain-availability")
	require.True(t, strings.HasPrefix(chs[0].Desc, "keep only instance-crash"), chs[0].Desc)
}

func TestShrinksHalveHoldsAndWorkload(t *testing.T) {
	sc := threeFaults()
	descs := map[string]harness.Scenario{}
	for _, ch := range Shrinks(sc, "rpo") {
		descs[ch.Desc] = ch.Apply(sc)
	}
	// The instance crash's own hold, the latency's default hold (the
	// scenario's FaultHold), never the region loss held until failover.
	crash := descs["hold of instance-crash at +2m0s (region a) 4m0s -> 2m0s"]
	require.Len(t, crash.Faults, 3)
	require.Equal(t, 2*time.Minute, crash.Faults[0].Duration)
	lat := descs[fmt.Sprintf("hold of link-latency at +6m0s (link client-a) %s -> %s", sc.FaultHold, sc.FaultHold/2)]
	require.Len(t, lat.Faults, 3)
	require.Equal(t, sc.FaultHold/2, lat.Faults[1].Duration)
	for d := range descs {
		require.False(t, strings.HasPrefix(d, "hold of region-outage"), d)
	}
	require.Equal(t, 4, descs["clients 8 -> 4"].Workload.Clients)
	require.Equal(t, 30.0, descs["rate 60 -> 30 writes/s"].Workload.Rate)

	// Nothing left to halve: one client, a minimal hold.
	sc.Workload.Clients = 1
	sc.Faults = sc.Faults[:1]
	sc.Faults[0].Duration = MinHold
	for _, ch := range Shrinks(sc, "rpo") {
		require.False(t, strings.HasPrefix(ch.Desc, "clients") || strings.HasPrefix(ch.Desc, "hold of"), ch.Desc)
	}
}

func TestMeaningless(t *testing.T) {
	sc := threeFaults()
	require.Empty(t, Meaningless(sc))
	none := sc
	none.Faults = nil
	require.Contains(t, Meaningless(none), "no fault")
	both := sc
	both.Faults = append(append([]harness.FaultStep(nil), sc.Faults...), harness.FaultStep{Name: "region-outage", Params: map[string]string{"region": "b"}, At: 13 * time.Minute})
	require.Contains(t, Meaningless(both), "every region lost")
	quiet := sc
	quiet.Workload.Rate = 1
	require.Contains(t, Meaningless(quiet), "before the first fault")
	// A fault that waits for a failover no other fault causes.
	orphan := sc
	orphan.Faults = []harness.FaultStep{{Name: "failback-fault", After: "failback-start"}}
	require.Contains(t, Meaningless(orphan), "not a valid scenario")
}

func TestShrinkKeepsWhatStillFailsTheSameCheck(t *testing.T) {
	sc := threeFaults()
	// failback-loss fails whenever the region is lost with two clients or
	// more; the rate does not matter; validity fails under 4 clients... no:
	// under 30 writes/s the run is not valid.
	var runs []harness.Scenario
	run := func(_ context.Context, s harness.Scenario) (*harness.Outcome, error) {
		runs = append(runs, s)
		lost := false
		for _, st := range s.Faults {
			lost = lost || st.Name == "region-outage"
		}
		validity := assertions.Pass
		if s.Workload.Rate < 30 {
			validity = assertions.Unknown
		}
		v := assertions.Pass
		if lost && s.Workload.Clients >= 2 {
			v = assertions.Fail
		}
		out := outcome(validity, "failback-loss", v, time.Minute)
		out.Result.Checks = append(out.Result.Checks, assertions.Result{Name: "rpo", Verdict: assertions.Pass})
		return out, nil
	}
	sh, err := Shrink(context.Background(), sc, ShrinkOptions{Run: run, Runs: 30})
	require.NoError(t, err)
	require.Equal(t, "failback-loss", sh.Check, "the check the original failed")
	require.Len(t, sh.Scenario.Faults, 1)
	require.Equal(t, "region-outage", sh.Scenario.Faults[0].Name)
	require.Equal(t, 12*time.Minute, sh.Scenario.Faults[0].At, "the region loss did not move")
	require.Equal(t, 2, sh.Scenario.Workload.Clients)
	require.Equal(t, 30.0, sh.Scenario.Workload.Rate, "rate 15 made the run invalid: not taken")
	require.Equal(t, []string{
		"keep only region-outage at +12m0s (region a) (drop instance-crash at +2m0s (region a), link-latency at +6m0s (link client-a))",
		"clients 8 -> 4", "clients 4 -> 2", "rate 60 -> 30 writes/s"}, sh.Steps)
	require.Equal(t, len(runs), sh.Runs)
	// A change that did not fail is not run twice.
	seen := map[string]bool{}
	for _, c := range sh.Tries {
		if c.N > 0 {
			require.False(t, seen[c.Change], "%s run twice", c.Change)
			seen[c.Change] = true
		}
	}

	// The file: the original's seed and the steps in its header, and it
	// reads back as the shrunk scenario.
	base := harness.DefaultScenario()
	data, err := sh.File(base, "bcdr drill x --seed 7", "out/shrunk.yaml")
	require.NoError(t, err)
	text := string(data)
	require.Contains(t, text, "# original: bcdr drill x --seed 7 (seed 7, 3 faults")
	require.Contains(t, text, "#   2. clients 8 -> 4")
	require.Contains(t, text, "# replay: bcdr drill --file out/shrunk.yaml")
	got, _, err := harness.ParseScenarioFile("shrunk.yaml", data)
	require.NoError(t, err, text)
	require.Equal(t, int64(7), got.Seed)
	require.Equal(t, sh.Scenario.Faults, got.Faults)
	require.Equal(t, sh.Scenario.Workload, got.Workload)
	require.Contains(t, got.Description, "still fails failback-loss with 1 fault")

	// A budget stops the shrink.
	runs = nil
	sh, err = Shrink(context.Background(), sc, ShrinkOptions{Run: run, Runs: 2})
	require.NoError(t, err)
	require.Len(t, runs, 2)
	require.Len(t, sh.Steps, 1)
}

func TestShrinkRefusesAScheduleThatDoesNotFail(t *testing.T) {
	run := func(_ context.Context, s harness.Scenario) (*harness.Outcome, error) {
		return outcome(assertions.Pass, "rpo", assertions.Pass, time.Minute), nil
	}
	_, err := Shrink(context.Background(), threeFaults(), ShrinkOptions{Run: run})
	require.ErrorIs(t, err, ErrNoFailure)
	_, err = Shrink(context.Background(), threeFaults(), ShrinkOptions{Run: run, Check: "rpo"})
	require.ErrorIs(t, err, ErrNoFailure)
}

// A failure too close to call is not reported as the worst when something
// is known, but the local search climbs from it: it points at the worst
// moment.
func TestSearchClimbsFromAFailureTooCloseToCall(t *testing.T) {
	sc := harness.DefaultScenario()
	period := sc.Spec.LogBackupInterval
	f := sawtooth(period, 0) // largest just before each period's end
	var ran []time.Duration
	run := func(_ context.Context, s harness.Scenario) (*harness.Outcome, error) {
		at := s.Faults[0].At
		ran = append(ran, at)
		out := outcome(assertions.Pass, "rpo", assertions.Pass, f(at))
		if f(at) > 3*time.Minute {
			out.Result.Checks[1].Verdict = assertions.Unknown
			out.Result.Checks[1].TooClose = true
		}
		return out, nil
	}
	rep, err := Search(context.Background(), sc, Options{Runs: 3, Seed: 1, Run: run})
	require.NoError(t, err)
	require.Len(t, ran, 3)
	c := rep.Candidates
	// The sweep: one moment under 3m of figure, one over it (too close).
	hi, lo := c[0], c[1]
	if Higher(lo, hi) {
		hi, lo = lo, hi
	}
	require.True(t, hi.TooClose && hi.Measured && !hi.Known(), "%+v", c)
	require.True(t, lo.Known(), "%+v", c)
	require.Equal(t, hi.At+NewPlanner(period, 3, 1).step, ran[2], "the third moment steps right of the too-close one")
	w, _ := rep.WorstCandidate()
	require.True(t, w.Known(), "a known moment is reported as the worst: %+v", w)
}

// The planner runs out of moments instead of looping when the period is
// short (a blob replication interval of a minute: steps of a second) and
// nothing gets worse than the sweep.
func TestPlannerEndsOnAShortPeriod(t *testing.T) {
	for _, period := range []time.Duration{time.Minute, 3 * time.Second, 5 * time.Minute} {
		p := NewPlanner(period, 1000, 1)
		n := 0
		for {
			at, ok := p.Next()
			if !ok {
				break
			}
			p.Observe(at, false)
			n++
			require.Less(t, n, 1000, "period %s: the planner does not end", period)
		}
		require.GreaterOrEqual(t, n, min(CoarseCount(1000), int(period/time.Second)), "period %s", period)
	}
}

// A failure that does not come back when the smallest schedule is run
// again backs off the change that made it a matter of luck.
func TestShrinkBacksOffAFailureThatDoesNotComeBack(t *testing.T) {
	sc := threeFaults()
	sc.Faults = sc.Faults[2:] // the region loss alone
	sc.Workload.Clients = 1
	calls15 := 0
	run := func(_ context.Context, s harness.Scenario) (*harness.Outcome, error) {
		v := assertions.Fail
		if s.Workload.Rate < 30 {
			// At 15 writes/s the loss shows once, then never again.
			calls15++
			if calls15 > 1 || s.Workload.Rate < 15 {
				v = assertions.Pass
			}
		}
		return outcome(assertions.Pass, "failback-loss", v, time.Minute), nil
	}
	sh, err := Shrink(context.Background(), sc, ShrinkOptions{Run: run, Runs: 30, Confirm: 1})
	require.NoError(t, err)
	require.True(t, sh.Confirmed)
	require.Equal(t, 30.0, sh.Scenario.Workload.Rate, "backed off to the rate that fails every time")
	require.Equal(t, []string{"rate 60 -> 30 writes/s"}, sh.Steps)
	require.Equal(t, []string{"rate 30 -> 15 writes/s"}, sh.BackedOff)
	data, err := sh.File(harness.DefaultScenario(), "x", "y.yaml")
	require.NoError(t, err)
	require.Contains(t, string(data), "# confirmed:")
	require.Contains(t, string(data), "backed off (its failure did not come back when run again): rate 30 -> 15")

	// Without a budget for it, nothing is confirmed.
	calls15 = 0
	sh, err = Shrink(context.Background(), sc, ShrinkOptions{Run: run, Runs: 3, Confirm: 1})
	require.NoError(t, err)
	require.Equal(t, 3, sh.Runs)
	require.False(t, sh.Confirmed && sh.Scenario.Workload.Rate < 30, "a flaky schedule confirmed: %+v", sh.Steps)
}

// The worst moment of a sawtooth figure lies just before a shipping round
// resets it, so its file backs off by the figure's timing noise: a replay
// whose round runs up to that much earlier still fails, by the same
// reading. A worst that did not fail, a figure that is no sawtooth and a
// figure without noise keep the moment measured (negative cases).
func TestWorstFileBacksOffASawtoothFailureByItsNoise(t *testing.T) {
	sc := harness.DefaultScenario()
	period := sc.Spec.LogBackupInterval
	phase := 3*time.Minute + 10*time.Second
	f := sawtooth(period, phase)
	const noise = 90 * time.Second
	budget := 3 * time.Minute
	noisy := func(figure string, noiseS float64) RunFunc {
		return func(_ context.Context, s harness.Scenario) (*harness.Outcome, error) {
			at := s.Faults[0].At
			v := assertions.Pass
			if f(at) > budget+noise {
				v = assertions.Fail
			}
			out := outcome(assertions.Pass, figure, v, f(at))
			out.Result.Checks[1].NoiseServiceS = noiseS
			out.Result.Checks[1].BudgetServiceS = budget.Seconds()
			return out, nil
		}
	}
	rep, err := Search(context.Background(), sc, Options{Runs: 12, Seed: 1, Run: noisy("rpo", noise.Seconds())})
	require.NoError(t, err)
	w, ok := rep.WorstCandidate()
	require.True(t, ok)
	require.Equal(t, assertions.Fail, w.Verdict)
	require.Equal(t, noise, rep.Margin)
	require.Equal(t, w.At-noise, rep.ReplayAt)
	require.Equal(t, rep.ReplayAt, rep.Scenario.Faults[0].At, "the file has the backed-off moment")
	require.Contains(t, rep.Scenario.Description, "1m30s earlier")
	// Backed off, the figure is the worst's less the margin (no round in
	// between): over the budget, since the worst failed by more than it.
	require.Equal(t, w.Figure-noise, f(rep.ReplayAt))
	require.Greater(t, f(rep.ReplayAt), budget)

	// cross-store is a sawtooth too (blob replication rounds).
	rep, err = Search(context.Background(), sc, Options{Figure: "cross-store", Runs: 4, Seed: 1, Run: noisy("cross-store", noise.Seconds())})
	require.NoError(t, err)
	if w, _ := rep.WorstCandidate(); w.Verdict == assertions.Fail {
		require.Equal(t, noise, rep.Margin)
	}

	// Negative cases: rto is not a sawtooth of the moment; a figure with no
	// noise recorded; a worst that passed.
	for _, c := range []struct {
		name   string
		figure string
		noiseS float64
		budget time.Duration
	}{
		{"rto", "rto", noise.Seconds(), budget},
		{"no noise", "rpo", 0, budget},
		{"worst passed", "rpo", noise.Seconds(), time.Hour},
	} {
		budget = c.budget
		rep, err := Search(context.Background(), sc, Options{Figure: c.figure, Runs: 6, Seed: 1, Run: noisy(c.figure, c.noiseS)})
		require.NoError(t, err, c.name)
		w, ok := rep.WorstCandidate()
		require.True(t, ok, c.name)
		require.Zero(t, rep.Margin, c.name)
		require.Equal(t, w.At, rep.Scenario.Faults[0].At, c.name)
		require.NotContains(t, rep.Scenario.Description, "earlier", c.name)
	}
}
