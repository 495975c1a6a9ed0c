package promises

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/harness"
)

// docRow is one row of docs/promises.md's map table.
type docRow struct{ promise, figure, checks, scenarios, controls string }

// docMap reads the table under "## The map" in docs/promises.md.
func docMap(t *testing.T) []docRow {
	t.Helper()
	b, err := os.ReadFile("../docs/promises.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## The map\n")
	if !ok {
		t.Fatal(`docs/promises.md has no "## The map" section`)
	}
	var rows []docRow
	header := true
	for _, line := range strings.Split(rest, "\n") {
		if strings.HasPrefix(line, "## ") {
			break
		}
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if len(cells) != 5 {
			t.Fatalf("docs/promises.md map row with %d cells, want 5: %s", len(cells), line)
		}
		if header || strings.HasPrefix(cells[0], " ---") || strings.HasPrefix(cells[0], "---") {
			header = false
			continue
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, docRow{cells[0], cells[1], cells[2], cells[3], cells[4]})
	}
	return rows
}

var backticked = regexp.MustCompile("`([^`]+)`")

func checkNames(cell string) []string {
	var out []string
	for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
		if _, ok := assertions.Lookup(m[1]); ok {
			out = append(out, m[1])
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	set := map[string]int{}
	for _, x := range a {
		set[x] |= 1
	}
	for _, x := range b {
		set[x] |= 2
	}
	for _, v := range set {
		if v != 3 {
			return false
		}
	}
	return true
}

// TestDocsAgree holds docs/promises.md's map table to Map, row by row:
// the promise, its figure, its checks, its scenarios (suite/row, or every
// row) and its negative controls.
func TestDocsAgree(t *testing.T) {
	rows := docMap(t)
	if len(rows) != len(Map) {
		t.Errorf("docs/promises.md's map has %d rows, promises.Map %d", len(rows), len(Map))
	}
	for i := 0; i < len(rows) && i < len(Map); i++ {
		d, p := rows[i], Map[i]
		text := p.Text
		if p.Harness {
			text = "(harness) " + text
		}
		text = strings.ReplaceAll(text, `"`, `"`)
		if d.promise != text {
			t.Errorf("row %d: docs promise %q, code %q (%s)", i+1, d.promise, text, p.ID)
			continue
		}
		if fig := strings.ReplaceAll(d.figure, "`", ""); fig != p.Figure {
			t.Errorf("%s: docs figure %q, code %q", p.ID, fig, p.Figure)
		}
		if got := checkNames(d.checks); !sameSet(got, p.Checks) {
			t.Errorf("%s: docs checks %v, code %v", p.ID, got, p.Checks)
		}
		for _, sc := range p.Scenarios {
			if !strings.Contains(d.scenarios, sc) {
				t.Errorf("%s: scenario %s is not in the docs' scenarios column: %s", p.ID, sc, d.scenarios)
			}
		}
		if p.Every != strings.Contains(d.scenarios, "every row") {
			t.Errorf("%s: Every is %v but the docs' scenarios column says %q", p.ID, p.Every, d.scenarios)
		}
		for _, c := range Controls {
			inCode, inDocs := slices.Contains(p.Controls, c.Name), regexp.MustCompile(`(^|[^a-z-])`+regexp.QuoteMeta(c.Name)+`([^a-z-]|$)`).MatchString(d.controls)
			if inCode != inDocs {
				t.Errorf("%s: control %s in code %v, in the docs' controls column %v: %s", p.ID, c.Name, inCode, inDocs, d.controls)
			}
		}
		if len(p.Controls) == 0 && p.ControlNote == "" {
			t.Errorf("%s: no control and no note saying why", p.ID)
		}
	}
}

// TestMapIsWhole: every name the map uses exists (checks, scenarios,
// controls, faults), every scenario and control builds and validates, and
// every check of assertions is some promise's.
func TestMapIsWhole(t *testing.T) {
	used := map[string]bool{}
	ids := map[string]bool{}
	for _, p := range Map {
		if ids[p.ID] {
			t.Errorf("promise id %s twice", p.ID)
		}
		ids[p.ID] = true
		for _, c := range p.Checks {
			used[c] = true
			if _, ok := assertions.Lookup(c); !ok {
				t.Errorf("%s: no check %s", p.ID, c)
			}
		}
		if p.FigureCheck != "" && !slices.Contains(p.Checks, p.FigureCheck) {
			t.Errorf("%s: figure check %s is not one of its checks", p.ID, p.FigureCheck)
		}
		if len(p.Scenarios) == 0 && !p.Every {
			t.Errorf("%s: no scenario is its evidence", p.ID)
		}
		for _, s := range p.Scenarios {
			if _, ok := Scenario(s); !ok {
				t.Errorf("%s: no scenario %s", p.ID, s)
			}
		}
		for _, c := range p.Controls {
			if _, ok := LookupControl(c); !ok {
				t.Errorf("%s: no control %s", p.ID, c)
			}
		}
	}
	for _, name := range ScenarioNames() {
		sc, _ := Scenario(name)
		if err := harness.Validate(sc); err != nil {
			t.Errorf("scenario %s: %v", name, err)
		}
		for _, f := range sc.Faults {
			if _, ok := faults.Lookup(f.Name); !ok {
				t.Errorf("scenario %s: fault %s is not in the catalogue", name, f.Name)
			}
		}
	}
	for _, c := range Controls {
		if sc, err := c.Build(); err != nil {
			t.Error(err)
		} else if err := harness.Validate(sc); err != nil {
			t.Errorf("control %s: %v", c.Name, err)
		}
		for _, name := range c.Checks {
			if !used[name] {
				t.Errorf("control %s violates %s, which no promise judges", c.Name, name)
			}
		}
	}
	for _, name := range assertions.Names() {
		if !used[name] {
			t.Errorf("check %s judges no promise of the map", name)
		}
	}
}

// Every control's run is judged by the checks it must fail: a steady-state
// control (no fault) derives only the always-run checks, so without this
// its replication-lag was never run and the control showed nothing.
func TestEveryControlRunsTheChecksItMustFail(t *testing.T) {
	for _, c := range Controls {
		sc, err := c.Build()
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		run, _ := sc.ChecksToRun(false)
		for _, want := range c.Checks {
			if !slices.Contains(run, want) {
				t.Errorf("control %s must fail %s, but its run is judged by %v", c.Name, want, run)
			}
		}
	}
}
