package report

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
)

// Geometry shared by the charts, in SVG user units (pixels at 100% zoom).
const (
	chartWidth   = 1200.0
	chartHeight  = 340.0
	marginLeft   = 78.0
	marginRight  = 24.0
	marginTop    = 34.0 // the legend row
	marginBottom = 62.0 // tick labels in service and wall time, then the axis title
	charWidth    = 6.4  // rough width of one character at the 11px chart font
)

// box is a rectangle in chart coordinates.
type box struct{ X, Y, W, H float64 }

// Bottom is the y coordinate of the box's lower edge.
func (b box) Bottom() float64 { return b.Y + b.H }

// Right is the x coordinate of the box's right edge (report.html.tmpl
// reads it: no Go code calls it).
func (b box) Right() float64 { return b.X + b.W }

func plotBox() box {
	return box{X: marginLeft, Y: marginTop, W: chartWidth - marginLeft - marginRight, H: chartHeight - marginTop - marginBottom}
}

// xTick is a tick on a time axis, labelled in service and in wall time.
type xTick struct {
	X             float64
	Service, Wall string
}

// yTick is a tick on a value axis.
type yTick struct {
	Y     float64
	Label string
}

// band shades a fault window.
type band struct {
	X, W, LabelY float64
	Label        string
	Title        string // hover text: the fault and its times
	Open         bool   // the fault was never recovered
}

// marker is a vertical line at a runbook event.
type marker struct {
	X, LabelY    float64
	Label, Title string
	Class        string
}

// series is one line of a chart.
type series struct {
	Name, Class string
	Points      string // SVG polyline points
}

// hline is a horizontal budget line.
type hline struct {
	Y     float64
	Label string
}

// legendItem is one entry of a chart's legend; Shape is "line" or "band".
type legendItem struct {
	X            float64
	Name, Class  string
	Shape        string
	TextX, LineE float64
}

// timeChart is a chart over service time, with fault windows and runbook events.
type timeChart struct {
	Title, YLabel, XLabel string
	// Empty, when set, replaces the lines with a message.
	Empty   string
	Note    string
	W, H    float64
	Plot    box
	XTicks  []xTick
	YTicks  []yTick
	Bands   []band
	Markers []marker
	Series  []series
	Budget  *hline
	Legend  []legendItem
}

// timeline maps service time onto the x axis of a chart.
type timeline struct {
	from, to float64 // service seconds
	scale    float64 // service seconds per wall second
	plot     box
}

// newTimeline spans every operation of the history.
func newTimeline(h history.History, plot box) timeline {
	t := timeline{scale: h.Scale, plot: plot}
	if t.scale <= 0 {
		t.scale = 1
	}
	for i, op := range h.Ops {
		s := op.Service.Seconds()
		if i == 0 || s < t.from {
			t.from = s
		}
		if i == 0 || s > t.to {
			t.to = s
		}
	}
	t.from = math.Min(t.from, 0)
	if t.to <= t.from {
		t.to = t.from + 1
	}
	return t
}

// x is the chart coordinate of a service time in seconds.
func (t timeline) x(s float64) float64 {
	return t.plot.X + (s-t.from)/(t.to-t.from)*t.plot.W
}

// ticks labels the axis at round service durations, with the wall time below.
func (t timeline) ticks() []xTick {
	step := niceDurationStep((t.to - t.from) / 10)
	var out []xTick
	first := math.Ceil(t.from / step)
	for i := 0.0; (first+i)*step <= t.to+step*1e-9; i++ {
		v := (first + i) * step
		out = append(out, xTick{X: t.x(v), Service: shortDur(seconds(v)), Wall: shortDur(seconds(v/t.scale)) + " wall"})
	}
	return out
}

// at describes a service instant for hover text.
func (t timeline) at(s float64) string {
	return fmt.Sprintf("%s service (%s wall)", shortDur(seconds(s)), shortDur(seconds(s/t.scale)))
}

// faultWindows pairs every fault-injected event with the next fault-recovered
// event of the same fault; a fault never recovered lasts to the end of the run.
func (t timeline) faultWindows(h history.History) []band {
	type window struct {
		name     string
		from, to float64
		open     bool
	}
	var windows []*window
	open := map[string][]*window{}
	for _, op := range h.Ops {
		if op.Kind != history.Event {
			continue
		}
		name := faultName(op)
		switch op.Key {
		case history.EvFaultInjected:
			w := &window{name: name, from: op.Service.Seconds(), to: t.to, open: true}
			windows = append(windows, w)
			open[name] = append(open[name], w)
		case history.EvFaultRecovered:
			if q := open[name]; len(q) > 0 {
				q[0].to, q[0].open = op.Service.Seconds(), false
				open[name] = q[1:]
			}
		}
	}
	out := make([]band, 0, len(windows))
	for i, w := range windows {
		b := band{
			X: t.x(w.from), W: math.Max(t.x(w.to)-t.x(w.from), 1),
			LabelY: t.plot.Y + 14 + float64(i%4)*14,
			Label:  w.name, Open: w.open,
			Title: fmt.Sprintf("fault %s: injected at %s, recovered at %s", w.name, t.at(w.from), t.at(w.to)),
		}
		if w.open {
			b.Label += " (not recovered)"
			b.Title = fmt.Sprintf("fault %s: injected at %s, never recovered", w.name, t.at(w.from))
		}
		out = append(out, b)
	}
	return out
}

// faultName is the fault an event names, or "fault" when it names none.
func faultName(op history.Op) string {
	if s, ok := op.Value["fault"].(string); ok && s != "" {
		return s
	}
	return "fault"
}

// markedEvents are the runbook events drawn as vertical lines, with their CSS class.
var markedEvents = map[string]string{
	history.EvOutageDetected: "ev-outage",
	history.EvFailoverStart:  "ev-failover ev-start",
	history.EvFailoverDone:   "ev-failover",
	history.EvFailbackStart:  "ev-failback ev-start",
	history.EvFailbackDone:   "ev-failback",
}

// markers draws the failover, failback and outage-detected events. Labels of
// events too close to tell apart are stacked down the plot.
func (t timeline) markers(h history.History) []marker {
	var out []marker
	for _, op := range h.Ops {
		class, ok := markedEvents[op.Key]
		if op.Kind != history.Event || !ok {
			continue
		}
		s := op.Service.Seconds()
		out = append(out, marker{X: t.x(s), Label: op.Key, Class: class, Title: op.Key + " at " + t.at(s)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].X < out[j].X })
	for i := range out {
		out[i].LabelY = t.plot.Y + 64
		if i > 0 && out[i].X-out[i-1].X < 13 {
			out[i].LabelY = out[i-1].LabelY + float64(len(out[i-1].Label))*charWidth + 10
		}
	}
	return out
}

// legend lays out legend entries left to right above the plot.
func legend(plot box, items ...legendItem) []legendItem {
	x := plot.X
	for i := range items {
		items[i].X = x
		items[i].LineE = x + 22
		items[i].TextX = x + 28
		x = items[i].TextX + float64(len(items[i].Name))*charWidth + 22
	}
	return items
}

// markerFamilies name the legend entry of each kind of vertical line; a
// start is drawn dashed and its done solid in the same colour.
var markerFamilies = []struct{ class, name string }{
	{"ev-outage", "outage detected"},
	{"ev-failover", "failover"},
	{"ev-failback", "failback"},
}

// decorations are the legend entries every time chart shares: the fault
// window and one entry per kind of vertical line present.
func decorations(bands []band, markers []marker) []legendItem {
	var out []legendItem
	if len(bands) > 0 {
		out = append(out, legendItem{Name: "fault window", Class: "fault-window", Shape: "band"})
	}
	for _, f := range markerFamilies {
		for _, m := range markers {
			if strings.HasPrefix(m.Class, f.class) {
				out = append(out, legendItem{Name: f.name, Class: "marker " + f.class, Shape: "line"})
				break
			}
		}
	}
	return out
}

// newTimeChart starts a chart over the history's service time.
func newTimeChart(h history.History, title, ylabel string) (timeChart, timeline) {
	plot := plotBox()
	t := newTimeline(h, plot)
	c := timeChart{
		Title: title, YLabel: ylabel,
		XLabel: "service time (wall time below), from the start of the run",
		W:      chartWidth, H: chartHeight, Plot: plot,
		XTicks: t.ticks(), Bands: t.faultWindows(h), Markers: t.markers(h),
	}
	return c, t
}

// throughputChart draws acknowledged writes per wall second and write errors
// (fail and unknown) over service time, bucketed by completion time.
func throughputChart(h history.History) timeChart {
	c, t := newTimeChart(h, "Writes per second and errors", "writes per wall second")
	step := niceDurationStep((t.to - t.from) / 80)
	// A last bucket shorter than half a step would make a noisy rate: it is
	// merged into the one before, which may then span up to one and a half steps.
	n := max(1, int(math.Round((t.to-t.from)/step)))
	ok, errs := make([]float64, n), make([]float64, n)
	writes := 0
	for _, cp := range h.Completions() {
		if !cp.Invoke.Kind.IsWrite() {
			continue
		}
		writes++
		i := min(n-1, int((cp.Result.Service.Seconds()-t.from)/step))
		if cp.Result.Type == history.OK {
			ok[i]++
		} else {
			errs[i]++
		}
	}
	bucketStart := func(i int) float64 {
		if i >= n {
			return t.to
		}
		return t.from + float64(i)*step
	}
	top := 0.0
	for i := range ok {
		perWallSecond := t.scale / (bucketStart(i+1) - bucketStart(i))
		ok[i] *= perWallSecond
		errs[i] *= perWallSecond
		top = math.Max(top, math.Max(ok[i], errs[i]))
	}
	ys := newValueScale(top, c.Plot, niceStep, rateLabel)
	c.YTicks = ys.ticks
	bucketX := func(i int) float64 { return t.x(bucketStart(i)) }
	c.Series = []series{
		{Name: "acknowledged writes", Class: "s-ok", Points: stepPoints(ok, bucketX, ys.y)},
		{Name: "errors (fail + unknown)", Class: "s-err", Points: stepPoints(errs, bucketX, ys.y)},
	}
	c.Note = fmt.Sprintf("Writes counted by completion time in buckets of %s service (%s wall). %s", shortDur(seconds(step)), shortDur(seconds(step/t.scale)), markerNote)
	if writes == 0 {
		c.Empty = "no client writes recorded"
	}
	c.Legend = legend(c.Plot, append([]legendItem{
		{Name: c.Series[0].Name, Class: "s-ok", Shape: "line"},
		{Name: c.Series[1].Name, Class: "s-err", Shape: "line"},
	}, decorations(c.Bands, c.Markers)...)...)
	return c
}

// rateLabel prints a rate tick without float noise (0.6, not 0.6000000000000001).
func rateLabel(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// markerNote explains the vertical lines under every time chart.
const markerNote = "Vertical lines: dashed where a failover or failback starts, solid where it is done."

// stepPoints draws bucketed values as a step line.
func stepPoints(vals []float64, x func(int) float64, y func(float64) float64) string {
	var b strings.Builder
	for i, v := range vals {
		fmt.Fprintf(&b, "%.1f,%.1f %.1f,%.1f ", x(i), y(v), x(i+1), y(v))
	}
	return strings.TrimSpace(b.String())
}

// lagChart draws the SQL and blob replication lag samples against the RPO budget.
func lagChart(h history.History, rpo *assertions.Result) timeChart {
	c, t := newTimeChart(h, "Replication lag against the RPO budget", "lag (service time)")
	samples := h.Events(history.EvLag)
	top := 0.0
	for _, op := range samples {
		top = math.Max(top, math.Max(number(op.Value["sql_lag_s"]), number(op.Value["blob_lag_s"])))
	}
	if rpo != nil {
		top = math.Max(top, rpo.BudgetServiceS)
	}
	ys := newValueScale(top, c.Plot, niceDurationStep, func(v float64) string { return shortDur(seconds(v)) })
	c.YTicks = ys.ticks
	line := func(field string) string {
		var b strings.Builder
		for _, op := range samples {
			if v, ok := op.Value[field]; ok {
				fmt.Fprintf(&b, "%.1f,%.1f ", t.x(op.Service.Seconds()), ys.y(number(v)))
			}
		}
		return strings.TrimSpace(b.String())
	}
	c.Series = []series{
		{Name: "SQL lag", Class: "s-sql", Points: line("sql_lag_s")},
		{Name: "blob lag", Class: "s-blob", Points: line("blob_lag_s")},
	}
	items := []legendItem{
		{Name: "SQL lag", Class: "s-sql", Shape: "line"},
		{Name: "blob lag", Class: "s-blob", Shape: "line"},
	}
	if rpo != nil && rpo.BudgetServiceS > 0 {
		c.Budget = &hline{Y: ys.y(rpo.BudgetServiceS), Label: "RPO budget " + shortDur(seconds(rpo.BudgetServiceS))}
		items = append(items, legendItem{Name: "RPO budget", Class: "budget", Shape: "line"})
	} else {
		c.Note = "No RPO budget in this run: the run has no check named \"rpo\". "
	}
	c.Note += markerNote
	if len(samples) == 0 {
		c.Empty = "no replication lag samples recorded"
	}
	c.Legend = legend(c.Plot, append(items, decorations(c.Bands, c.Markers)...)...)
	return c
}

// number reads a numeric event detail, whether it was recorded in memory or
// decoded from JSON; anything else reads as zero.
func number(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case float32:
		return float64(n)
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case time.Duration:
		return n.Seconds()
	}
	return 0
}

// valueScale maps values onto the y axis of a plot, from zero up to a round top.
type valueScale struct {
	top   float64
	plot  box
	ticks []yTick
}

func newValueScale(max float64, plot box, stepFor func(float64) float64, label func(float64) string) valueScale {
	if max <= 0 {
		max = 1
	}
	step := stepFor(max / 5)
	s := valueScale{top: math.Ceil(max*1.05/step) * step, plot: plot}
	for i := 0.0; i*step <= s.top+step*1e-9; i++ {
		v := i * step
		s.ticks = append(s.ticks, yTick{Y: s.y(v), Label: label(v)})
	}
	return s
}

func (s valueScale) y(v float64) float64 { return s.plot.Bottom() - v/s.top*s.plot.H }

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// durationSteps are the round steps, in seconds, of a time axis.
var durationSteps = []float64{1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400}

// niceDurationStep rounds a raw step in seconds up to a round duration.
func niceDurationStep(raw float64) float64 {
	if raw < 1 {
		return niceStep(raw)
	}
	for _, s := range durationSteps {
		if raw <= s {
			return s
		}
	}
	return niceStep(raw/86400) * 86400
}

// seconds converts float seconds to a duration.
func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// shortDur renders a duration compactly: 15m, 1h30m, 4.5s, 250ms.
func shortDur(d time.Duration) string {
	s := clock.Round(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// barRow draws one objective's observed figure against its budget.
type barRow struct {
	Label, Verdict           string
	Y                        float64
	ObservedW, BudgetW       float64
	BudgetX                  float64
	ObservedText, BudgetText string
}

// barChart draws the RPO and RTO observed against their budgets, each row on
// its own scale (an RPO is minutes, an RTO hours).
type barChart struct {
	W, H, Left, Width float64
	Rows              []barRow
}

// objectivesChart draws the checks named "rpo" and "rto", when the run has them.
func objectivesChart(checks []assertions.Result, scale float64) barChart {
	const rowH, left = 96.0, 120.0
	c := barChart{W: chartWidth, Left: left, Width: chartWidth - left - 230}
	for _, name := range []string{"rpo", "rto"} {
		r := findCheck(checks, name)
		if r == nil {
			continue
		}
		top := math.Max(r.ObservedServiceS, r.BudgetServiceS)
		if top <= 0 {
			top = 1
		}
		w := func(s float64) float64 { return s / top * c.Width }
		c.Rows = append(c.Rows, barRow{
			Label: strings.ToUpper(name), Verdict: string(r.Verdict),
			Y:         float64(len(c.Rows))*rowH + 12,
			ObservedW: w(r.ObservedServiceS), BudgetW: w(r.BudgetServiceS), BudgetX: left + w(r.BudgetServiceS),
			ObservedText: "observed " + serviceAndWall(r.ObservedServiceS, r.ObservedWallS, scale),
			BudgetText:   "budget " + serviceAndWall(r.BudgetServiceS, r.BudgetWallS, scale),
		})
	}
	c.H = float64(len(c.Rows))*rowH + 12
	return c
}

// findCheck returns the check with the name, or nil.
func findCheck(checks []assertions.Result, name string) *assertions.Result {
	for i := range checks {
		if checks[i].Name == name {
			return &checks[i]
		}
	}
	return nil
}

// serviceAndWall renders a figure in service time with its wall equivalent;
// the wall figure is derived from the scale when the check left it out.
func serviceAndWall(serviceS, wallS, scale float64) string {
	if wallS == 0 && scale > 0 {
		wallS = serviceS / scale
	}
	return fmt.Sprintf("%s (%s wall)", shortDur(seconds(serviceS)), shortDur(seconds(wallS)))
}
