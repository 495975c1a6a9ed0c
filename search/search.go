// Package search looks for the worst moment of a fault and for the
// smallest schedule that still fails.
//
// A drill that loses a region at one moment proves little about the worst
// one: the RPO promise holds "depending on the timing of the outage", and
// the loss window is a sawtooth over the log backup, copy and restore
// schedules. Search runs a budget of drills, each with the region loss at
// another moment (the At of its fault step, service time after the steady
// state): first a coarse sweep over one period of the schedule that shapes
// the chosen figure, then a small deterministic local search around the
// worst so far. Every candidate is a whole drill (harness.Run) judged by
// the checks; the figure is the chosen check's observed value.
//
// Shrink reduces a failing schedule, QuickCheck- and Jepsen-style, to the
// fewest faults, the shortest holds and the smallest workload that still
// fail the same check. Fault times stay absolute (removing a step never
// moves the others), and a candidate that would not be a meaningful run
// (every region lost, too little traffic before the first fault, or a run
// whose validity check does not pass) is never taken.
package search

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/harness"
)

// Figures are the figures Search can maximise: each is the observed value
// of the check of the same name.
var Figures = []string{"rpo", "rto", "failback-interruption", "cross-store"}

// RunFunc runs one drill (harness.Run, or a stand-in in tests).
type RunFunc func(ctx context.Context, sc harness.Scenario) (*harness.Outcome, error)

// Candidate is one drill of a search or a shrink and what its check made
// of it.
type Candidate struct {
	N int `json:"n"` // 1-based, in run order
	// At is the region loss's moment (search) and Change what this try
	// changed (shrink).
	At     time.Duration `json:"at,omitempty"`
	Change string        `json:"change,omitempty"`
	// Figure is the check's observed value (service time); Verdict is the
	// check's verdict, unknown when the check did not run, the run was not
	// valid or did not finish.
	Figure  time.Duration      `json:"figure"`
	Verdict assertions.Verdict `json:"verdict"`
	Why     string             `json:"why,omitempty"` // the explanation of an unknown
	Wall    time.Duration      `json:"wall"`
	// Measured tells whether the check measured its figure in a valid run,
	// whatever its verdict (a failure within the timing noise is unknown,
	// too close to call, but measured: TooClose).
	Measured bool `json:"measured,omitempty"`
	TooClose bool `json:"too_close,omitempty"`
	// Kept tells whether a shrink kept the change (it still failed).
	Kept bool `json:"kept,omitempty"`
	// Outcome is the drill's result (nil when it did not start).
	Outcome *harness.Outcome `json:"-"`
	Err     error            `json:"-"`
}

// Known tells whether the candidate's check reached a verdict in a valid run.
func (c Candidate) Known() bool {
	return c.Err == nil && (c.Verdict == assertions.Pass || c.Verdict == assertions.Fail)
}

// Worse tells whether a is a worse moment than b: a known verdict beats an
// unknown one, then the larger figure, then a failure over a pass; a tie
// keeps the earlier candidate.
func Worse(a, b Candidate) bool {
	if a.Known() != b.Known() {
		return a.Known()
	}
	if a.Figure != b.Figure {
		return a.Figure > b.Figure
	}
	return a.Verdict == assertions.Fail && b.Verdict != assertions.Fail
}

// Higher tells whether a measured a larger figure than b: what the local
// search climbs. A failure too close to call still points the way to the
// worst moment, though it is reported as the worst only when nothing is
// known (Worse).
func Higher(a, b Candidate) bool {
	if a.Measured != b.Measured {
		return a.Measured
	}
	return a.Figure > b.Figure
}

// judge reads the named check out of a drill's outcome. A run whose
// validity check did not pass judged nothing, whatever the check says.
func judge(out *harness.Outcome, err error, check string) Candidate {
	c := Candidate{Outcome: out, Err: err, Verdict: assertions.Unknown}
	if out == nil {
		c.Why = fmt.Sprintf("the drill did not run: %v", err)
		return c
	}
	c.Wall = time.Duration(out.Result.WallS * float64(time.Second))
	if err != nil {
		c.Why = fmt.Sprintf("the drill did not finish: %v", err)
		return c
	}
	if v, ok := out.Check("validity"); !ok || v.Verdict != assertions.Pass {
		c.Why = "the run is not valid: " + v.Explanation
		if !ok {
			c.Why = "the run has no validity check"
		}
		return c
	}
	r, ok := out.Check(check)
	if !ok {
		c.Why = fmt.Sprintf("the run was not judged by %s", check)
		return c
	}
	c.Verdict, c.TooClose = r.Verdict, r.TooClose
	c.Figure = time.Duration(r.ObservedServiceS * float64(time.Second)).Round(time.Second)
	c.Measured = r.Verdict != assertions.Unknown || r.TooClose
	if r.Verdict != assertions.Pass {
		c.Why = r.Explanation
	}
	return c
}

// LossStep is the index of the fault step whose moment Search moves: the
// region-outage step, else the first fault that takes a region away.
func LossStep(sc harness.Scenario) (int, error) {
	first := -1
	for i, st := range sc.Faults {
		if st.Name == "region-outage" && st.After == "" {
			return i, nil
		}
		if d, ok := faults.Lookup(st.Name); ok && d.RegionLoss && st.After == "" && first < 0 {
			first = i
		}
	}
	if first < 0 {
		return 0, fmt.Errorf("scenario %s has no region loss to move (search varies the moment of a region-outage step)", sc.Name)
	}
	return first, nil
}

// Period is the schedule the figure's sawtooth repeats with: the blob
// replication interval for cross-store, the log backup interval otherwise.
func Period(sc harness.Scenario, figure string) time.Duration {
	if figure == "cross-store" {
		return sc.Spec.BlobReplInterval
	}
	return sc.Spec.LogBackupInterval
}

// Planner picks the moments to try: a coarse sweep of evenly spaced offsets
// over one period (their common phase drawn from the seed), then a pattern
// search around the worst so far: a step to the right of it (the loss
// window grows until the next copy lands), then to the left, then both
// again at half the step. The same period, budget and seed give the same
// moments for the same verdicts.
type Planner struct {
	coarse  []time.Duration
	maxAt   time.Duration
	minStep time.Duration
	tried   map[time.Duration]bool
	n       int // moments handed out
	best    time.Duration
	haveBst bool
	step    time.Duration
	dir     time.Duration // +1 or -1
}

// CoarseCount is how many of runs the coarse sweep takes: half, at least two
// (all of them under three).
func CoarseCount(runs int) int {
	if runs < 3 {
		return runs
	}
	return max(2, (runs+1)/2)
}

// NewPlanner plans a search of runs drills over period.
func NewPlanner(period time.Duration, runs int, seed int64) *Planner {
	n := max(CoarseCount(runs), 1)
	gap := period / time.Duration(n)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x736561726368)) // "search"
	phase := time.Duration(0)
	if s := int64(gap / time.Second); s > 1 {
		phase = time.Duration(rng.Int64N(s)) * time.Second
	}
	p := &Planner{maxAt: period + gap, minStep: max(time.Second, (period / 128).Round(time.Second)),
		tried: map[time.Duration]bool{}, step: (gap / 2).Round(time.Second), dir: 1}
	for k := 0; k < n; k++ {
		at := (phase + time.Duration(k)*gap).Round(time.Second)
		if len(p.coarse) == 0 || at != p.coarse[len(p.coarse)-1] {
			p.coarse = append(p.coarse, at) // a period shorter than the sweep has fewer moments
		}
	}
	return p
}

// Coarse is the sweep's moments.
func (p *Planner) Coarse() []time.Duration { return append([]time.Duration(nil), p.coarse...) }

// Next is the next moment to try; false when nothing is left to try (the
// local search has narrowed below its smallest step).
func (p *Planner) Next() (time.Duration, bool) {
	if p.n < len(p.coarse) {
		at := p.coarse[p.n]
		p.n++
		return at, true
	}
	if !p.haveBst {
		return 0, false
	}
	for p.step >= p.minStep {
		at := p.best + p.dir*p.step
		if at >= 0 && at <= p.maxAt && !p.tried[at] {
			p.n++
			return at, true
		}
		p.turn()
	}
	return 0, false
}

// Observe tells the planner what a moment gave: higher is true when its
// figure is the highest so far (Higher).
func (p *Planner) Observe(at time.Duration, higher bool) {
	p.tried[at] = true
	coarse := p.n <= len(p.coarse)
	if higher {
		p.best, p.haveBst = at, true
		return
	}
	if !coarse {
		p.turn()
	}
}

// turn tries the other side, then both sides again at half the step.
func (p *Planner) turn() {
	if p.dir > 0 {
		p.dir = -1
		return
	}
	p.dir = 1
	p.step = (p.step / 2).Truncate(time.Second) // Round would keep 1s at 1s

}

// Options tune a search.
type Options struct {
	Figure string // a name of Figures; "" = rpo
	Runs   int    // the budget of drills; 0 = 12
	Seed   int64  // the planner's seed (the sweep's phase)
	Run    RunFunc
	// OnCandidate is called after each drill (progress, saving its folder).
	OnCandidate func(Candidate)
}

// Report is what a search found.
type Report struct {
	Figure     string
	Period     time.Duration
	Step       int // the index of the fault step moved
	Base       harness.Scenario
	Candidates []Candidate
	Worst      int // index into Candidates, -1 when there is none
	// Scenario is the worst schedule: Base with the region loss at
	// ReplayAt, which is the worst moment less Margin (replayMoment: a
	// failing sawtooth figure's file backs off by its timing noise).
	Scenario harness.Scenario
	ReplayAt time.Duration
	Margin   time.Duration
}

// WorstCandidate returns the worst candidate (false when there is none).
func (r *Report) WorstCandidate() (Candidate, bool) {
	if r.Worst < 0 {
		return Candidate{}, false
	}
	return r.Candidates[r.Worst], true
}

// OverBudgetTooClose returns the candidate with the largest figure among
// those too close to call whose figure was over the check's budget: a
// search whose worst known moment passed is not a pass while one exists.
func (r *Report) OverBudgetTooClose() (Candidate, bool) {
	var best Candidate
	found := false
	for _, c := range r.Candidates {
		if !c.TooClose || c.Outcome == nil {
			continue
		}
		res, ok := c.Outcome.Check(r.Figure)
		if !ok || res.BudgetServiceS <= 0 || c.Figure <= time.Duration(res.BudgetServiceS*float64(time.Second)) {
			continue
		}
		if !found || c.Figure > best.Figure {
			best, found = c, true
		}
	}
	return best, found
}

// WithLossAt is sc with its step-th fault at the moment at.
func WithLossAt(sc harness.Scenario, step int, at time.Duration) harness.Scenario {
	sc.Faults = append([]harness.FaultStep(nil), sc.Faults...)
	sc.Faults[step].At = at
	return sc
}

// Search runs up to opt.Runs drills of sc, each with the region loss at
// another moment, and keeps the one where the figure is worst. It returns
// what it ran also when ctx ends early (with ctx's error).
func Search(ctx context.Context, sc harness.Scenario, opt Options) (*Report, error) {
	if opt.Figure == "" {
		opt.Figure = "rpo"
	}
	if !validFigure(opt.Figure) {
		return nil, fmt.Errorf("unknown figure %q (one of %v)", opt.Figure, Figures)
	}
	if opt.Runs <= 0 {
		opt.Runs = 12
	}
	if opt.Run == nil {
		opt.Run = drill
	}
	step, err := LossStep(sc)
	if err != nil {
		return nil, err
	}
	rep := &Report{Figure: opt.Figure, Period: Period(sc, opt.Figure), Step: step, Base: sc, Worst: -1}
	lead := -1 // the candidate the local search climbs from
	if rep.Period <= 0 {
		return nil, fmt.Errorf("figure %s: the scenario's schedule interval is %s", opt.Figure, rep.Period)
	}
	pl := NewPlanner(rep.Period, opt.Runs, opt.Seed)
	for i := 0; i < opt.Runs; i++ {
		at, ok := pl.Next()
		if !ok {
			break
		}
		out, err := opt.Run(ctx, WithLossAt(sc, step, at))
		c := judge(out, err, opt.Figure)
		c.N, c.At = i+1, at
		rep.Candidates = append(rep.Candidates, c)
		if rep.Worst < 0 || Worse(c, rep.Candidates[rep.Worst]) {
			rep.Worst = len(rep.Candidates) - 1
		}
		higher := lead < 0 || Higher(c, rep.Candidates[lead])
		if higher {
			lead = len(rep.Candidates) - 1
		}
		pl.Observe(at, higher)
		if opt.OnCandidate != nil {
			opt.OnCandidate(c)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if w, ok := rep.WorstCandidate(); ok {
		rep.ReplayAt, rep.Margin = replayMoment(opt.Figure, w)
		rep.Scenario = WithLossAt(sc, step, rep.ReplayAt)
		rep.Scenario.Description = fmt.Sprintf("The worst moment bcdr search found for %s in %d drills: %s at +%s after the steady state gave %s %s (%s).",
			opt.Figure, len(rep.Candidates), sc.Faults[step].Name, w.At, opt.Figure, w.Figure, w.Verdict)
		if rep.Margin > 0 {
			rep.Scenario.Description += fmt.Sprintf(" This file loses the region %s earlier, at +%s: the figure's timing noise in that drill, so that a replay whose shipping round runs that much earlier does not cross it (the figure grows with the moment until a round resets it, and the worst moment lies just before one).",
				rep.Margin, rep.ReplayAt)
		}
	}
	return rep, ctx.Err()
}

// replayMoment is where the worst schedule's file puts the region loss.
// The figures that are a sawtooth over the moment (rpo: the loss window
// grows one for one with the moment until a log backup and copy ship it;
// cross-store: until a blob replication round) are worst just before a
// round resets them, so a replay whose round runs a little earlier (the
// machine's timing differs from run to run) would land after it and pass.
// A known failure's figure exceeds its budget by more than its timing
// noise (else it would be too close to call), so the moment one noise
// band earlier still fails by the same reading, and a round moved by up
// to that band does not cross it. Other figures, and a worst that did not
// fail, keep the moment measured.
func replayMoment(figure string, w Candidate) (at, margin time.Duration) {
	if w.Verdict != assertions.Fail || (figure != "rpo" && figure != "cross-store") || w.Outcome == nil {
		return w.At, 0
	}
	r, ok := w.Outcome.Check(figure)
	if !ok || r.NoiseServiceS <= 0 {
		return w.At, 0
	}
	margin = time.Duration(r.NoiseServiceS * float64(time.Second)).Round(time.Second)
	if margin <= 0 || margin > w.At || w.Figure-margin <= time.Duration(r.BudgetServiceS*float64(time.Second)) {
		return w.At, 0
	}
	return w.At - margin, margin
}

func validFigure(f string) bool {
	for _, x := range Figures {
		if x == f {
			return true
		}
	}
	return false
}

func drill(ctx context.Context, sc harness.Scenario) (*harness.Outcome, error) {
	return harness.Run(ctx, sc, harness.Options{})
}

// ErrNoFailure is returned by Shrink when the schedule does not fail.
var ErrNoFailure = errors.New("the schedule does not fail: nothing to shrink")
