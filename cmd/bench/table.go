package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"text/tabwriter"
	"time"
)

// unit says how a figure's values are printed.
type unit int

const (
	seconds   unit = iota // a duration, in seconds
	perSecond             // a rate
	ratio                 // a plain number
	size                  // bytes
)

// format renders v in the unit, short enough for one table cell.
func (u unit) format(v float64) string {
	switch u {
	case seconds:
		return formatSeconds(v)
	case perSecond:
		return fmt.Sprintf("%.0f/s", v)
	case ratio:
		return fmt.Sprintf("%.2f", v)
	case size:
		return fmt.Sprintf("%.0f MiB", v/(1<<20))
	}
	return fmt.Sprint(v)
}

// formatSeconds prints a duration with three significant figures at most.
func formatSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", s*1e6)
	case d < time.Second:
		return fmt.Sprintf("%.1fms", s*1e3)
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", s)
	}
	return fmt.Sprintf("%dm%02ds", int(s)/60, int(math.Round(s))%60)
}

// target is what a figure's median must meet: at most or at least Value.
type target struct {
	AtMost bool
	Value  float64
	// Note qualifies the target (e.g. "on 2 cores").
	Note string
}

// met tells whether v meets the target.
func (t target) met(v float64) bool {
	if t.AtMost {
		return v <= t.Value
	}
	return v >= t.Value
}

func (t target) String(u unit) string {
	op := ">="
	if t.AtMost {
		op = "<="
	}
	s := op + " " + u.format(t.Value)
	if t.Note != "" {
		s += " " + t.Note
	}
	return s
}

// figure is one row of the table: the values of every run that measured
// it, and its target (nil: shown for comparison only).
type figure struct {
	Name   string
	Unit   unit
	Target *target
	Values []float64
	// Runs is how many runs tried to measure it (0: not measured at all).
	Runs int
	// NotMeasured replaces the values when the figure was not asked for.
	NotMeasured string
}

// add records one run's value.
func (f *figure) add(v float64) { f.Values = append(f.Values, v); f.Runs++ }

// miss records a run that tried and could not measure it.
func (f *figure) miss() { f.Runs++ }

// summary is the median, min and max of values (ok false for none).
func summary(values []float64) (median, min, max float64, ok bool) {
	if len(values) == 0 {
		return 0, 0, 0, false
	}
	s := append([]float64(nil), values...)
	sort.Float64s(s)
	n := len(s)
	median = s[n/2]
	if n%2 == 0 {
		median = (s[n/2-1] + s[n/2]) / 2
	}
	return median, s[0], s[n-1], true
}

// verdict is the MET cell: yes or no for the median against the target,
// "-" without a target, "unknown" without a value.
func (f *figure) verdict() string {
	if f.Target == nil {
		return "-"
	}
	m, _, _, ok := summary(f.Values)
	if !ok {
		return "unknown"
	}
	if f.Target.met(m) {
		return "yes"
	}
	return "no"
}

// header is what the table says about the conditions it was measured in.
type header struct {
	Runs     int
	Cores    int
	Provider string
	Scale    float64
	Go       string
	Started  time.Time
	Note     string
}

// writeTable prints the figures as one table.
func writeTable(w io.Writer, h header, figs []*figure) error {
	fmt.Fprintf(w, "bcdr bench: %d run(s), %s provider, scale %g, %d cores, %s, %s\n",
		h.Runs, h.Provider, h.Scale, h.Cores, h.Go, h.Started.UTC().Format("2006-01-02 15:04 UTC"))
	if h.Note != "" {
		fmt.Fprintf(w, "  %s\n", h.Note)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tMEDIAN\tMIN\tMAX\tRUNS\tTARGET\tMET")
	for _, f := range figs {
		tgt := "-"
		if f.Target != nil {
			tgt = f.Target.String(f.Unit)
		}
		if f.NotMeasured != "" {
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t%s\t%s\n", f.Name, f.NotMeasured, tgt, "-")
			continue
		}
		m, lo, hi, ok := summary(f.Values)
		runs := fmt.Sprintf("%d/%d", len(f.Values), f.Runs)
		if !ok {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Name, "no value", "-", "-", runs, tgt, f.verdict())
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Name, f.Unit.format(m), f.Unit.format(lo), f.Unit.format(hi), runs, tgt, f.verdict())
	}
	return tw.Flush()
}
