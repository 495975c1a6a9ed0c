package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/report"
	"github.com/bcdr-harness/bcdr/search"
)

// searchTarget is the search bcdr validate --search makes for a promise:
// the scenario whose region loss it moves, shaped as the validation's runs
// at the first seed, or why it has none.
type searchTarget struct {
	promise  report.PromiseSpec
	scenario string // suite/row
	sc       harness.Scenario
	why      string // why no search runs ("" when one does)
}

// searchTargets picks, for each promise whose figure check is a figure
// search makes worst, the first of its evidence scenarios that has a
// region loss to move (for a promise judged in every run, the first of the
// validation's scenarios that has one).
func searchTargets(specs []report.PromiseSpec, plan runPlan) []searchTarget {
	var order []string
	first := map[string]harness.Scenario{}
	for _, p := range plan.runs {
		if _, ok := first[p.scenario]; !ok {
			first[p.scenario] = p.sc
			order = append(order, p.scenario)
		}
	}
	var out []searchTarget
	for _, p := range specs {
		if !slices.Contains(search.Figures, p.FigureCheck) {
			continue
		}
		names := p.Scenarios
		if p.Every {
			names = order
		}
		t := searchTarget{promise: p}
		for _, name := range names {
			if sc, ok := first[name]; ok {
				if _, err := search.LossStep(sc); err == nil {
					t.scenario, t.sc = name, sc
					break
				}
			}
		}
		if t.scenario == "" {
			t.why = fmt.Sprintf("none of its scenarios (%s) has a region loss to move", strings.Join(names, ", "))
		}
		out = append(out, t)
	}
	return out
}

// runSearches makes each target's search in turn; an interrupt ends the
// one running and starts no other. The error is one a search could not
// write (its worst schedule).
func (v validation) runSearches(ctx context.Context, targets []searchTarget, n int, dir string, stderr io.Writer) ([]report.ValidationSearch, error) {
	var out []report.ValidationSearch
	var firstErr error
	for _, t := range targets {
		s, err := v.runSearch(ctx, t, n, dir, stderr)
		out = append(out, s)
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return out, firstErr
}

// runSearch is one promise's search (searchInto, as bcdr search makes it)
// into dir/search/ID, each drill run as the validation's are (drill), and
// what the report needs of it.
func (v validation) runSearch(ctx context.Context, t searchTarget, n int, dir string, stderr io.Writer) (report.ValidationSearch, error) {
	p := t.promise
	s := report.ValidationSearch{Promise: p.ID, Figure: p.FigureCheck, Scenario: t.scenario, Budget: n, Skipped: t.why}
	if t.why != "" {
		fmt.Fprintf(stderr, "validate: no search for %s: %s\n", p.ID, t.why)
		return s, nil
	}
	step, _ := search.LossStep(t.sc)
	period := search.Period(t.sc, s.Figure)
	rel := filepath.Join("search", p.ID)
	s.Step, s.PeriodS, s.Dir = t.sc.Faults[step].Name, period.Seconds(), filepath.ToSlash(rel)
	if ctx.Err() != nil {
		s.Stopped = fmt.Sprintf("INTERRUPTED before it started (0 of %d drills)", n)
		return s, nil
	}
	fmt.Fprintf(stderr, "validate: search %s for %s: %d drills of %s (seed %d), the %s moved over %s (one period of its schedule)\n",
		s.Figure, p.ID, n, t.scenario, t.sc.Seed, s.Step, period)
	fmt.Fprintln(stderr, strings.TrimRight(fmt.Sprintf(candidateFormat, "#", "AT", strings.ToUpper(s.Figure), "VERDICT", "WALL", ""), " "))
	k := 0
	rep, dirs, err := searchInto(ctx, t.sc, s.Figure, n, filepath.Join(dir, rel),
		func(ctx context.Context, sc harness.Scenario, d string) (*harness.Outcome, error) {
			k++
			return v.drill(ctx, sc, d, fmt.Sprintf("search %s [%d/%d] %s", p.ID, k, n, filepath.Base(d)), stderr)
		},
		func(c search.Candidate) { printCandidate(stderr, c) })
	if rep == nil {
		s.Skipped = fmt.Sprintf("the search could not start: %v", err)
		return s, nil
	}
	for i, c := range rep.Candidates {
		s.Runs = append(s.Runs, searchedRun(c, t, filepath.Join(rel, filepath.Base(dirs[i]))))
	}
	if err != nil {
		s.Stopped = fmt.Sprintf("INTERRUPTED after %d of %d drills: %v", len(rep.Candidates), n, err)
	}
	if c, ok := rep.OverBudgetTooClose(); ok {
		s.OverBudgetN = c.N
	}
	w, ok := rep.WorstCandidate()
	if !ok {
		return s, nil
	}
	s.WorstN = w.N
	file := filepath.Join(dir, rel, "worst.yaml")
	replay := "bcdr drill --file " + file
	if t.sc.Spec.Provider == harness.DefaultScenario().Spec.Provider {
		// The file leaves out a knob at its default, which BCDR_PROVIDER
		// would then override.
		replay += " --set provider=" + t.sc.Spec.Provider
	}
	if err := writeWorst(file, rep, harness.DefaultScenario(),
		fmt.Sprintf("bcdr validate --search %d, promise %s: the worst moment for %s of %d drills of %s (seed %d)", n, p.ID, s.Figure, len(rep.Candidates), t.scenario, t.sc.Seed),
		"replay: "+replay); err != nil {
		return s, err
	}
	s.File, s.Replay = filepath.ToSlash(filepath.Join(rel, "worst.yaml")), replay
	s.ReplayAtS, s.MarginS = rep.ReplayAt.Seconds(), rep.Margin.Seconds()
	return s, nil
}

// searchedRun is a search's candidate as the report takes it: the run
// (its result as saved, or why it did not run) and what the search made
// of it.
func searchedRun(c search.Candidate, t searchTarget, rel string) report.SearchedRun {
	res := notRun(t.sc, errors.New(c.Why))
	if c.Outcome != nil {
		res = c.Outcome.Result
	}
	errText := ""
	if c.Err != nil {
		errText = c.Err.Error()
	}
	return report.SearchedRun{Run: report.ValidationRun{Scenario: t.scenario, Dir: filepath.ToSlash(rel), Result: res, Err: errText},
		N: c.N, AtS: c.At.Seconds(), FigureS: c.Figure.Seconds(), Verdict: c.Verdict, Measured: c.Measured, TooClose: c.TooClose, Why: c.Why}
}

// searchLine is a promise's search on the console.
func searchLine(s report.SearchReport) string {
	if s.Skipped != "" {
		return "no search: " + s.Skipped
	}
	line := fmt.Sprintf("search %s, %d of %d drills of %s (%d judged)", s.Figure, s.Ran, s.Budget, s.Scenario, s.Judged)
	if w := s.Worst; w != nil {
		line += fmt.Sprintf(": worst #%d, %s at %s: %s %s (%s); replay: %s", w.N, s.Step, w.At, s.Figure, w.Text, w.Verdict, s.Replay)
		if s.ReplayAt != "" {
			line += fmt.Sprintf(" (the region lost at %s, %s earlier: its timing noise)", s.ReplayAt, s.Margin)
		}
	}
	if o := s.OverBudgetTooClose; o != nil {
		line += fmt.Sprintf("; but #%d at %s measured %s %s, over the budget and too close to call", o.N, o.At, s.Figure, o.Text)
	}
	if s.Stopped != "" {
		line += " [" + s.Stopped + "]"
	}
	return line
}
