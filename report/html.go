package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/history"
)

//go:embed report.html.tmpl
var pageTemplateText string

var pageTemplate = template.Must(template.New("report.html").Funcs(template.FuncMap{
	"n":    func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"add":  func(a, b float64) float64 { return a + b },
	"half": func(a float64) float64 { return a / 2 },
}).Parse(pageTemplateText))

// maxLostShown caps the lost writes listed under one check; the rest are counted.
const maxLostShown = 50

// page is what report.html shows.
type page struct {
	R                   Result
	Scale               float64
	RunService, RunWall string
	Started, Ended      string
	Throughput, Lag     timeChart
	Objectives          barChart
	Checks              []checkRow
	Knobs               []knob
}

type knob struct{ Name, Value string }

// checkRow is one row of the table of checks.
type checkRow struct {
	Name, Verdict, Explanation string
	Observed, Budget, Noise    string
	TooClose                   bool
	LostCount                  int
	Lost                       []lostRow
	MoreLost                   int
	Ops                        string
}

type lostRow struct {
	Key, Kind, Region, Instance, Ack string
}

// WriteHTML writes report.html: one self-contained page with inline SVG charts
// drawn from the history, and the table of checks.
func WriteHTML(w io.Writer, r Result, h history.History) error {
	scale := h.Scale
	if scale <= 0 {
		scale = r.TimeScale
	}
	p := page{
		R: r, Scale: scale,
		RunService: shortDur(seconds(r.ServiceS)), RunWall: shortDur(seconds(r.WallS)),
		Started: stamp(r.Started), Ended: stamp(r.Ended),
		Throughput: throughputChart(h),
		Lag:        lagChart(h, findCheck(r.Checks, "rpo")),
		Objectives: objectivesChart(r.Checks, scale),
	}
	for _, c := range r.Checks {
		p.Checks = append(p.Checks, newCheckRow(c, scale))
	}
	for k, v := range r.Knobs {
		p.Knobs = append(p.Knobs, knob{k, v})
	}
	sort.Slice(p.Knobs, func(i, j int) bool { return p.Knobs[i].Name < p.Knobs[j].Name })
	if err := pageTemplate.Execute(w, p); err != nil {
		return fmt.Errorf("render report.html: %w", err)
	}
	return nil
}

func newCheckRow(c assertions.Result, scale float64) checkRow {
	row := checkRow{
		Name: c.Name, Verdict: string(c.Verdict), Explanation: c.Explanation,
		Observed: "—", Budget: "—", Noise: "—", LostCount: c.LostCount, TooClose: c.TooClose,
	}
	if c.NoiseServiceS > 0 {
		row.Noise = serviceAndWall(c.NoiseServiceS, c.NoiseWallS, scale)
	}
	if c.ObservedServiceS != 0 || c.BudgetServiceS != 0 {
		row.Observed = serviceAndWall(c.ObservedServiceS, c.ObservedWallS, scale)
	}
	if c.BudgetServiceS != 0 {
		row.Budget = serviceAndWall(c.BudgetServiceS, c.BudgetWallS, scale)
	}
	for i, l := range c.Lost {
		if i == maxLostShown {
			row.MoreLost = len(c.Lost) - i
			break
		}
		row.Lost = append(row.Lost, lostRow{
			Key: l.Key, Kind: l.Kind, Region: l.Region, Instance: l.Instance,
			Ack: fmt.Sprintf("%s service, %s", shortDur(l.AckSvc), stamp(l.AckWall)),
		})
	}
	ops := make([]string, len(c.Ops))
	for i, o := range c.Ops {
		ops[i] = strconv.Itoa(o)
	}
	row.Ops = strings.Join(ops, ", ")
	return row
}

// stamp renders a wall instant in UTC with milliseconds, or "—" when unset.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
}
