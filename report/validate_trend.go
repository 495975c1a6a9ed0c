package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// ValidationTrend prints many saved validations (bcdr validate folders)
// over time as a plain-text table: a row per promise (in the map's order
// as the validations name them), a column per validation, oldest first,
// each cell the promise's verdict and its worst figure (the figure check's
// worst observed service time, else the lost writes or the worst count of
// violations). The first row is each validation's verdict; the folders
// are listed below with their provider and seeds.
func ValidationTrend(w io.Writer, dirs []string) error {
	if len(dirs) == 0 {
		return fmt.Errorf("trend: no validation folders given")
	}
	type saved struct {
		dir string
		v   Validation
	}
	vals := make([]saved, len(dirs))
	for i, dir := range dirs {
		v, err := ReadValidation(dir)
		if err != nil {
			return fmt.Errorf("trend: %w", err)
		}
		vals[i] = saved{dir, v}
	}
	sort.SliceStable(vals, func(i, j int) bool { return vals[i].v.Started.Before(vals[j].v.Started) })
	var ids []string
	seen := map[string]bool{}
	for _, s := range vals {
		for _, p := range s.v.Promises {
			if !seen[p.ID] {
				seen[p.ID] = true
				ids = append(ids, p.ID)
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")) }
	head, overall := []string{"promise (worst)"}, []string{"(validation)"}
	for i, s := range vals {
		head = append(head, fmt.Sprintf("#%d %s", i+1, s.v.Started.UTC().Format("2006-01-02 15:04")))
		overall = append(overall, fmt.Sprintf("%s %d/%d held", s.v.Verdict, s.v.Held, len(s.v.Promises)))
	}
	row(head...)
	row(overall...)
	for _, id := range ids {
		cells := []string{id}
		for _, s := range vals {
			cells = append(cells, worstCell(s.v, id))
		}
		row(cells...)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("trend: %w", err)
	}
	for i, s := range vals {
		if _, err := fmt.Fprintf(w, "#%d %s (%s provider, seeds %s, %d runs)\n", i+1, s.dir, s.v.Environment.Provider, seedList(s.v.Seeds), len(s.v.Runs)); err != nil {
			return fmt.Errorf("trend: %w", err)
		}
	}
	return nil
}

// worstCell is a promise's verdict and worst figure in one validation.
func worstCell(v Validation, id string) string {
	for _, p := range v.Promises {
		if p.ID != id {
			continue
		}
		cell := string(p.Verdict)
		switch {
		case p.Worst != nil:
			cell += " " + p.Worst.Text
		case p.Lost > 0:
			cell += fmt.Sprintf(" %d lost", p.Lost)
		case p.Violations > 0:
			cell += fmt.Sprintf(" %d violations", p.Violations)
		}
		return cell
	}
	return "-"
}
