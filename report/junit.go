package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/bcdr-harness/bcdr/assertions"
)

// The JUnit XML schema as CI servers read it (the Jenkins / Ant dialect).
type (
	junitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Time     string       `xml:"time,attr"`
		Suites   []junitSuite `xml:"testsuite"`
	}
	junitSuite struct {
		Name       string          `xml:"name,attr"`
		Tests      int             `xml:"tests,attr"`
		Failures   int             `xml:"failures,attr"`
		Errors     int             `xml:"errors,attr"`
		Skipped    int             `xml:"skipped,attr,omitempty"`
		Time       string          `xml:"time,attr"`
		Timestamp  string          `xml:"timestamp,attr,omitempty"`
		Properties []junitProperty `xml:"properties>property"`
		Cases      []junitCase     `xml:"testcase"`
		SystemOut  string          `xml:"system-out,omitempty"`
	}
	junitProperty struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	junitCase struct {
		Classname string        `xml:"classname,attr"`
		Name      string        `xml:"name,attr"`
		Time      string        `xml:"time,attr"`
		Failure   *junitProblem `xml:"failure,omitempty"`
		Error     *junitProblem `xml:"error,omitempty"`
		Skipped   *junitSkipped `xml:"skipped,omitempty"`
	}
	junitSkipped struct {
		Message string `xml:"message,attr"`
	}
	junitProblem struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",chardata"`
	}
)

// WriteJUnit writes junit.xml: one test suite named bcdr.<scenario> with one
// test case per check. A failing check carries a <failure> with its
// explanation; a check that could not tell (unknown) carries an <error>, so CI
// shows it rather than hiding it as skipped. A run that ended before any check
// ran gets a single case named "run" with the run's verdict and reason. The checks are
// judged after the run, so a case's time is zero and the suite's time is the
// run's wall time.
func WriteJUnit(w io.Writer, r Result) error {
	class := "bcdr." + r.Scenario
	s := junitSuite{
		Name: class, Time: secondsAttr(r.WallS),
		Properties: junitProperties(r),
		SystemOut:  "replay: " + r.Replay,
	}
	if !r.Started.IsZero() {
		s.Timestamp = r.Started.UTC().Format("2006-01-02T15:04:05")
	}
	checks := r.Checks
	if len(checks) == 0 {
		checks = []assertions.Result{{Name: "run", Verdict: r.Verdict, Explanation: r.Reason}}
	}
	for _, c := range checks {
		tc := junitCase{Classname: class, Name: c.Name, Time: secondsAttr(0)}
		switch c.Verdict {
		case assertions.Pass:
		case assertions.Fail:
			tc.Failure = problem(c, r, "fail")
			s.Failures++
		default:
			tc.Error = problem(c, r, "unknown")
			s.Errors++
		}
		s.Cases = append(s.Cases, tc)
	}
	// A check the faults called for that the scenario dropped is shown as
	// skipped, so that CI says what the run was not judged by.
	for _, name := range r.SkippedChecks {
		s.Cases = append(s.Cases, junitCase{Classname: class, Name: name, Time: secondsAttr(0),
			Skipped: &junitSkipped{Message: "dropped by skip-checks: the faults call for this check but the scenario skips it"}})
		s.Skipped++
	}
	s.Tests = len(s.Cases)
	doc := junitSuites{Name: "bcdr", Tests: s.Tests, Failures: s.Failures, Errors: s.Errors, Time: s.Time, Suites: []junitSuite{s}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit.xml: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write junit.xml: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write junit.xml: %w", err)
	}
	return nil
}

func junitProperties(r Result) []junitProperty {
	props := []junitProperty{
		{"seed", strconv.FormatInt(r.Seed, 10)},
		{"time_scale", strconv.FormatFloat(r.TimeScale, 'g', -1, 64)},
		{"replay", r.Replay},
		{"scenario", r.Scenario},
		{"provider", r.Provider},
		{"sql_engine", r.SQLEngine},
		{"blob_engine", r.BlobEngine},
		{"verdict", string(r.Verdict)},
		{"faults", strings.Join(r.Faults, ",")},
		{"skipped_checks", strings.Join(r.SkippedChecks, ",")},
	}
	if n := r.Noise; n != nil {
		f := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
		props = append(props,
			junitProperty{"noise.timer_late_max_ms", f(n.TimerLateMaxMS)},
			junitProperty{"noise.pacing_late_max_ms", f(n.PacingLateMaxMS)},
			junitProperty{"noise.sampler_late_max_ms", f(n.SamplerLateMaxMS)},
			junitProperty{"noise.ship_wall_ms", f(n.ShipWallMS)},
			junitProperty{"noise.blob_round_wall_ms", f(n.BlobRoundWallMS)},
			junitProperty{"noise.request_wall_ms", f(n.RequestWallMS)},
			junitProperty{"noise.machine_wall_ms", f(n.MachineWallMS)},
			junitProperty{"noise.machine_wait_max_ms", f(n.MachineWaitMaxMS)},
			junitProperty{"noise.machine_wait_ms", f(n.MachineWaitMS)},
		)
	}
	if r.MachineScale > 0 {
		props = append(props, junitProperty{"machine_scale", strconv.FormatFloat(r.MachineScale, 'g', -1, 64)})
	}
	names := make([]string, 0, len(r.Knobs))
	for k := range r.Knobs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		props = append(props, junitProperty{"knob." + k, r.Knobs[k]})
	}
	return props
}

// problem is the <failure> or <error> of a check: the explanation as the
// message, and in the body the figures, the lost writes and the replay command.
func problem(c assertions.Result, r Result, kind string) *junitProblem {
	var b strings.Builder
	fmt.Fprintln(&b, c.Explanation)
	if c.ObservedServiceS != 0 || c.BudgetServiceS != 0 {
		fmt.Fprintf(&b, "observed %s, budget %s\n",
			serviceAndWall(c.ObservedServiceS, c.ObservedWallS, r.TimeScale),
			serviceAndWall(c.BudgetServiceS, c.BudgetWallS, r.TimeScale))
	}
	if c.LostCount > 0 {
		fmt.Fprintf(&b, "lost acknowledged writes: %d\n", c.LostCount)
	}
	for _, l := range c.Lost {
		fmt.Fprintf(&b, "  %s %s region=%s instance=%s acknowledged at %s service\n", l.Kind, l.Key, l.Region, l.Instance, shortDur(l.AckSvc))
	}
	fmt.Fprintf(&b, "replay: %s\n", r.Replay)
	return &junitProblem{Message: c.Explanation, Type: kind, Text: b.String()}
}

func secondsAttr(s float64) string { return strconv.FormatFloat(s, 'f', 3, 64) }
