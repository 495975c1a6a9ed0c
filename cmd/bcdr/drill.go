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
	"github.com/bcdr-harness/bcdr/topology"
	"gopkg.in/yaml.v3"
)

// setFlags collects repeated --set name=value.
type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, ",") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

// defaultProviderHelp names the default provider and says where it runs.
func defaultProviderHelp() string {
	d, _ := topology.LookupProvider(topology.DefaultSpec().Provider)
	return d.Name + ", " + strings.SplitN(d.Help, ":", 2)[0]
}

func drillUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, `Usage: bcdr drill NAME [--seed N] [--scale S] [--set knob=value ...] [--out DIR]
       bcdr drill --file SCENARIO.yaml|.json [--set knob=value ...] [--out DIR]

Runs a built-in drill (bcdr scenarios lists them) or a scenario file on the
environment the provider knob selects (default: %s),
prints each check's observed value against its budget, and writes
DIR/result.json, history.jsonl, evidence.json (what the checks read: bcdr
check DIR judges the run again from it), junit.xml and report.html.

While it runs, a terminal shows the phase, wall and service time, the writes
so far and a bar for each long wait; without a terminal (CI) every event is a
plain timestamped line on stderr. Ctrl-C stops the drill, tears the
environment down, writes what was recorded (verdict unknown) and exits 2; a
second Ctrl-C exits at once.

Flags:
`, defaultProviderHelp())
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nKnobs (--set name=value; durations are service time, e.g. 15m, 4h; a value outside\nits range is refused before anything starts):\n")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  KNOB\tDEFAULT\tRANGE\tMEANING\n")
	def := harness.DefaultScenario()
	for _, k := range harness.Knobs() {
		v, _ := def.Get(k.Name)
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", k.Name, v, k.Range, k.Help)
	}
	tw.Flush()
	fmt.Fprint(w, scenarioFileHelp)
	fmt.Fprintf(w, "\nEnvironment: BCDR_PROVIDER overrides the provider knob's default.\n")
	fmt.Fprintf(w, "Exit codes: 0 pass, 1 a check failed, 2 could not tell or interrupted, 254 bad arguments or scenario, 255 internal error.\n")
}

const scenarioFileHelp = `
Scenario file (YAML, or JSON with the same fields); unknown fields are errors
that name the file, line and field:
  scenario: region-outage     # the built-in base (bcdr scenarios)
  name: nightly-region        # optional
  seed: 7
  set:                        # any knob above, budgets included
    rpo: 15m
    rto: 4h
    instances-per-region: 3
  faults:                     # replaces the base's faults (bcdr faults)
    - name: region-outage
      params: {region: a}
      at: 0s                  # service time after the steady state (0s..168h)
      duration: 0s            # 0: the fault's default hold (0s..168h)
  checks: [validity, rpo, rto, failback-loss]
  expect: {rpo: pass}         # what suites compare against
Command-line flags apply after the file: --set, --seed and --scale win.
`

// scenarioFlags are the flags that choose and shape a scenario (drill, up).
type scenarioFlags struct {
	file  string
	seed  int64
	scale float64
	sets  setFlags
}

func (f *scenarioFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.file, "file", "", "scenario file (YAML or JSON) instead of a built-in NAME")
	fs.Int64Var(&f.seed, "seed", -1, "seed of every random choice (default: the scenario's)")
	fs.Float64Var(&f.scale, "scale", 0, "time scale, service seconds per wall second (default: the scenario's, else the provider's: "+topology.ScaleHelp()+")")
	fs.Var(&f.sets, "set", "knob=value, repeatable (see the knob list below)")
}

// build returns the scenario and the base its replay command is relative to.
// Every error is a usage error (exit 254), before anything starts.
func (f *scenarioFlags) build(name string) (sc, base harness.Scenario, err error) {
	switch {
	case name != "" && f.file != "":
		return sc, base, usagef("give a scenario NAME or --file, not both")
	case f.file != "":
		if sc, base, err = harness.LoadScenarioFile(f.file); err != nil {
			return sc, base, err
		}
		if p := os.Getenv("BCDR_PROVIDER"); p != "" {
			if _, inFile := fileSets(f.file)["provider"]; !inFile {
				if err := sc.Set("provider", p); err != nil {
					return sc, base, fmt.Errorf("BCDR_PROVIDER: %w", err)
				}
			}
		}
	case name == "":
		return sc, base, usagef("name a scenario (bcdr scenarios lists them) or give --file")
	default:
		var ok bool
		if sc, ok = harness.Builtin(name); !ok {
			return sc, base, usagef("unknown scenario %q (bcdr scenarios lists them)", name)
		}
		base = sc
		if p := os.Getenv("BCDR_PROVIDER"); p != "" {
			if err := sc.Set("provider", p); err != nil {
				return sc, base, fmt.Errorf("BCDR_PROVIDER: %w", err)
			}
		}
	}
	if err := sc.SetAll(f.sets); err != nil {
		return sc, base, err
	}
	if f.seed >= 0 {
		sc.Seed = f.seed
	}
	if f.scale != 0 {
		if err := sc.Set("time-scale", fmt.Sprint(f.scale)); err != nil {
			return sc, base, err
		}
	}
	if err := harness.Validate(sc); err != nil {
		return sc, base, err
	}
	return sc, base, nil
}

// fileSets returns the knobs a scenario file sets (best effort; the file
// parsed already).
func fileSets(path string) map[string]bool {
	out := map[string]bool{}
	b, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	var doc struct {
		Set map[string]any `yaml:"set" json:"set"`
	}
	if yaml.Unmarshal(b, &doc) == nil {
		for k := range doc.Set {
			out[k] = true
		}
	}
	return out
}

// replay is the command that runs the same drill again.
func (f *scenarioFlags) replay(sc, base harness.Scenario) string {
	if f.file == "" {
		return sc.ReplayCommand(base)
	}
	cmd := fmt.Sprintf("bcdr drill --file %s --seed %d", f.file, sc.Seed)
	for _, s := range f.sets {
		cmd += " --set " + s
	}
	if f.scale != 0 {
		cmd += fmt.Sprintf(" --scale %g", f.scale)
	}
	return cmd
}

// drillFlags are the arguments of bcdr drill.
type drillFlags struct {
	sf scenarioFlags
	// name is the built-in scenario ("" with --file); out the output
	// directory ("" for the default); mode how progress shows.
	name, out, mode string
	timeout         time.Duration
}

// parse reads drill's arguments into f. When done, cmdDrill returns code
// and err: the usage was printed (--help) or the arguments are wrong.
func (f *drillFlags) parse(args []string, stdout io.Writer) (done bool, code int, err error) {
	fs := flag.NewFlagSet("drill", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.sf.register(fs)
	out := fs.String("out", "", "output directory (default runs/NAME-SEED-TIME)")
	quiet := fs.Bool("quiet", false, "print only the summary (same as --progress none)")
	timeout := fs.Duration("timeout", 0, "wall-time deadline of the drill (0 = none): when it passes, the drill stops as on Ctrl-C (verdict unknown, exit 2)")
	mode := fs.String("progress", "auto", "how to show a running drill: auto (a status line on a terminal, plain lines otherwise), tty, plain or none")
	name := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			drillUsage(stdout, fs)
			return true, exitPass, nil
		}
		return true, exitUsage, usagef("drill: %v", err)
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
		if fs.NArg() > 1 {
			return true, exitUsage, usagef("drill: unexpected argument %q", fs.Arg(1))
		}
	} else if fs.NArg() > 0 {
		return true, exitUsage, usagef("drill: unexpected argument %q (flags go after the scenario name)", fs.Arg(0))
	}
	switch *mode {
	case "auto", "tty", "plain", "none":
	default:
		return true, exitUsage, usagef("drill: --progress must be auto, tty, plain or none, got %q", *mode)
	}
	if *quiet {
		*mode = "none"
	}
	f.name, f.out, f.mode, f.timeout = name, *out, *mode, *timeout
	return false, 0, nil
}

func cmdDrill(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	var f drillFlags
	if done, code, err := f.parse(args, stdout); done {
		return code, err
	}
	sc, base, err := f.sf.build(f.name)
	if err != nil {
		return exitUsage, err
	}
	dir := f.out
	if dir == "" {
		dir = filepath.Join("runs", fmt.Sprintf("%s-%d-%s", sc.Name, sc.Seed, time.Now().Format("20060102-150405")))
	}
	// An output folder that cannot be written is a bad argument: find out
	// before anything starts, not after the drill.
	if err := probeOut("drill", dir); err != nil {
		return exitUsage, err
	}
	if f.timeout < 0 {
		return exitUsage, usagef("drill: --timeout must not be negative, got %s", f.timeout)
	}
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	outcome, runErr := runDrill(ctx, sc, &base, f.mode, dir, stderr)
	var fe *faults.Error
	if errors.As(runErr, &fe) || faults.IsRefused(runErr) {
		// A target the environment does not have, or did not create
		// (the blast-radius guard): nothing was injected.
		return exitUsage, runErr
	}
	if outcome == nil {
		return exitInternal, runErr
	}
	if f.sf.file != "" {
		outcome.Result.Replay = f.sf.replay(sc, base)
	}
	if err := outcome.Save(dir); err != nil {
		return exitInternal, fmt.Errorf("write results: %w", err)
	}
	printSummary(stdout, outcome.Result, dir)
	return drillExit(ctx, outcome.Result.Verdict, runErr, f.timeout, dir, stderr), nil
}

// runDrill runs scenario sc (its replay relative to base), showing its
// progress on stderr in mode, and says there when it is interrupted.
func runDrill(ctx context.Context, sc harness.Scenario, base *harness.Scenario, mode, dir string, stderr io.Writer) (*harness.Outcome, error) {
	pr := newProgress(stderr, mode, sc)
	pr.logf("drill %s seed %d scale %g provider %s, results in %s", sc.Name, sc.Seed, sc.TimeScale(), sc.Spec.Provider, dir)
	stopWatch := context.AfterFunc(ctx, func() {
		pr.logf("interrupted: stopping the drill, tearing the environment down, writing what was recorded")
	})
	outcome, runErr := harness.Run(ctx, sc, harness.Options{Logf: pr.logf, OnOp: pr.onOp, Base: base,
		OnEnv: func(env topology.Environment) { pr.useClock(env.Clock()) }})
	stopWatch()
	pr.close()
	return outcome, runErr
}

// drillExit is the exit code of a drill whose outcome was saved in dir:
// its verdict's, or internal or unknown when it did not finish (runErr),
// saying why on stderr.
func drillExit(ctx context.Context, verdict assertions.Verdict, runErr error, timeout time.Duration, dir string, stderr io.Writer) int {
	var pe *harness.PanicError
	if errors.As(runErr, &pe) {
		fmt.Fprintf(stderr, "bcdr: internal error: %v; what was recorded is in %s\n%s", pe, dir, pe.Stack)
		return exitInternal
	}
	if runErr != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			fmt.Fprintf(stderr, "bcdr: drill stopped at its --timeout (%s); what was recorded is in %s\n", timeout, dir)
		} else if ctx.Err() != nil {
			fmt.Fprintln(stderr, "bcdr: drill interrupted; what was recorded is in", dir)
		} else {
			fmt.Fprintln(stderr, "bcdr: drill did not finish:", runErr)
		}
		return exitUnknown
	}
	switch verdict {
	case assertions.Pass:
		return exitPass
	case assertions.Fail:
		return exitFail
	}
	return exitUnknown
}

func printSummary(w io.Writer, r report.Result, dir string) {
	clk := &clock.Clock{Scale: r.TimeScale}
	engines := r.SQLEngine
	if r.BlobEngine != "" {
		engines += ", blob " + r.BlobEngine
	}
	fmt.Fprintf(w, "\n%s: %s  (seed %d, %s provider, %s, scale %g, %.1fs wall)\n", r.Scenario, strings.ToUpper(string(r.Verdict)),
		r.Seed, r.Provider, engines, r.TimeScale, r.WallS)
	if r.Reason != "" {
		fmt.Fprintf(w, "  reason: %s\n", r.Reason)
	}
	fmt.Fprintf(w, "  workload: %d acknowledged writes, %d failed, %d unknown\n",
		r.Workload.AcknowledgedWrites, r.Workload.Failed, r.Workload.Unknown)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  CHECK\tVERDICT\tOBSERVED\tBUDGET\tNOISE\tLOST\n")
	secs := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	for _, c := range r.Checks {
		obs, bud, noise := "-", "-", "-"
		if c.ObservedServiceS != 0 || c.BudgetServiceS != 0 {
			// The wall figure is the one the run measured: part of a window
			// may have run at the machine scale.
			obs = fmt.Sprintf("%s (%s wall)", clock.Round(secs(c.ObservedServiceS)), clock.Round(secs(c.ObservedWallS)))
			bud = clk.Format(secs(c.BudgetServiceS))
		}
		if c.NoiseServiceS > 0 {
			noise = fmt.Sprintf("%s (%s wall)", clock.Round(secs(c.NoiseServiceS)), clock.Round(secs(c.NoiseWallS)))
		}
		verdict := string(c.Verdict)
		switch {
		case c.TooClose:
			verdict += " (too close)"
		case c.UnderDriven:
			verdict += " (machine too slow)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%d\n", c.Name, verdict, obs, bud, noise, c.LostCount)
	}
	tw.Flush()
	if n := r.Noise; n != nil {
		fmt.Fprintf(w, "  timing noise (wall): timers late up to %.0fms (p99 %.0fms), pacing %.0fms, lag sampler %.0fms; a log shipping round %.0fms, a blob round %.0fms; slowest steady request %.0fms\n",
			n.TimerLateMaxMS, n.TimerLateP99MS, n.PacingLateMaxMS, n.SamplerLateMaxMS, n.ShipWallMS, n.BlobRoundWallMS, n.RequestWallMS)
		if n.MachineWaitMS > 0 {
			fmt.Fprintf(w, "  CPU waits (wall): the run's processes waited for a CPU up to %.0fms in one %s tick, %.0fms over the run (added to a check's noise where they fall in its window)\n",
				n.MachineWaitMaxMS, "200ms", n.MachineWaitMS)
		}
		if r.MachineScale > 0 {
			fmt.Fprintf(w, "  machine time: the planned switch and the standby's rebuild (the longer %.0fms wall) ran at scale %g, judged at their wall value\n", n.MachineWallMS, r.MachineScale)
		}
	}
	if len(r.SkippedChecks) > 0 {
		fmt.Fprintf(w, "  skipped (skip-checks): %s: the faults call for them, this run was not judged by them\n", strings.Join(r.SkippedChecks, ", "))
	}
	for _, c := range r.Checks {
		if c.Verdict != assertions.Pass {
			fmt.Fprintf(w, "  %s: %s\n", c.Name, c.Explanation)
		}
	}
	fmt.Fprintf(w, "  results: %s\n  replay:  %s\n", dir, r.Replay)
}

// wantsHelp prints usage when args ask for help.
func wantsHelp(args []string, w io.Writer, usage string) bool {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			fmt.Fprint(w, usage)
			return true
		}
	}
	return false
}

func cmdScenarios(args []string, w io.Writer) error {
	if wantsHelp(args, w, "Usage: bcdr scenarios\n\nLists the built-in scenarios (bcdr drill NAME runs one), one line each.\n") {
		return errHelp
	}
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
	if wantsHelp(args, w, "Usage: bcdr faults\n\nLists the fault catalogue: name, class, parameters with their defaults, and what the fault does.\nScenario files name them under faults:, and bcdr inject FAULT [param=value ...] injects one into a running environment.\n") {
		return errHelp
	}
	if len(args) > 0 {
		return usagef("faults takes no arguments")
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "FAULT\tCLASS\tTARGETS\tPARAMETERS (default)\tWHAT IT DOES\n")
	for _, d := range faults.Catalogue() {
		var ps []string
		for _, p := range d.Params {
			ps = append(ps, p.Name+"="+p.Default)
		}
		sort.Strings(ps)
		targets := d.Targets
		if targets == "" {
			targets = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, d.Class, targets, strings.Join(ps, " "), d.Help)
	}
	return tw.Flush()
}

func cmdReport(args []string, w io.Writer) error {
	if wantsHelp(args, w, "Usage: bcdr report DIR\n\nRenders junit.xml and report.html again from DIR/result.json and DIR/history.jsonl\n(a folder written by bcdr drill or bcdr up), e.g. after upgrading bcdr.\n") {
		return errHelp
	}
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return usagef("usage: bcdr report DIR (a directory written by bcdr drill or bcdr up)")
	}
	if err := isRunDir(args[0]); err != nil {
		return err
	}
	if err := report.Render(args[0]); err != nil {
		return err
	}
	fmt.Fprintf(w, "rendered %s and %s in %s\n", report.JUnitFile, report.HTMLFile, args[0])
	return nil
}

func cmdTrend(args []string, w io.Writer) error {
	if wantsHelp(args, w, "Usage: bcdr trend DIR...\n\nPrints saved runs side by side: a row per check, a column per run, each cell the\nverdict and the observed figure (service time); the first row is each run's verdict.\n"+validationTrendHelp) {
		return errHelp
	}
	if len(args) == 0 {
		return usagef("usage: bcdr trend DIR... (directories written by bcdr drill, bcdr up or bcdr validate)")
	}
	if isValidationDir(args[0]) {
		return validationTrend(args, w)
	}
	for _, d := range args {
		if err := isRunDir(d); err != nil {
			return err
		}
	}
	return report.Trend(w, args)
}

// isRunDir refuses a folder that neither bcdr drill nor bcdr up wrote (exit 254).
func isRunDir(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, report.ResultFile)); err != nil {
		return usagef("%s is not a run folder: no %s (bcdr drill --out writes one)", dir, report.ResultFile)
	}
	return nil
}
