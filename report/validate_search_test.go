package report

import (
	"encoding/json"
	"html"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
)

// searched is a planted drill of a search for rpo on region/a: the
// region loss at the moment at, rpo as given (the rest passes), and what
// the search made of it, read from the same check.
func searched(n int, moment time.Duration, rpo assertions.Result) SearchedRun {
	run := plantedRun("region/a", 1, 0, rpo)
	run.Dir = "search/failover-data-loss/0" + string(rune('0'+n)) + "-at-" + moment.String()
	return SearchedRun{Run: run, N: n, AtS: moment.Seconds(), FigureS: rpo.ObservedServiceS, Verdict: rpo.Verdict,
		Measured: rpo.Verdict != assertions.Unknown || rpo.TooClose, TooClose: rpo.TooClose, Why: rpo.Explanation}
}

// search is a search of rpo for the data-loss promise over runs, its
// worst the one numbered worst.
func search(worst int, runs ...SearchedRun) ValidationSearch {
	return ValidationSearch{Promise: specRPO.ID, Figure: "rpo", Scenario: "region/a", Step: "region-outage",
		PeriodS: 300, Budget: len(runs), Dir: "search/failover-data-loss", Runs: runs, WorstN: worst,
		File: "search/failover-data-loss/worst.yaml", Replay: "bcdr drill --file out/search/failover-data-loss/worst.yaml"}
}

// A searched moment that fails rpo makes the promise fail although the
// validation's own runs passed; the search block names that moment, and
// the promise's worst figure is its.
func TestValidationSearchFailingMoment(t *testing.T) {
	own := []ValidationRun{plantedRun("region/a", 1, 3*time.Minute), plantedRun("region/b", 1, 5*time.Minute)}
	s := search(2, searched(1, 40*time.Second, check("rpo", assertions.Pass, 4*time.Minute, 15*time.Minute)),
		searched(2, 4*time.Minute+10*time.Second, check("rpo", assertions.Fail, 19*time.Minute, 15*time.Minute)))
	v := BuildValidation(specs, own, nil, Environment{Provider: "fake"}, s)
	p := v.Promises[0]
	if p.Verdict != assertions.Fail || v.Verdict != assertions.Fail {
		t.Fatalf("a failing searched moment must fail the promise and the validation: %s, %s", p.Verdict, v.Verdict)
	}
	if !strings.Contains(p.Reason, "searched moment: region-outage at +4m10s") || !strings.Contains(p.Reason, "rpo said fail") {
		t.Errorf("the reason names the searched moment and the check: %q", p.Reason)
	}
	if len(p.Evidence) != 4 || p.Evidence[3].SearchedAt != "+4m10s" || p.Evidence[3].Verdict != assertions.Fail {
		t.Errorf("the two runs and the two searched drills are the evidence: %+v", p.Evidence)
	}
	if p.Worst == nil || p.Worst.ServiceS != 19*60 || p.Worst.Run != s.Runs[1].Run.Dir || p.Judged != 4 {
		t.Errorf("the worst figure is the searched moment's 19m: %+v (judged %d)", p.Worst, p.Judged)
	}
	sr := p.Search
	if sr == nil || sr.Worst == nil {
		t.Fatalf("no search block with a worst moment: %+v", sr)
	}
	if w := sr.Worst; w.N != 2 || w.At != "+4m10s" || w.Verdict != assertions.Fail || w.Promise != assertions.Fail ||
		w.Text != "19m" || w.Run != s.Runs[1].Run.Dir || !strings.HasSuffix(w.Report, "/report.html") {
		t.Errorf("the search's worst names the failing moment: %+v", w)
	}
	if sr.Ran != 2 || sr.Judged != 2 || sr.Budget != 2 || len(sr.Candidates) != 2 || sr.File != s.File || sr.Replay != s.Replay {
		t.Errorf("search block: %+v", sr)
	}
	for _, r := range v.Runs[2:] {
		if r.Search != specRPO.ID || r.At == "" {
			t.Errorf("a searched run is listed with its search and moment: %+v", r)
		}
	}
	// Other promises do not take the searched drills as evidence.
	if n := len(v.Promises[1].Evidence); n != 1 {
		t.Errorf("failback-no-loss rests on its one run of region/a, got %d", n)
	}
}

// A search that found only passes keeps the promise holding; its worst is
// the largest figure, and the promise's worst figure is that one when it
// is larger than the runs'.
func TestValidationSearchOnlyPasses(t *testing.T) {
	own := []ValidationRun{plantedRun("region/a", 1, 3*time.Minute), plantedRun("region/b", 1, 5*time.Minute)}
	s := search(3, searched(1, 20*time.Second, check("rpo", assertions.Pass, 2*time.Minute, 15*time.Minute)),
		searched(2, 2*time.Minute+20*time.Second, check("rpo", assertions.Pass, 6*time.Minute, 15*time.Minute)),
		searched(3, 3*time.Minute+30*time.Second, check("rpo", assertions.Pass, 11*time.Minute, 15*time.Minute)))
	v := BuildValidation(specs, own, nil, Environment{Provider: "fake"}, s)
	p := v.Promises[0]
	if p.Verdict != assertions.Pass || v.Verdict != assertions.Pass || p.Reason != "" {
		t.Fatalf("every run and searched moment passed: %s (%q), overall %s", p.Verdict, p.Reason, v.Verdict)
	}
	largest := 0.0
	for _, c := range p.Search.Candidates {
		largest = max(largest, c.FigureS)
	}
	if w := p.Search.Worst; w == nil || w.FigureS != largest || w.FigureS != 11*60 || w.N != 3 {
		t.Errorf("the search's worst is the largest figure (11m): %+v", w)
	}
	if p.Worst == nil || p.Worst.ServiceS != 11*60 || p.Median.ServiceS != 5*60 || p.Judged != 5 {
		t.Errorf("worst 11m (searched), median 5m over 5 figures: worst %+v median %+v judged %d", p.Worst, p.Median, p.Judged)
	}
	if p.Search.OverBudgetTooClose != nil {
		t.Errorf("no moment was over the budget: %+v", p.Search.OverBudgetTooClose)
	}
}

// A searched moment over the budget too close to call makes the promise
// unknown, never a pass, and the block names it; a search cut short by an
// interrupt makes a promise that passed unknown too.
func TestValidationSearchTooCloseAndStopped(t *testing.T) {
	own := []ValidationRun{plantedRun("region/a", 1, 3*time.Minute), plantedRun("region/b", 1, 5*time.Minute)}
	close := check("rpo", assertions.Unknown, 16*time.Minute, 15*time.Minute)
	close.TooClose, close.Explanation = true, "too close to call: 16m is over the budget 15m by 1m, within the noise"
	s := search(1, searched(1, time.Minute, check("rpo", assertions.Pass, 6*time.Minute, 15*time.Minute)), searched(2, 4*time.Minute, close))
	s.OverBudgetN = 2
	p := BuildValidation(specs, own, nil, Environment{}, s).Promises[0]
	if p.Verdict != assertions.Unknown || !strings.Contains(p.Reason, "too close to call") || !strings.Contains(p.Reason, "region-outage at +4m)") {
		t.Errorf("a too-close moment over the budget: %s %q", p.Verdict, p.Reason)
	}
	if o := p.Search.OverBudgetTooClose; o == nil || o.N != 2 || o.Text != "16m (too close)" || p.Search.Judged != 1 {
		t.Errorf("the block names the moment over the budget: %+v (judged %d)", o, p.Search.Judged)
	}

	stopped := search(1, searched(1, time.Minute, check("rpo", assertions.Pass, 6*time.Minute, 15*time.Minute)))
	stopped.Budget, stopped.Stopped = 3, "INTERRUPTED after 1 of 3 drills"
	p = BuildValidation(specs, own, nil, Environment{}, stopped).Promises[0]
	if p.Verdict != assertions.Unknown || !strings.Contains(p.Reason, "INTERRUPTED") || p.Search.Stopped == "" {
		t.Errorf("a search cut short proves no worst moment: %s %q", p.Verdict, p.Reason)
	}
}

// No search: no search block (and none in validation.json); a skipped
// search says why and changes no verdict.
func TestValidationSearchAbsentOrSkipped(t *testing.T) {
	own := []ValidationRun{plantedRun("region/a", 1, 3*time.Minute), plantedRun("region/b", 1, 5*time.Minute)}
	v := BuildValidation(specs, own, nil, Environment{})
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range v.Promises {
		if p.Search != nil {
			t.Errorf("%s has a search block though no search ran: %+v", p.ID, p.Search)
		}
	}
	if strings.Contains(string(b), `"search"`) || strings.Contains(string(b), `"searched_at"`) {
		t.Errorf("validation.json names a search though none ran")
	}
	skipped := ValidationSearch{Promise: specRPO.ID, Figure: "rpo", Budget: 3, Skipped: "none of its scenarios (hardware/c) has a region loss to move"}
	v = BuildValidation(specs, own, nil, Environment{}, skipped)
	p := v.Promises[0]
	if p.Verdict != assertions.Pass || p.Search == nil || p.Search.Skipped == "" || p.Search.Ran != 0 || p.Search.Worst != nil || len(p.Search.Candidates) != 0 {
		t.Errorf("a skipped search: %s %+v", p.Verdict, p.Search)
	}
	if v.Promises[1].Search != nil {
		t.Errorf("a promise with no search asked has no block: %+v", v.Promises[1].Search)
	}
}

// validation.html shows the search under its promise: the worst moment,
// its schedule and replay, every searched drill; and stays self-contained.
func TestValidationSearchHTML(t *testing.T) {
	own := []ValidationRun{plantedRun("region/a", 1, 3*time.Minute), plantedRun("region/b", 1, 5*time.Minute)}
	s := search(2, searched(1, 40*time.Second, check("rpo", assertions.Pass, 4*time.Minute, 15*time.Minute)),
		searched(2, 4*time.Minute+10*time.Second, check("rpo", assertions.Fail, 19*time.Minute, 15*time.Minute)))
	s.ReplayAtS, s.MarginS = (2*time.Minute + 40*time.Second).Seconds(), 90
	v := BuildValidation(specs, own, nil, Environment{Provider: "fake"}, s)
	if sr := v.Promises[0].Search; sr.ReplayAt != "+2m40s" || sr.ReplayAtS != 160 || sr.Margin != "1m30s" {
		t.Errorf("the file's backed-off moment: %q (%vs), margin %q", sr.ReplayAt, sr.ReplayAtS, sr.Margin)
	}
	dir := t.TempDir()
	if *sampleDir != "" {
		dir = filepath.Join(*sampleDir, "validation-search")
	}
	if err := WriteValidation(dir, v); err != nil {
		t.Fatal(err)
	}
	back, err := ReadValidation(dir)
	if err != nil {
		t.Fatal(err)
	}
	if sr := back.Promises[0].Search; sr == nil || sr.Worst == nil || sr.Worst.N != 2 || len(sr.Candidates) != 2 {
		t.Errorf("the search block does not read back: %+v", sr)
	}
	page := readFile(t, filepath.Join(dir, ValidationHTMLFile))
	text := html.UnescapeString(page) // html/template writes "+" as "&#43;"
	for _, want := range []string{
		"Search for the worst moment of <code>rpo</code>", "2 of 2 drills of region/a",
		"Worst: <strong>#2, region-outage at +4m10s</strong>", "rpo 19m",
		`<a href="search/failover-data-loss/02-at-4m10s/report.html">`, "search/failover-data-loss/worst.yaml",
		"replay <code>bcdr drill --file out/search/failover-data-loss/worst.yaml</code>",
		"searched: region loss at +4m10s", "search of failover-data-loss: region loss at +40s", "2 of them searched (rpo)",
		"the file loses the region at +2m40s, 1m30s earlier",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("validation.html lacks %q", want)
		}
	}
	for _, external := range []string{"<script", "src=", "href=\"http", "@import", "url("} {
		if strings.Contains(page, external) {
			t.Errorf("validation.html is not self-contained: it has %q", external)
		}
	}
}
