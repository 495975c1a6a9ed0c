package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
)

// The files of a validation folder (bcdr validate --out DIR); each run
// behind it is a run folder under DIR/runs.
const (
	ValidationFile     = "validation.json"
	ValidationHTMLFile = "validation.html"
)

// PromiseSpec is one promise of the map (promises.Promise is this type;
// package promises holds the map).
type PromiseSpec struct {
	// ID is a stable short name (bcdr validate --promise, the JSON report).
	ID string
	// Text is the promise in this repository's words, as in the first
	// column of docs/promises.md's map; Figure is what is promised.
	Text, Figure string
	// Harness marks a promise of the harness itself, not of the article.
	Harness bool
	// Checks judge the promise (their verdicts in each evidence run);
	// FigureCheck is the one whose observed figure is the promise's figure
	// ("" when it is kept or broken without a time figure).
	Checks      []string
	FigureCheck string
	// Scenarios are the validate scenarios whose runs are its evidence, as
	// suite/row; with Every, every run that judged one of its checks is.
	Scenarios []string
	Every     bool
	// Controls are the negative controls that show its checks failing;
	// ControlNote says why a promise has none that bcdr validate can run.
	Controls    []string
	ControlNote string
}

// ValidationRun is one run a validation made: its scenario (suite/row),
// its folder relative to the validation folder, and its result as saved.
// Err is why the run did not finish, if it did not.
type ValidationRun struct {
	Scenario string
	Dir      string
	Result   Result
	Err      string
}

// ControlRun is a negative control a validation ran (--controls).
type ControlRun struct {
	Name   string
	Checks []string
	Want   assertions.Verdict
	Dir    string
	Result Result
	Err    string
}

// Environment is where a validation ran.
type Environment struct {
	Provider   string    `json:"provider"`
	SQLEngine  string    `json:"sql_engine,omitempty"`
	BlobEngine string    `json:"blob_engine,omitempty"`
	Engines    []string  `json:"engines,omitempty"` // engines and their versions, where known
	TimeScales []float64 `json:"time_scales"`
	Cores      int       `json:"cores"`
	OS         string    `json:"os"`
	Kernel     string    `json:"kernel,omitempty"`
	Go         string    `json:"go"`
	Bcdr       string    `json:"bcdr,omitempty"`
}

// Validation is the plan validation report (validation.json).
type Validation struct {
	Command     string             `json:"command"`
	Started     time.Time          `json:"started"`
	Ended       time.Time          `json:"ended"`
	WallS       float64            `json:"wall_s"`
	Seeds       []int64            `json:"seeds"`
	Verdict     assertions.Verdict `json:"verdict"`
	Summary     string             `json:"summary"`
	Held        int                `json:"held"`
	Failed      int                `json:"failed"`
	Unknown     int                `json:"unknown"`
	Environment Environment        `json:"environment"`
	Promises    []PromiseReport    `json:"promises"`
	Runs        []RunRef           `json:"runs"`
	Controls    []ControlRef       `json:"controls"`
}

// RunRef is a run of the validation: where its report is and how to run
// it again.
type RunRef struct {
	Scenario string             `json:"scenario"`
	Seed     int64              `json:"seed"`
	Verdict  assertions.Verdict `json:"verdict"`
	Reason   string             `json:"reason,omitempty"`
	Dir      string             `json:"dir"`
	Report   string             `json:"report"`
	Replay   string             `json:"replay"`
	WallS    float64            `json:"wall_s"`
	Error    string             `json:"error,omitempty"`
	// Search is the promise whose search (bcdr validate --search) made
	// this run, At the moment of its region loss ("+9m32s").
	Search string `json:"search,omitempty"`
	At     string `json:"searched_at,omitempty"`
}

// ControlRef is a negative control: named always, with its outcome when
// it ran. Shown is true when its checks reached the verdict it wants (the
// check was shown able to fail).
type ControlRef struct {
	Name    string             `json:"name"`
	Checks  []string           `json:"checks,omitempty"`
	Want    assertions.Verdict `json:"want,omitempty"`
	Ran     bool               `json:"ran"`
	Shown   bool               `json:"shown"`
	Got     map[string]string  `json:"got,omitempty"`
	Verdict assertions.Verdict `json:"verdict,omitempty"`
	Dir     string             `json:"dir,omitempty"`
	Report  string             `json:"report,omitempty"`
	Replay  string             `json:"replay,omitempty"`
	Why     string             `json:"why,omitempty"`
}

// Figure is one observed value of a promise's figure check.
type Figure struct {
	ServiceS float64 `json:"service_s"`
	Text     string  `json:"text"`
	Run      string  `json:"run"` // the run's folder (relative)
}

// Evidence is what one run said about a promise: its checks' verdicts and
// the promise's verdict in that run.
type Evidence struct {
	Run     string             `json:"run"`
	Seed    int64              `json:"seed"`
	Verdict assertions.Verdict `json:"verdict"`
	Reason  string             `json:"reason,omitempty"`
	Checks  []EvidenceCheck    `json:"checks"`
	// SearchedAt is the moment of the region loss of a run the promise's
	// search made ("+9m32s"); empty for the validation's own runs.
	SearchedAt string `json:"searched_at,omitempty"`
}

// EvidenceCheck is one check's verdict and figure in an evidence run.
type EvidenceCheck struct {
	Name        string             `json:"name"`
	Verdict     assertions.Verdict `json:"verdict"`
	ObservedS   float64            `json:"observed_service_s,omitempty"`
	BudgetS     float64            `json:"budget_service_s,omitempty"`
	Lost        int                `json:"lost,omitempty"`
	Violations  int                `json:"violations,omitempty"`
	Explanation string             `json:"explanation"`
}

// PromiseReport is one promise's verdict and what it rests on.
type PromiseReport struct {
	ID          string             `json:"id"`
	Promise     string             `json:"promise"`
	Figure      string             `json:"figure"`
	Harness     bool               `json:"harness,omitempty"`
	Checks      []string           `json:"checks"`
	Verdict     assertions.Verdict `json:"verdict"`
	Reason      string             `json:"reason,omitempty"`
	FigureCheck string             `json:"figure_check,omitempty"`
	BudgetS     float64            `json:"budget_service_s,omitempty"`
	Worst       *Figure            `json:"worst,omitempty"`
	Median      *Figure            `json:"median,omitempty"`
	Judged      int                `json:"figures_judged"`
	Lost        int                `json:"lost_writes"`
	Violations  int                `json:"worst_violations"`
	Evidence    []Evidence         `json:"evidence"`
	Controls    []ControlRef       `json:"controls"`
	ControlNote string             `json:"control_note,omitempty"`
	// Search is the search for the worst moment of its figure (bcdr
	// validate --search), absent when none was asked for.
	Search *SearchReport `json:"search,omitempty"`
}

// BuildValidation makes the validation report from the runs a validation
// made (and the controls it ran): the verdict of each promise in each run
// that is its evidence (PromiseInRun), the promise's verdict across them
// (the worst: fail beats unknown beats pass; no evidence is unknown), its
// figure worst and median, and the overall verdict and summary. The drills
// of a promise's search (searches) are that promise's evidence beside its
// runs, judged the same way, and its search block names the worst moment.
// It judges nothing itself: every verdict it combines is a check's or a
// run's, as assertions.Judge and harness.FinishResult made them.
func BuildValidation(specs []PromiseSpec, runs []ValidationRun, controls []ControlRun, env Environment, searches ...ValidationSearch) Validation {
	v := Validation{Environment: env}
	scales := map[float64]bool{}
	seeds := map[int64]bool{}
	all := append([]ValidationRun(nil), runs...)
	searchOf := map[string]*ValidationSearch{}
	for i, s := range searches {
		searchOf[s.Promise] = &searches[i]
		for _, r := range s.Runs {
			all = append(all, r.Run)
		}
	}
	for i, r := range all {
		ref := runRef(r.Scenario, r.Dir, r.Result, r.Err)
		if i >= len(runs) {
			ref.Search, ref.At = searchedRunOf(searches, r.Dir)
		}
		v.Runs = append(v.Runs, ref)
		if r.Result.TimeScale > 0 && !scales[r.Result.TimeScale] {
			scales[r.Result.TimeScale] = true
			v.Environment.TimeScales = append(v.Environment.TimeScales, r.Result.TimeScale)
		}
		if !seeds[r.Result.Seed] {
			seeds[r.Result.Seed] = true
			v.Seeds = append(v.Seeds, r.Result.Seed)
		}
		if v.Environment.SQLEngine == "" {
			v.Environment.SQLEngine, v.Environment.BlobEngine = r.Result.SQLEngine, r.Result.BlobEngine
		}
	}
	sort.Float64s(v.Environment.TimeScales)
	sort.Slice(v.Seeds, func(i, j int) bool { return v.Seeds[i] < v.Seeds[j] })
	ran := map[string]ControlRef{}
	for _, c := range controls {
		ref := controlRef(c)
		ran[c.Name] = ref
		v.Controls = append(v.Controls, ref)
	}
	for _, p := range specs {
		pr := promiseReport(p, runs, ran, searchOf[p.ID])
		v.Promises = append(v.Promises, pr)
		switch pr.Verdict {
		case assertions.Pass:
			v.Held++
		case assertions.Fail:
			v.Failed++
		default:
			v.Unknown++
		}
	}
	var verdicts []assertions.Verdict
	for _, p := range v.Promises {
		verdicts = append(verdicts, p.Verdict)
	}
	v.Verdict = assertions.Unknown
	if len(verdicts) > 0 {
		v.Verdict = assertions.Worst(verdicts...)
	}
	v.Summary = summary(v)
	return v
}

func runRef(scenario, dir string, r Result, err string) RunRef {
	return RunRef{Scenario: scenario, Seed: r.Seed, Verdict: r.Verdict, Reason: r.Reason, Dir: dir,
		Report: filepath.ToSlash(filepath.Join(dir, HTMLFile)), Replay: r.Replay, WallS: r.WallS, Error: err}
}

func controlRef(c ControlRun) ControlRef {
	ref := ControlRef{Name: c.Name, Checks: c.Checks, Want: c.Want, Ran: true, Verdict: c.Result.Verdict, Dir: c.Dir,
		Report: filepath.ToSlash(filepath.Join(c.Dir, HTMLFile)), Replay: c.Result.Replay, Got: map[string]string{}}
	ref.Shown = c.Err == "" && len(c.Checks) > 0
	var missed []string
	for _, name := range c.Checks {
		got := "not run"
		if r := findCheck(c.Result.Checks, name); r != nil {
			got = string(r.Verdict)
		}
		ref.Got[name] = got
		if got != string(c.Want) {
			ref.Shown = false
			missed = append(missed, fmt.Sprintf("%s %s, want %s", name, got, c.Want))
		}
	}
	switch {
	case c.Err != "":
		ref.Why = "the control did not finish: " + c.Err
	case ref.Shown:
		ref.Why = fmt.Sprintf("%s %s as built to: the check can fail", strings.Join(c.Checks, " and "), c.Want)
	default:
		ref.Why = "the control did not show its check failing: " + strings.Join(missed, "; ")
	}
	return ref
}

// PromiseInRun is the verdict of a promise in one run, from the run's own
// results: the worst of the promise's checks there (fail beats unknown
// beats pass). A pass is unknown when the run's validity did not pass (an
// invalid test proves nothing) or when the run could not tell for a
// reason that is no check's (its requests unjudged, interrupted, no
// check): the run's reason, as harness.FinishResult gave it. ok is false
// when the run judged none of the promise's checks.
func PromiseInRun(p PromiseSpec, r Result) (v assertions.Verdict, reason string, judged []assertions.Result, ok bool) {
	var vs []assertions.Verdict
	for _, name := range p.Checks {
		if c := findCheck(r.Checks, name); c != nil {
			judged = append(judged, *c)
			vs = append(vs, c.Verdict)
			if c.Verdict != assertions.Pass && reason == "" {
				reason = assertions.UnknownReason(*c)
			}
		}
	}
	if len(judged) == 0 {
		if r.Verdict == assertions.Unknown && r.Reason != "" && len(r.Checks) == 0 {
			return assertions.Unknown, r.Reason, nil, true
		}
		return "", "", nil, false
	}
	v = assertions.Worst(vs...)
	if v != assertions.Pass {
		return v, reason, judged, true
	}
	if val := findCheck(r.Checks, "validity"); val != nil && val.Verdict != assertions.Pass {
		return assertions.Unknown, "the run is not a valid test: " + assertions.UnknownReason(*val), judged, true
	}
	if r.Verdict == assertions.Unknown {
		name, _, _ := strings.Cut(r.Reason, ": ")
		if findCheck(r.Checks, name) == nil {
			return assertions.Unknown, "the run could not tell: " + r.Reason, judged, true
		}
	}
	return v, "", judged, true
}

func promiseReport(p PromiseSpec, runs []ValidationRun, controls map[string]ControlRef, search *ValidationSearch) PromiseReport {
	pr := PromiseReport{ID: p.ID, Promise: p.Text, Figure: p.Figure, Harness: p.Harness, Checks: p.Checks,
		FigureCheck: p.FigureCheck, ControlNote: p.ControlNote}
	var t tally
	for _, run := range runs {
		if !p.Every && !slices.Contains(p.Scenarios, run.Scenario) {
			continue
		}
		t.add(&pr, p, run, fmt.Sprintf("%s (seed %d)", run.Scenario, run.Result.Seed), "")
	}
	if search != nil {
		// The searched drills are evidence of this promise alone: each is
		// judged as the runs are, the worst moment's figure among them.
		verdicts := map[string]assertions.Verdict{}
		for _, r := range search.Runs {
			if t.add(&pr, p, r.Run, searchedLabel(*search, r), at(r.AtS)) {
				verdicts[r.Run.Dir] = t.vs[len(t.vs)-1]
			}
		}
		pr.Search = searchReport(*search, verdicts)
	}
	vs, reasons, figs := t.vs, t.reasons, t.figs
	pr.Judged = len(figs)
	if len(figs) > 0 {
		sort.SliceStable(figs, func(i, j int) bool { return figs[i].ServiceS < figs[j].ServiceS })
		worst, median := figs[len(figs)-1], figs[(len(figs)-1)/2]
		pr.Worst, pr.Median = &worst, &median
	}
	switch {
	case len(vs) == 0:
		pr.Verdict, pr.Reason = assertions.Unknown, "no run of this validation judged it (scenarios: "+strings.Join(p.Scenarios, ", ")+")"
	default:
		// The reason is the first run that gave the promise its verdict.
		pr.Verdict = assertions.Worst(vs...)
		for i, v := range vs {
			if v == pr.Verdict && v != assertions.Pass {
				pr.Reason = reasons[i]
				break
			}
		}
	}
	if search != nil && search.Stopped != "" && pr.Verdict == assertions.Pass {
		// A search cut short did not try the moments it was asked to.
		pr.Verdict, pr.Reason = assertions.Unknown, "its search for the worst moment of "+search.Figure+" stopped early: "+search.Stopped
	}
	for _, name := range p.Controls {
		ref, ok := controls[name]
		if !ok {
			ref = ControlRef{Name: name, Why: "named, not run (bcdr validate --controls runs it)"}
		} else if !ref.Shown && pr.Verdict == assertions.Pass {
			pr.Verdict, pr.Reason = assertions.Unknown, "its negative control "+name+" did not show its check failing: "+ref.Why
		}
		pr.Controls = append(pr.Controls, ref)
	}
	if pr.Verdict == assertions.Pass {
		pr.Reason = ""
	}
	return pr
}

// tally gathers a promise's evidence: its verdict, the reason and the
// figure measured in each run.
type tally struct {
	vs      []assertions.Verdict
	reasons []string
	figs    []Figure
}

// add takes run as the promise's evidence (label names the run in a
// reason, searchedAt is the moment of a searched run's region loss). It is
// false when the run judged none of an Every promise's checks, which makes
// it no evidence of it.
func (t *tally) add(pr *PromiseReport, p PromiseSpec, run ValidationRun, label, searchedAt string) bool {
	v, reason, judged, ok := PromiseInRun(p, run.Result)
	if !ok {
		if p.Every {
			return false
		}
		v, reason = assertions.Unknown, "the run judged none of "+strings.Join(p.Checks, ", ")
		if run.Err != "" {
			reason = "the run did not finish: " + run.Err
		}
	}
	ev := Evidence{Run: run.Dir, Seed: run.Result.Seed, Verdict: v, Reason: reason, SearchedAt: searchedAt}
	for _, c := range judged {
		ev.Checks = append(ev.Checks, EvidenceCheck{Name: c.Name, Verdict: c.Verdict, ObservedS: c.ObservedServiceS,
			BudgetS: c.BudgetServiceS, Lost: c.LostCount, Violations: c.Violations, Explanation: c.Explanation})
		pr.Lost += c.LostCount
		if c.Violations > pr.Violations {
			pr.Violations = c.Violations
		}
		// A figure too close to call was measured; one with nothing to
		// judge was not.
		if c.Name == p.FigureCheck && (c.ObservedServiceS != 0 || c.BudgetServiceS != 0) && (c.Verdict != assertions.Unknown || c.TooClose) {
			text := shortDur(seconds(c.ObservedServiceS))
			if c.TooClose {
				text += " (too close)"
			}
			t.figs = append(t.figs, Figure{ServiceS: c.ObservedServiceS, Text: text, Run: run.Dir})
			if c.BudgetServiceS > pr.BudgetS {
				pr.BudgetS = c.BudgetServiceS
			}
		}
	}
	pr.Evidence = append(pr.Evidence, ev)
	t.vs = append(t.vs, v)
	t.reasons = append(t.reasons, label+": "+reason)
	return true
}

// summary is what a customer reads first.
func summary(v Validation) string {
	n := len(v.Promises)
	where := fmt.Sprintf("%d runs on the %s provider (seeds %s)", len(v.Runs), v.Environment.Provider, seedList(v.Seeds))
	if v.Verdict == assertions.Pass {
		s := fmt.Sprintf("Every one of the %d promises held in %d runs on the %s provider (seeds %s).", n, len(v.Runs), v.Environment.Provider, seedList(v.Seeds))
		if shown := shownControls(v); shown > 0 {
			s += fmt.Sprintf(" %d negative controls were run and each failed as built to, so the checks can fail.", shown)
		}
		return s
	}
	var parts []string
	if v.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d promises did not hold (%s)", v.Failed, n, promiseNames(v, assertions.Fail)))
	}
	if v.Unknown > 0 {
		parts = append(parts, fmt.Sprintf("%d could not be told (%s)", v.Unknown, promiseNames(v, assertions.Unknown)))
	}
	return fmt.Sprintf("%s; %d held, in %s.", strings.Join(parts, "; "), v.Held, where)
}

func shownControls(v Validation) int {
	n := 0
	for _, c := range v.Controls {
		if c.Shown {
			n++
		}
	}
	return n
}

func promiseNames(v Validation, verdict assertions.Verdict) string {
	var out []string
	for _, p := range v.Promises {
		if p.Verdict == verdict {
			out = append(out, p.Promise)
		}
	}
	return strings.Join(out, "; ")
}

func seedList(seeds []int64) string {
	s := make([]string, len(seeds))
	for i, x := range seeds {
		s[i] = fmt.Sprint(x)
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// WriteValidation writes validation.json and validation.html into dir.
func WriteValidation(dir string, v Validation) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write validation: %w", err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("write validation: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ValidationFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write validation: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, ValidationHTMLFile))
	if err != nil {
		return fmt.Errorf("write validation: %w", err)
	}
	if err := WriteValidationHTML(f, v); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ReadValidation reads dir/validation.json.
func ReadValidation(dir string) (Validation, error) {
	var v Validation
	b, err := os.ReadFile(filepath.Join(dir, ValidationFile))
	if err != nil {
		return v, fmt.Errorf("read validation: %w", err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("read validation %s: %w", filepath.Join(dir, ValidationFile), err)
	}
	return v, nil
}
