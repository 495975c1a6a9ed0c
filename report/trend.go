package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Trend prints the saved runs in dirs side by side as a plain-text table: a
// row per check (in the order the runs first name them), a column per run,
// each cell the check's verdict and, for a check with a figure or a budget,
// its observed service time. The first row is
// each run's overall verdict; the runs are listed with their folders below.
func Trend(w io.Writer, dirs []string) error {
	if len(dirs) == 0 {
		return fmt.Errorf("trend: no run folders given")
	}
	runs := make([]Result, len(dirs))
	var names []string
	seen := map[string]bool{}
	for i, dir := range dirs {
		r, err := ReadResult(dir)
		if err != nil {
			return fmt.Errorf("trend: %w", err)
		}
		runs[i] = r
		for _, c := range r.Checks {
			if !seen[c.Name] {
				seen[c.Name] = true
				names = append(names, c.Name)
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }
	head := []string{"check"}
	overall := []string{"(run)"}
	for i, r := range runs {
		head = append(head, fmt.Sprintf("#%d %s seed=%d", i+1, r.Scenario, r.Seed))
		overall = append(overall, string(r.Verdict))
	}
	row(head...)
	row(overall...)
	for _, name := range names {
		cells := []string{name}
		for _, r := range runs {
			cell := "-"
			if c := findCheck(r.Checks, name); c != nil {
				cell = string(c.Verdict)
				if c.ObservedServiceS != 0 || c.BudgetServiceS != 0 {
					cell += " " + shortDur(seconds(c.ObservedServiceS))
				}
			}
			cells = append(cells, cell)
		}
		row(cells...)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("trend: %w", err)
	}
	for i, dir := range dirs {
		if _, err := fmt.Fprintf(w, "#%d %s\n", i+1, dir); err != nil {
			return fmt.Errorf("trend: %w", err)
		}
	}
	return nil
}
