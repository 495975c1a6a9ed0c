package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/search"
	"github.com/bcdr-harness/bcdr/topology"
)

const searchUsage = `Usage: bcdr search [NAME | --file S.yaml] [--figure F] [--runs N] [--provider P]
                   [--seed N] [--scale S] [--set knob=value ...] [--out DIR]

Searches for the moment of the region loss that makes a figure worst: runs a
budget of drills (--runs, default 12) of the scenario (default region-outage),
each with its region-outage step at another moment (service time after the
steady state): first a coarse sweep over one period of the schedule the figure
depends on (the log backup interval; the blob replication interval for
cross-store), then a local search around the worst so far. The same seed gives
the same moments.

Figures (--figure, each the observed value of the check of that name):
  rpo                     the loss window (default)
  rto                     the recovery time
  failback-interruption   the write interruption during failback
  cross-store             the age of the oldest document missing its row's region

Prints every drill's moment, figure and verdict, keeps the worst (a drill whose
check is unknown is taken only when nothing is known), writes it as a scenario
file (DIR/worst.yaml) and prints the command that replays it. Each drill's run
folder is DIR/NN-at-MOMENT. A failing worst moment of rpo or cross-store lies
just before a shipping round resets the figure: the file loses the region one
noise band earlier (that drill's timing noise of the figure), so that a replay
whose round runs a little earlier still fails.

Example:
  bcdr search --figure rpo --runs 12
  bcdr search --provider fake --runs 4 --set log-backup-interval=18m

Exit codes: 0 the worst drill passed its check (and no moment measured the
figure over its budget), 1 it failed (a failing moment was found), 2 nothing
could be told, or a moment measured over the budget was too close to call,
254 bad arguments, 255 internal error.
`

const shrinkUsage = `Usage: bcdr shrink [NAME | --file S.yaml] [--check C] [--runs N] [--provider P]
                   [--seed N] [--scale S] [--set knob=value ...] [--out DIR]

Shrinks a failing schedule: runs it (a random one: bcdr shrink random --seed 7),
takes the check it fails (or --check), then tries smaller schedules one change
at a time, keeping each that still fails the same check in a valid run: keep a
single fault, drop a fault, halve a fault's hold, halve the clients, halve the
rate. Fault times stay absolute (dropping a fault moves no other); a change that
would lose every region, or leave too little traffic before the first fault, is
not run, and a run whose validity check does not pass is not taken. --runs is the
budget of drills (default 30, the original's included). At the end the smallest
schedule runs again (--confirm, default twice) and must fail each time: a failure that
does not come back (a smaller workload can make it a matter of luck) backs off the
last kept change, down to the original.

Writes the smallest schedule found as DIR/shrunk.yaml, with the original command
and seed and every shrink step in its header, and prints its replay command
(bcdr drill --file DIR/shrunk.yaml fails the same check).

Exit codes: 0 shrunk (and confirmed, when asked), 2 not confirmed or nothing could be told,
254 bad arguments or a schedule that does not fail, 255 internal error.
`

// searchFlags are the flags search and shrink share with drill.
type searchFlags struct {
	sf       scenarioFlags
	runs     int
	provider string
	out      string
}

func (f *searchFlags) parse(cmd string, args []string, w io.Writer, usage string, extra func(*flag.FlagSet)) (harness.Scenario, harness.Scenario, error) {
	var sc, base harness.Scenario
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.sf.register(fs)
	fs.StringVar(&f.provider, "provider", "", "provider ("+strings.Join(topology.Providers(), ", ")+"; default: the scenario's or BCDR_PROVIDER)")
	fs.StringVar(&f.out, "out", "", "output directory (default runs/"+cmd+"-NAME-TIME)")
	if extra != nil {
		extra(fs)
	}
	name := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(w, usage)
			return sc, base, errHelp
		}
		return sc, base, usagef("%s: %v", cmd, err)
	}
	if fs.NArg() > 0 {
		return sc, base, usagef("%s: unexpected argument %q (flags go after the scenario name)", cmd, fs.Arg(0))
	}
	if name == "" && f.sf.file == "" && cmd == "search" {
		name = "region-outage"
	}
	if f.provider != "" {
		f.sf.sets = append(setFlags{"provider=" + f.provider}, f.sf.sets...)
	}
	if f.runs < 1 || f.runs > 1000 {
		return sc, base, usagef("%s: --runs must be in 1..1000, got %d", cmd, f.runs)
	}
	sc, base, err := f.sf.build(name)
	if err != nil {
		return sc, base, err
	}
	if f.out == "" {
		f.out = filepath.Join("runs", fmt.Sprintf("%s-%s-%d-%s", cmd, sc.Name, sc.Seed, time.Now().Format("20060102-150405")))
	}
	return sc, base, nil
}

// savingRun runs a drill with the harness and saves its folder in d.
func savingRun(stderr io.Writer, base harness.Scenario) drillInto {
	return func(ctx context.Context, sc harness.Scenario, d string) (*harness.Outcome, error) {
		start := time.Now()
		out, err := harness.Run(ctx, sc, harness.Options{Base: &base})
		if out != nil {
			if serr := out.Save(d); serr != nil {
				fmt.Fprintf(stderr, "bcdr: could not save %s: %v\n", d, serr)
			}
		}
		fmt.Fprintf(stderr, "  (drill done in %.1fs wall)\n", time.Since(start).Seconds())
		return out, err
	}
}

// drillInto runs one drill of sc into the run folder dir.
type drillInto func(ctx context.Context, sc harness.Scenario, dir string) (*harness.Outcome, error)

// searchInto is a search of figure on sc (runs drills, the planner seeded
// with sc's seed) whose drills go to out/NN-at-MOMENT, as bcdr search and
// bcdr validate --search both lay them out. It returns the search's report
// (nil when it could not start) and each candidate's folder, in run order.
func searchInto(ctx context.Context, sc harness.Scenario, figure string, runs int, out string, run drillInto,
	onCandidate func(search.Candidate)) (*search.Report, []string, error) {
	step, err := search.LossStep(sc)
	if err != nil {
		return nil, nil, err
	}
	var dirs []string
	rep, err := search.Search(ctx, sc, search.Options{Figure: figure, Runs: runs, Seed: sc.Seed,
		Run: func(ctx context.Context, c harness.Scenario) (*harness.Outcome, error) {
			d := filepath.Join(out, fmt.Sprintf("%02d-at-%s", len(dirs)+1, c.Faults[step].At))
			dirs = append(dirs, d)
			return run(ctx, c, d)
		},
		OnCandidate: onCandidate})
	return rep, dirs, err
}

// writeWorst writes a search's worst schedule to file as a scenario file
// relative to base, after the header's comment lines.
func writeWorst(file string, rep *search.Report, base harness.Scenario, header ...string) error {
	data, err := harness.ScenarioFile(rep.Scenario, base)
	if err == nil {
		var head strings.Builder
		for _, h := range header {
			head.WriteString("# " + h + "\n")
		}
		err = os.WriteFile(file, append([]byte(head.String()), data...), 0o644)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}

func cmdSearch(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	var f searchFlags
	figure := ""
	sc, base, err := f.parse("search", args, stdout, searchUsage, func(fs *flag.FlagSet) {
		fs.IntVar(&f.runs, "runs", 12, "budget of drills")
		fs.StringVar(&figure, "figure", "rpo", "figure to make worst: "+strings.Join(search.Figures, ", "))
	})
	if err != nil {
		if errors.Is(err, errHelp) {
			return exitPass, err
		}
		return exitUsage, err
	}
	if _, err := search.LossStep(sc); err != nil {
		return exitUsage, usagef("search: %v", err)
	}
	valid := false
	for _, x := range search.Figures {
		valid = valid || x == figure
	}
	if !valid {
		return exitUsage, usagef("search: --figure must be one of %s, got %q", strings.Join(search.Figures, ", "), figure)
	}
	if err := probeOut("search", f.out); err != nil {
		return exitUsage, err
	}
	period := search.Period(sc, figure)
	fmt.Fprintf(stdout, "search %s: %d drills of %s (seed %d, %s provider), the region loss moved over %s (one period of its schedule)\n",
		figure, f.runs, sc.Name, sc.Seed, sc.Spec.Provider, period)
	tw := stdout
	fmt.Fprintln(tw, strings.TrimRight(fmt.Sprintf(candidateFormat, "#", "AT", strings.ToUpper(figure), "VERDICT", "WALL", ""), " "))
	step, _ := search.LossStep(sc)
	rep, _, err := searchInto(ctx, sc, figure, f.runs, f.out, savingRun(stderr, base), func(c search.Candidate) {
		printCandidate(tw, c)
	})
	if rep == nil {
		return exitInternal, err
	}
	w, ok := rep.WorstCandidate()
	if !ok {
		fmt.Fprintln(stdout, "no drill ran")
		return exitUnknown, nil
	}
	file := filepath.Join(f.out, "worst.yaml")
	if ferr := writeWorst(file, rep, base, fmt.Sprintf("bcdr search --figure %s: the worst of %d drills (seed %d)", figure, len(rep.Candidates), sc.Seed),
		"replay: bcdr drill --file "+file); ferr != nil {
		return exitInternal, ferr
	}
	fmt.Fprintf(stdout, "worst: #%d, %s at +%s after the steady state: %s %s (%s)", w.N, sc.Faults[step].Name, w.At, figure, w.Figure, w.Verdict)
	if w.Outcome != nil {
		if r, ok := w.Outcome.Check(figure); ok && r.BudgetServiceS > 0 {
			fmt.Fprintf(stdout, ", budget %s", time.Duration(r.BudgetServiceS*float64(time.Second)))
		}
	}
	fmt.Fprintln(stdout)
	if !w.Known() {
		fmt.Fprintf(stdout, "  no drill was judged: %s\n", w.Why)
	}
	fmt.Fprintf(stdout, "  scenario: %s\n  replay:   bcdr drill --file %s\n  runs:     %s\n", file, file, f.out)
	if rep.Margin > 0 {
		fmt.Fprintf(stdout, "  the file loses the region at +%s, %s earlier than measured (the figure's timing noise in that drill), so that a replay's shipping round running that much earlier does not cross it\n",
			rep.ReplayAt, rep.Margin)
	}
	if err != nil {
		fmt.Fprintln(stderr, "bcdr: search stopped early:", err)
		return exitUnknown, nil
	}
	switch {
	case !w.Known():
		return exitUnknown, nil
	case w.Verdict == assertions.Fail:
		return exitFail, nil
	}
	// A pass is the worst known, but a moment that measured the figure
	// over its budget, too close to call, is not one the search may call
	// safe: say so and exit as undecided, never as a pass.
	if c, ok := rep.OverBudgetTooClose(); ok {
		fmt.Fprintf(stdout, "  but #%d at +%s measured %s %s, over the budget and too close to call: %s\n", c.N, c.At, figure, c.Figure, c.Why)
		return exitUnknown, nil
	}
	return exitPass, nil
}

// candidateFormat prints one line of the search table (each line as its
// drill ends, so no tabwriter).
const candidateFormat = "  %-3s %-10s %-9s %-20s %-7s %s"

func candidateCells(c search.Candidate) (n, fig, verdict, wall, why string) {
	n, fig, wall = fmt.Sprint(c.N), c.Figure.String(), "-"
	if c.N == 0 {
		n = "-"
	}
	if !c.Known() && !c.Measured {
		fig = "-"
	}
	if c.Wall > 0 {
		wall = fmt.Sprintf("%.1fs", c.Wall.Seconds())
	}
	verdict = string(c.Verdict)
	if c.TooClose {
		verdict += " (too close)"
	}
	if c.Kept {
		verdict += " (kept)"
	}
	if !c.Known() && c.Why != "" {
		why = c.Why
		if len(why) > 160 {
			why = why[:160] + "..."
		}
	}
	return n, fig, verdict, wall, why
}

func printCandidate(w io.Writer, c search.Candidate) {
	n, fig, verdict, wall, why := candidateCells(c)
	fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf(candidateFormat, n, "+"+c.At.String(), fig, verdict, wall, why), " "))
}

// printTry prints one line of the shrink table: the change last, since it
// is long.
func printTry(w io.Writer, c search.Candidate) {
	n, fig, verdict, wall, why := candidateCells(c)
	line := fmt.Sprintf("  %-3s %-7s %-9s %-20s %s", n, wall, fig, verdict, c.Change)
	if why != "" {
		line += "  [" + why + "]"
	}
	fmt.Fprintln(w, line)
}

func cmdShrink(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	var f searchFlags
	check := ""
	confirm := 2
	sc, base, err := f.parse("shrink", args, stdout, shrinkUsage, func(fs *flag.FlagSet) {
		fs.IntVar(&f.runs, "runs", 30, "budget of drills, the original's included")
		fs.StringVar(&check, "check", "", "the check that must keep failing (default: the first the original fails)")
		fs.IntVar(&confirm, "confirm", 2, "runs of the smallest schedule at the end that must each fail again (0: none)")
	})
	if err != nil {
		if errors.Is(err, errHelp) {
			return exitPass, err
		}
		return exitUsage, err
	}
	if err := probeOut("shrink", f.out); err != nil {
		return exitUsage, err
	}
	origin := f.sf.replay(sc, base)
	if s, err := harness.ScheduleFor(sc); err == nil && s != nil {
		fmt.Fprintln(stdout, s.String())
	}
	fmt.Fprintf(stdout, "shrink: %s (budget %d drills)\n", origin, f.runs)
	tw := stdout
	fmt.Fprintf(tw, "  %-3s %-7s %-9s %-20s %s\n", "#", "WALL", "FIGURE", "VERDICT", "CHANGE")
	n := 0
	save := savingRun(stderr, base)
	if confirm < 0 || confirm >= f.runs {
		return exitUsage, usagef("shrink: --confirm must be in 0..%d (below --runs), got %d", f.runs-1, confirm)
	}
	sh, err := search.Shrink(ctx, sc, search.ShrinkOptions{Check: check, Runs: f.runs, Confirm: confirm,
		Run: func(ctx context.Context, sc harness.Scenario) (*harness.Outcome, error) {
			n++
			return save(ctx, sc, filepath.Join(f.out, fmt.Sprintf("try-%02d", n)))
		},
		OnTry: func(c search.Candidate) {
			printTry(tw, c)
		}})
	if errors.Is(err, search.ErrNoFailure) {
		return exitUsage, usagef("shrink: %v", err)
	}
	if sh == nil {
		return exitInternal, err
	}
	if sh.Check == "" {
		return exitUnknown, err
	}
	file := filepath.Join(f.out, "shrunk.yaml")
	data, ferr := sh.File(base, origin, file)
	if ferr == nil {
		ferr = os.WriteFile(file, data, 0o644)
	}
	if ferr != nil {
		return exitInternal, fmt.Errorf("write %s: %w", file, ferr)
	}
	fmt.Fprintf(stdout, "shrunk in %d drills: %d faults -> %d, clients %d -> %d, rate %g -> %g; still fails %s\n", sh.Runs,
		len(sh.Original.Faults), len(sh.Scenario.Faults), sh.Original.Workload.Clients, sh.Scenario.Workload.Clients,
		sh.Original.Workload.Rate, sh.Scenario.Workload.Rate, sh.Check)
	for i, s := range sh.Steps {
		fmt.Fprintf(stdout, "  %d. %s\n", i+1, s)
	}
	for _, s := range sh.BackedOff {
		fmt.Fprintf(stdout, "  backed off (its failure did not come back): %s\n", s)
	}
	switch {
	case sh.Confirmed:
		fmt.Fprintf(stdout, "  confirmed: it failed %s again in %d more runs\n", sh.Check, confirm)
	case confirm > 0:
		fmt.Fprintf(stdout, "  NOT confirmed: the budget ran out, or even the original does not fail every time\n")
	}
	fmt.Fprintf(stdout, "  scenario: %s\n  replay:   bcdr drill --file %s\n  runs:     %s\n", file, file, f.out)
	if err != nil {
		fmt.Fprintln(stderr, "bcdr: shrink stopped early:", err)
		return exitUnknown, nil
	}
	if confirm > 0 && !sh.Confirmed {
		return exitUnknown, nil
	}
	return exitPass, nil
}
