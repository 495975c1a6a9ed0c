package report

import (
	"fmt"
	"path/filepath"

	"github.com/bcdr-harness/bcdr/assertions"
)

// ValidationSearch is a search bcdr validate --search ran for one promise:
// a budget of drills of one of its scenarios, each with the region loss at
// another moment, looking for the moment that makes the promise's figure
// worst (package search). Its drills are that promise's evidence too,
// judged as every run is; what the search made of each (its figure and the
// figure check's verdict, the worst moment) is the search's, recorded here
// as it found it.
type ValidationSearch struct {
	Promise  string  // the promise's ID
	Figure   string  // the figure searched: the promise's FigureCheck
	Scenario string  // the scenario (suite/row) whose region loss was moved
	Step     string  // the fault step moved ("region-outage")
	PeriodS  float64 // the schedule period the moments span (service s)
	Budget   int     // drills asked for (--search N)
	Dir      string  // the search's folder, relative to the validation's
	Runs     []SearchedRun
	// WorstN is the N of the worst moment (search.Report.WorstCandidate),
	// OverBudgetN that of the largest figure over the budget too close to
	// call (search.Report.OverBudgetTooClose); 0 when there is none.
	WorstN, OverBudgetN int
	// File is the worst schedule as a scenario file (relative), Replay the
	// command that runs it again; the file loses the region at ReplayAtS,
	// MarginS earlier than the worst moment (search.Report.Margin: a
	// failing sawtooth figure backs off by its timing noise).
	File, Replay       string
	ReplayAtS, MarginS float64
	// Skipped says why no search ran for the promise; Stopped why the
	// search ended before its budget (interrupted).
	Skipped, Stopped string
}

// SearchedRun is one drill of a search: the run as validate saved it, the
// moment of its region loss, and what the search made of it.
type SearchedRun struct {
	Run ValidationRun
	N   int     // 1-based, in run order
	AtS float64 // the region loss's moment, service s after the steady state
	// FigureS is the figure check's observed value; Verdict its verdict
	// (unknown when the run was not valid or did not finish), Why the
	// explanation of anything but a pass.
	FigureS  float64
	Verdict  assertions.Verdict
	Measured bool // the figure was measured in a valid run (a too-close one too)
	TooClose bool
	Why      string
}

// SearchReport is the search block of a promise in validation.json.
type SearchReport struct {
	Figure   string  `json:"figure"`
	Scenario string  `json:"scenario,omitempty"`
	Step     string  `json:"step,omitempty"`
	PeriodS  float64 `json:"period_service_s,omitempty"`
	Budget   int     `json:"budget"`
	Ran      int     `json:"ran"`
	Judged   int     `json:"judged"` // ran, valid, and the figure check passed or failed
	Dir      string  `json:"dir,omitempty"`
	// Worst is the worst moment found; File and Replay its schedule.
	Worst  *SearchMoment `json:"worst,omitempty"`
	File   string        `json:"worst_file,omitempty"`
	Replay string        `json:"replay,omitempty"`
	// ReplayAt is where the file loses the region when it is not the
	// worst moment itself: Margin (its figure's timing noise) earlier.
	ReplayAt  string  `json:"replay_at,omitempty"`
	ReplayAtS float64 `json:"replay_at_service_s,omitempty"`
	Margin    string  `json:"replay_margin,omitempty"`
	// OverBudgetTooClose is a moment that measured the figure over its
	// budget too close to call: the promise cannot pass while it stands.
	OverBudgetTooClose *SearchMoment  `json:"over_budget_too_close,omitempty"`
	Candidates         []SearchMoment `json:"candidates"`
	Skipped            string         `json:"skipped,omitempty"`
	Stopped            string         `json:"stopped,omitempty"`
}

// SearchMoment is one drill of a search.
type SearchMoment struct {
	N       int                `json:"n"`
	AtS     float64            `json:"at_service_s"`
	At      string             `json:"at"` // "+9m32s": after the steady state
	FigureS float64            `json:"figure_service_s"`
	Text    string             `json:"figure_text"` // "-" when not measured
	Verdict assertions.Verdict `json:"verdict"`     // the figure check's
	Why     string             `json:"why,omitempty"`
	// Promise is the promise's verdict in this run (its evidence).
	Promise assertions.Verdict `json:"promise_verdict,omitempty"`
	Run     string             `json:"run"`
	Report  string             `json:"report"`
}

// at is a moment as the search prints it: "+9m32s".
func at(s float64) string { return "+" + shortDur(seconds(s)) }

func searchMoment(r SearchedRun, promise assertions.Verdict) SearchMoment {
	m := SearchMoment{N: r.N, AtS: r.AtS, At: at(r.AtS), FigureS: r.FigureS, Text: "-", Verdict: r.Verdict,
		Promise: promise, Run: r.Run.Dir, Report: filepath.ToSlash(filepath.Join(r.Run.Dir, HTMLFile))}
	if r.Measured {
		m.Text = shortDur(seconds(r.FigureS))
		if r.TooClose {
			m.Text += " (too close)"
		}
	}
	if r.Verdict != assertions.Pass {
		m.Why = r.Why
	}
	return m
}

// searchReport is s as validation.json shows it; verdicts are the
// promise's verdict in each searched run, by folder.
func searchReport(s ValidationSearch, verdicts map[string]assertions.Verdict) *SearchReport {
	sr := &SearchReport{Figure: s.Figure, Scenario: s.Scenario, Step: s.Step, PeriodS: s.PeriodS, Budget: s.Budget,
		Ran: len(s.Runs), Dir: s.Dir, Skipped: s.Skipped, Stopped: s.Stopped, Candidates: []SearchMoment{}}
	for _, r := range s.Runs {
		m := searchMoment(r, verdicts[r.Run.Dir])
		sr.Candidates = append(sr.Candidates, m)
		if r.Verdict == assertions.Pass || r.Verdict == assertions.Fail {
			sr.Judged++
		}
		if r.N == s.WorstN {
			sr.Worst = &m
			sr.File, sr.Replay = s.File, s.Replay
			if s.MarginS > 0 {
				sr.ReplayAt, sr.ReplayAtS, sr.Margin = at(s.ReplayAtS), s.ReplayAtS, shortDur(seconds(s.MarginS))
			}
		}
		if r.N == s.OverBudgetN {
			sr.OverBudgetTooClose = &m
		}
	}
	return sr
}

// searchedLabel names a searched run in a promise's reason.
func searchedLabel(s ValidationSearch, r SearchedRun) string {
	return fmt.Sprintf("%s (seed %d, searched moment: %s at %s)", s.Scenario, r.Run.Result.Seed, s.Step, at(r.AtS))
}

// searchedRunOf is the promise whose search made the run in dir, and the
// moment of its region loss.
func searchedRunOf(searches []ValidationSearch, dir string) (promise, moment string) {
	for _, s := range searches {
		for _, r := range s.Runs {
			if r.Run.Dir == dir {
				return s.Promise, at(r.AtS)
			}
		}
	}
	return "", ""
}
