package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/report"
)

// setFlags collects repeated --set name=value.
type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

func drillUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, `Usage: bcdr drill NAME [--seed N] [--scale S] [--set knob=value ...] [--out DIR]

Runs a built-in drill (bcdr scenarios lists them) on the environment the
provider knob selects (default: local processes, no Docker), prints each
check's observed value against its budget, and writes DIR/result.json,
history.jsonl, junit.xml and report.html.

Flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nKnobs (--set name=value; durations are service time, e.g. 15m, 4h):\n")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	def := harness.DefaultScenario()
	for _, k := range harness.Knobs() {
		v, _ := def.Get(k.Name)
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", k.Name, v, k.Help)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nEnvironment: BCDR_PROVIDER overrides the provider knob's default.\n")
}

func cmdDrill(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	seed := fs.Int64("seed", -1, "seed of every random choice (default: the scenario's)")
	scale := fs.Float64("scale", 0, "time scale, service seconds per wall second (default: the scenario's, 200)")
	out := fs.String("out", "", "output directory (default runs/NAME-SEED-TIME)")
	quiet := fs.Bool("quiet", false, "print only the summary")
	var sets setFlags
	fs.Var(&sets, "set", "knob=value, repeatable (see the knob list below)")
	name := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			drillUsage(stdout, fs)
			return exitPass, nil
		}
		return exitUsage, usagef("drill: %v", err)
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return exitUsage, usagef("drill: unexpected argument %q", fs.Arg(0))
	}
	if name == "" {
		return exitUsage, usagef("drill: name a scenario (bcdr scenarios lists them)")
	}
	sc, ok := harness.Builtin(name)
	if !ok {
		return exitUsage, usagef("drill: unknown scenario %q (bcdr scenarios lists them)", name)
	}
	base := sc
	if p := os.Getenv("BCDR_PROVIDER"); p != "" {
		sets = append(setFlags{"provider=" + p}, sets...)
	}
	if err := sc.SetAll(sets); err != nil {
		return exitUsage, err
	}
	if *seed >= 0 {
		sc.Seed = *seed
	}
	if *scale != 0 {
		if err := sc.Set("time-scale", fmt.Sprint(*scale)); err != nil {
			return exitUsage, err
		}
	}
	if err := harness.Validate(sc); err != nil {
		return exitUsage, err
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("runs", fmt.Sprintf("%s-%d-%s", sc.Name, sc.Seed, time.Now().Format("20060102-150405")))
	}
	start := time.Now()
	logf := func(format string, args ...any) {
		if !*quiet {
			fmt.Fprintf(stderr, "%s +%5.1fs  %s\n", time.Now().Format("15:04:05"), time.Since(start).Seconds(), fmt.Sprintf(format, args...))
		}
	}
	logf("drill %s seed %d scale %g provider %s", sc.Name, sc.Seed, sc.Scale, sc.Spec.Provider)
	outcome, runErr := harness.Run(ctx, sc, harness.Options{Logf: logf, Base: &base})
	if outcome == nil {
		return exitInternal, runErr
	}
	if err := report.WriteAll(dir, outcome.Result, outcome.History); err != nil {
		return exitInternal, fmt.Errorf("write results: %w", err)
	}
	printSummary(stdout, outcome.Result, dir)
	if runErr != nil {
		fmt.Fprintln(stderr, "bcdr: drill did not finish:", runErr)
		return exitUnknown, nil
	}
	switch outcome.Result.Verdict {
	case assertions.Pass:
		return exitPass, nil
	case assertions.Fail:
		return exitFail, nil
	}
	return exitUnknown, nil
}

func printSummary(w io.Writer, r report.Result, dir string) {
	clk := &clock.Clock{Scale: r.TimeScale}
	fmt.Fprintf(w, "\n%s: %s  (seed %d, %s provider, %s, scale %g, %.1fs wall)\n", r.Scenario, strings.ToUpper(string(r.Verdict)),
		r.Seed, r.Provider, r.SQLEngine, r.TimeScale, r.WallS)
	if r.Reason != "" {
		fmt.Fprintf(w, "  reason: %s\n", r.Reason)
	}
	fmt.Fprintf(w, "  workload: %d acknowledged writes, %d failed, %d unknown\n",
		r.Workload.AcknowledgedWrites, r.Workload.Failed, r.Workload.Unknown)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  CHECK\tVERDICT\tOBSERVED\tBUDGET\tLOST\n")
	for _, c := range r.Checks {
		obs, bud := "-", "-"
		if c.ObservedServiceS != 0 || c.BudgetServiceS != 0 {
			obs = clk.Format(time.Duration(c.ObservedServiceS * float64(time.Second)))
			bud = clk.Format(time.Duration(c.BudgetServiceS * float64(time.Second)))
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\n", c.Name, c.Verdict, obs, bud, c.LostCount)
	}
	tw.Flush()
	for _, c := range r.Checks {
		if c.Verdict != assertions.Pass {
			fmt.Fprintf(w, "  %s: %s\n", c.Name, c.Explanation)
		}
	}
	fmt.Fprintf(w, "  results: %s\n  replay:  %s\n", dir, r.Replay)
}

func cmdScenarios(args []string, w io.Writer) error {
	if len(args) > 0 {
		return usagef("scenarios takes no arguments")
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, s := range harness.Builtins() {
		fmt.Fprintf(tw, "%s\t%s\n", s.Name, s.Description)
	}
	return tw.Flush()
}

func cmdFaults(args []string, w io.Writer) error {
	if len(args) > 0 {
		return usagef("faults takes no arguments")
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "FAULT\tCLASS\tPARAMETERS (default)\tWHAT IT DOES\n")
	for _, d := range faults.Catalogue() {
		var ps []string
		for _, p := range d.Params {
			ps = append(ps, p.Name+"="+p.Default)
		}
		sort.Strings(ps)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Name, d.Class, strings.Join(ps, " "), d.Help)
	}
	return tw.Flush()
}

func cmdReport(args []string, w io.Writer) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usagef("usage: bcdr report DIR (a directory written by bcdr drill)")
	}
	if err := report.Render(args[0]); err != nil {
		return err
	}
	fmt.Fprintf(w, "rendered %s and %s in %s\n", report.JUnitFile, report.HTMLFile, args[0])
	return nil
}

func cmdTrend(args []string, w io.Writer) error {
	if len(args) == 0 {
		return usagef("usage: bcdr trend DIR... (directories written by bcdr drill)")
	}
	return report.Trend(w, args)
}
