package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/harness"
)

const checkUsage = `Usage: bcdr check DIR

Judges a saved run again from its files alone: history.jsonl (every operation)
and evidence.json (the budgets, the checks the run was judged by, and the data
snapshots they read), by the same code the drill judged it with; the timing
noise is measured again from the history. Prints each check's saved and
re-judged verdict and figure (observed, service time), then "every verdict is
the same" or each difference (verdict, figure or noise band).

Exit codes (those of bcdr drill, for the re-judged verdict): 0 pass, 1 a check
failed, 2 could not tell; 254 DIR is not a run folder or has no evidence.json.
`

func cmdCheck(args []string, w io.Writer) (int, error) {
	if wantsHelp(args, w, checkUsage) {
		return exitPass, errHelp
	}
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return exitUsage, usagef("usage: bcdr check DIR (a directory written by bcdr drill)")
	}
	dir := args[0]
	if err := isRunDir(dir); err != nil {
		return exitUsage, err
	}
	rj, err := harness.Rejudge(dir)
	if err != nil {
		// Rejudge only reads the folder: whatever it cannot read is bad input.
		return exitUsage, usagef("check: %v", err)
	}
	saved, again := rj.Saved, rj.Again
	fmt.Fprintf(w, "%s: saved %s, re-judged %s  (%s, seed %d, scale %g)\n", dir, strings.ToUpper(string(saved.Verdict)),
		strings.ToUpper(string(again.Verdict)), saved.Scenario, saved.Seed, saved.TimeScale)
	if again.Reason != "" {
		fmt.Fprintf(w, "  re-judged reason: %s\n", again.Reason)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  CHECK\tSAVED\tFIGURE\tRE-JUDGED\tFIGURE\n")
	figure := func(r assertions.Result) string {
		if r.ObservedServiceS == 0 && r.BudgetServiceS == 0 {
			return "-"
		}
		return clock.Round(time.Duration(r.ObservedServiceS * float64(time.Second))).String()
	}
	names := map[string]bool{}
	var order []string
	for _, c := range saved.Checks {
		names[c.Name] = true
		order = append(order, c.Name)
	}
	for _, c := range again.Checks {
		if !names[c.Name] {
			order = append(order, c.Name)
		}
	}
	for _, n := range order {
		sv, sf, av, af := "-", "-", "-", "-"
		for _, c := range saved.Checks {
			if c.Name == n {
				sv, sf = string(c.Verdict), figure(c)
			}
		}
		for _, c := range again.Checks {
			if c.Name == n {
				av, af = string(c.Verdict), figure(c)
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", n, sv, sf, av, af)
	}
	tw.Flush()
	if len(rj.Differences) == 0 {
		fmt.Fprintln(w, "every verdict is the same (and every figure)")
	} else {
		fmt.Fprintf(w, "%d differences:\n", len(rj.Differences))
		for _, d := range rj.Differences {
			fmt.Fprintf(w, "  %s\n", d)
		}
		for _, c := range again.Checks {
			if s, ok := savedCheck(saved.Checks, c.Name); ok && s.Verdict != c.Verdict {
				fmt.Fprintf(w, "  %s re-judged: %s\n", c.Name, c.Explanation)
			}
		}
	}
	switch again.Verdict {
	case assertions.Pass:
		return exitPass, nil
	case assertions.Fail:
		return exitFail, nil
	}
	return exitUnknown, nil
}

func savedCheck(rs []assertions.Result, name string) (assertions.Result, bool) {
	for _, r := range rs {
		if r.Name == name {
			return r, true
		}
	}
	return assertions.Result{}, false
}
