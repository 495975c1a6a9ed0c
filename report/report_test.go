package report

import (
	"bytes"
	"encoding/xml"
	"flag"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/history"
)

var sampleDir = flag.String("sample-dir", "", "also keep the rendered sample runs in this folder (used by scripts/screenshot-report.sh)")

// runDir is where a test writes a run: a temporary folder, or under -sample-dir.
func runDir(t *testing.T, name string) string {
	t.Helper()
	if *sampleDir == "" {
		return t.TempDir()
	}
	return filepath.Join(*sampleDir, name)
}

// writeDrill writes the synthetic drill into a run folder.
func writeDrill(t *testing.T, name string, failing bool) (string, Result) {
	t.Helper()
	h := drillHistory(failing)
	r := drillResult(h, failing)
	dir := runDir(t, name)
	if err := WriteAll(dir, r, h); err != nil {
		t.Fatalf("WriteAll: %v", err)
	}
	return dir, r
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReportHTML(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failing bool
	}{{"passing", false}, {"failing", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir, r := writeDrill(t, tc.name, tc.failing)
			page := readFile(t, filepath.Join(dir, HTMLFile))
			for _, c := range r.Checks {
				if !strings.Contains(page, `id="check-`+c.Name+`"`) {
					t.Errorf("check %q has no row in report.html", c.Name)
				}
				if !strings.Contains(page, template.HTMLEscapeString(c.Explanation)) {
					t.Errorf("explanation of %q missing from report.html: %q", c.Name, c.Explanation)
				}
			}
			wants := map[string]int{
				"<svg":                      3, // writes, lag, objectives
				`<rect class="fault-window`: 4, // two faults on each time chart
				`class="marker ev-failover`: 4, // start and done on each time chart
				`class="marker ev-failback`: 4,
				`class="marker ev-outage"`:  2,
				`<polyline class="s-ok"`:    1,
				`<polyline class="s-err"`:   1,
				`<polyline class="s-sql"`:   1,
				`<polyline class="s-blob"`:  1,
				`<line class="budget"`:      1,
				"RPO budget 15m":            1,
				"wan-partition":             1,
				"region-outage":             1,
				r.Replay:                    1,
				"seed</dt><dd>42<":          1,
			}
			for s, n := range wants {
				if got := strings.Count(page, s); got < n {
					t.Errorf("report.html has %d of %q, want at least %d", got, s, n)
				}
			}
			for _, external := range []string{"<script", "src=", "href=\"http", "@import", "url("} {
				if strings.Contains(page, external) {
					t.Errorf("report.html is not self-contained: it has %q", external)
				}
			}
			verdictBadge := `<span class="verdict ` + string(r.Verdict) + `">`
			if !strings.Contains(page, verdictBadge) {
				t.Errorf("report.html lacks the run verdict badge %q", verdictBadge)
			}
		})
	}
}

func TestReportHTMLShowsFailureDetails(t *testing.T) {
	dir, _ := writeDrill(t, "failing-details", true)
	page := readFile(t, filepath.Join(dir, HTMLFile))
	for _, want := range []string{
		`<tr class="fail" id="check-rpo">`,
		`<tr class="unknown" id="check-validity">`,
		"2 lost acknowledged writes",
		"<td>w-0-761</td><td>journal-entry</td><td>west</td><td>app-west-0</td>",
		"history operations: 3041, 3046",
		"&lt;debit only&gt;", // explanations are escaped, not interpreted
		`<rect class="bar-fail"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("failing report.html lacks %q", want)
		}
	}
	if strings.Contains(page, "<debit only>") {
		t.Error("an explanation reached report.html unescaped")
	}
}

func TestReportHTMLWithoutTraffic(t *testing.T) {
	r := Result{Scenario: "aborted", Verdict: assertions.Unknown, Reason: "environment did not come up: <timeout>"}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, r, history.History{Scale: 10}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{
		"no client writes recorded",
		"no replication lag samples recorded",
		`This run has no check named "rpo" or "rto".`,
		"No checks ran.",
		"environment did not come up: &lt;timeout&gt;",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report.html of a run without traffic lacks %q", want)
		}
	}
}

// The JUnit shape CI servers read, declared apart from the writer's own types
// so the test checks the format rather than a round trip.
type parsedSuites struct {
	XMLName xml.Name `xml:"testsuites"`
	Tests   int      `xml:"tests,attr"`
	Suites  []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Errors   int    `xml:"errors,attr"`
		Props    []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Classname string `xml:"classname,attr"`
			Name      string `xml:"name,attr"`
			Time      string `xml:"time,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Error *struct {
				Message string `xml:"message,attr"`
			} `xml:"error"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func parseJUnit(t *testing.T, path string) parsedSuites {
	t.Helper()
	var doc parsedSuites
	if err := xml.Unmarshal([]byte(readFile(t, path)), &doc); err != nil {
		t.Fatalf("junit.xml does not parse: %v", err)
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("junit.xml has %d test suites, want 1", len(doc.Suites))
	}
	return doc
}

func TestJUnit(t *testing.T) {
	dir, r := writeDrill(t, "failing-junit", true)
	doc := parseJUnit(t, filepath.Join(dir, JUnitFile))
	s := doc.Suites[0]
	if s.Name != "bcdr.region-outage" {
		t.Errorf("suite name %q, want bcdr.region-outage", s.Name)
	}
	if len(s.Cases) != len(r.Checks) || s.Tests != len(r.Checks) || doc.Tests != len(r.Checks) {
		t.Fatalf("junit.xml has %d cases (tests=%d, total %d), want one per check: %d", len(s.Cases), s.Tests, doc.Tests, len(r.Checks))
	}
	if s.Failures != 2 || s.Errors != 1 {
		t.Errorf("suite counts failures=%d errors=%d, want 2 and 1", s.Failures, s.Errors)
	}
	for i, c := range r.Checks {
		tc := s.Cases[i]
		if tc.Name != c.Name || tc.Classname != "bcdr.region-outage" || tc.Time == "" {
			t.Errorf("case %d is %q/%q time %q, want %q/bcdr.region-outage with a time", i, tc.Classname, tc.Name, tc.Time, c.Name)
		}
		switch c.Verdict {
		case assertions.Fail:
			if tc.Failure == nil || tc.Failure.Message != c.Explanation {
				t.Errorf("failing check %q: failure %+v, want message %q", c.Name, tc.Failure, c.Explanation)
			}
		case assertions.Unknown:
			if tc.Error == nil || tc.Error.Message != c.Explanation {
				t.Errorf("unknown check %q: error %+v, want message %q", c.Name, tc.Error, c.Explanation)
			}
		default:
			if tc.Failure != nil || tc.Error != nil || tc.Skipped != nil {
				t.Errorf("passing check %q carries a failure, error or skip", c.Name)
			}
		}
	}
	rpo := s.Cases[0].Failure
	for _, want := range []string{"w-0-761", "observed 21m (12.6s wall), budget 15m (9s wall)", "replay: " + r.Replay} {
		if rpo == nil || !strings.Contains(rpo.Text, want) {
			t.Errorf("rpo failure body lacks %q", want)
		}
	}
	props := map[string]string{}
	for _, p := range s.Props {
		props[p.Name] = p.Value
	}
	for name, want := range map[string]string{"seed": "42", "time_scale": "100", "replay": r.Replay, "knob.clients": "4"} {
		if props[name] != want {
			t.Errorf("property %s = %q, want %q", name, props[name], want)
		}
	}
}

func TestJUnitRunWithoutChecks(t *testing.T) {
	dir := t.TempDir()
	r := Result{Scenario: "aborted", Verdict: assertions.Unknown, Reason: "interrupted before the fault"}
	if err := WriteAll(dir, r, history.History{Scale: 1}); err != nil {
		t.Fatal(err)
	}
	s := parseJUnit(t, filepath.Join(dir, JUnitFile)).Suites[0]
	if len(s.Cases) != 1 || s.Cases[0].Name != "run" || s.Cases[0].Error == nil || s.Cases[0].Error.Message != r.Reason {
		t.Errorf("a run without checks should be one case \"run\" with an error carrying the reason; got %+v", s.Cases)
	}
}

func TestRenderFromSavedRun(t *testing.T) {
	dir, _ := writeDrill(t, "render", true)
	wantHTML := readFile(t, filepath.Join(dir, HTMLFile))
	wantJUnit := readFile(t, filepath.Join(dir, JUnitFile))
	for _, f := range []string{HTMLFile, JUnitFile} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := Render(dir); err != nil {
		t.Fatalf("Render: %v", err)
	}
	if readFile(t, filepath.Join(dir, HTMLFile)) != wantHTML {
		t.Error("report.html rendered from the saved run differs from the one written at the end of the run")
	}
	if readFile(t, filepath.Join(dir, JUnitFile)) != wantJUnit {
		t.Error("junit.xml rendered from the saved run differs from the one written at the end of the run")
	}
}

func TestRenderMissingRun(t *testing.T) {
	dir := t.TempDir()
	err := Render(dir)
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("Render of an empty folder: error %v, want one naming %s", err, dir)
	}
}

func TestTrend(t *testing.T) {
	passing, r := writeDrill(t, "trend-1", false)
	failing, _ := writeDrill(t, "trend-2", true)
	other := t.TempDir()
	r3 := r
	r3.Scenario, r3.Seed = "wan-partition", 7
	r3.Checks = append([]assertions.Result{{Name: "lag-recovers", Verdict: assertions.Pass}}, r.Checks[:2]...)
	if err := WriteResult(other, r3); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Trend(&buf, []string{passing, failing, other}); err != nil {
		t.Fatalf("Trend: %v", err)
	}
	out := buf.String()
	t.Logf("trend:\n%s", out)
	lines := strings.Split(out, "\n")
	row := func(name string) []string {
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 0 && f[0] == name {
				return f
			}
		}
		t.Errorf("trend has no row %q", name)
		return nil
	}
	header := row("check")
	if want := []string{"check", "#1", "region-outage", "seed=42", "#2", "region-outage", "seed=42", "#3", "wan-partition", "seed=7"}; strings.Join(header, " ") != strings.Join(want, " ") {
		t.Errorf("trend header %q, want %q", header, want)
	}
	if got := strings.Join(row("(run)"), " "); got != "(run) pass fail pass" {
		t.Errorf("trend run row %q", got)
	}
	for _, c := range append(r.Checks, r3.Checks[0]) {
		row(c.Name)
	}
	if got := strings.Join(row("rpo"), " "); got != "rpo pass 1m30s fail 21m pass 1m30s" {
		t.Errorf("trend rpo row %q", got)
	}
	if got := strings.Join(row("ledger"), " "); got != "ledger pass fail -" {
		t.Errorf("trend ledger row %q: a check a run lacks should read -", got)
	}
	if !strings.Contains(out, "#3 "+other) {
		t.Errorf("trend does not name the folder of run #3")
	}
}

func TestTrendErrors(t *testing.T) {
	if err := Trend(&bytes.Buffer{}, nil); err == nil {
		t.Error("Trend of no runs should fail")
	}
	missing := filepath.Join(t.TempDir(), "nope")
	if err := Trend(&bytes.Buffer{}, []string{missing}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Trend of a missing folder: %v, want an error naming it", err)
	}
}

func TestFaultWindowsPairByNameAndOrder(t *testing.T) {
	ev := func(svc int, name, fault string) history.Op {
		return history.Op{Kind: history.Event, Type: history.Info, Key: name, Service: secondsOf(svc), Value: map[string]any{"fault": fault}}
	}
	h := history.History{Scale: 1, Ops: []history.Op{
		ev(0, history.EvPhase, ""),
		ev(10, history.EvFaultInjected, "a"),
		ev(20, history.EvFaultInjected, "b"),
		ev(30, history.EvFaultRecovered, "a"),
		ev(40, history.EvFaultInjected, "a"),
		ev(50, history.EvFaultRecovered, "b"),
		ev(60, history.EvFaultRecovered, "c"), // recovers nothing injected
		ev(100, history.EvPhase, ""),
	}}
	tl := newTimeline(h, box{X: 0, Y: 0, W: 100, H: 10}) // one unit per second
	got := tl.faultWindows(h)
	want := []struct {
		label string
		x, w  float64
		open  bool
	}{{"a", 10, 20, false}, {"b", 20, 30, false}, {"a (not recovered)", 40, 60, true}}
	if len(got) != len(want) {
		t.Fatalf("got %d windows %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		if g := got[i]; g.Label != w.label || g.X != w.x || g.W != w.w || g.Open != w.open {
			t.Errorf("window %d = %q x=%v w=%v open=%v, want %+v", i, g.Label, g.X, g.W, g.Open, w)
		}
	}
}

func TestShortDur(t *testing.T) {
	for in, want := range map[float64]string{0: "0s", 0.25: "250ms", 4.5: "4.5s", 900: "15m", 5400: "1h30m", 3600: "1h", 14400: "4h", 150: "2m30s"} {
		if got := shortDur(seconds(in)); got != want {
			t.Errorf("shortDur(%vs) = %q, want %q", in, got, want)
		}
	}
}

func secondsOf(s int) time.Duration { return time.Duration(s) * time.Second }

func TestValueScaleTicksAreRound(t *testing.T) {
	s := newValueScale(0.7, box{H: 100}, niceStep, rateLabel)
	var got []string
	for _, tk := range s.ticks {
		got = append(got, tk.Label)
	}
	if want := "0 0.2 0.4 0.6 0.8"; strings.Join(got, " ") != want {
		t.Errorf("ticks %q, want %q", strings.Join(got, " "), want)
	}
	if y := s.y(s.top); y != 0 {
		t.Errorf("the top of the scale maps to y=%v, want the top of the plot", y)
	}
}

func TestMarkerLabelsOfCloseEventsStack(t *testing.T) {
	ev := func(svc int, name string) history.Op {
		return history.Op{Kind: history.Event, Type: history.Info, Key: name, Service: secondsOf(svc)}
	}
	h := history.History{Scale: 1, Ops: []history.Op{
		ev(0, history.EvPhase),
		ev(10, history.EvFailoverStart),
		ev(11, history.EvFailoverDone), // 10 px on from the start: labels would overlap
		ev(50, history.EvFailbackStart),
		ev(100, history.EvPhase),
	}}
	m := newTimeline(h, box{W: 1000, H: 300}).markers(h)
	if len(m) != 3 {
		t.Fatalf("got %d markers, want 3", len(m))
	}
	if m[1].LabelY <= m[0].LabelY+float64(len(m[0].Label))*charWidth {
		t.Errorf("label of %s at y=%v overlaps the one of %s at y=%v", m[1].Label, m[1].LabelY, m[0].Label, m[0].LabelY)
	}
	if m[2].LabelY != m[0].LabelY {
		t.Errorf("label of a marker far from the others moved to y=%v", m[2].LabelY)
	}
}
