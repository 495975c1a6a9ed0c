package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/promises"
	"github.com/bcdr-harness/bcdr/report"
	"github.com/bcdr-harness/bcdr/topology"
)

const validateUsage = `Usage: bcdr validate [--provider P] [--seed N] [--runs K] [--out DIR] [--controls]
                     [--search N] [--promise ID ...] [--set knob=value ...] [--scale S]

The BCDR plan validation: runs the whole promise map (every promise of
docs/promises.md, package promises) on one provider: each promise's scenarios
(suite rows cut to suite length) with K seeds from N, each run judged as a
drill is (assertions.Judge), and writes one self-contained report for a
person who was not there:

  DIR/validation.html   the one-minute summary, then per promise the figure
                        promised, the worst and median observed, the runs that
                        are its evidence (seed, report link, replay command),
                        its negative control and its verdict; the environment
  DIR/validation.json   the same, for machines (bcdr trend DIR... compares them)
  DIR/runs/NAME-sSEED/  each run's folder, as bcdr drill writes it, with its
                        scenario.yaml (bcdr drill --file replays it)

A run judged too close to call is run again at the scale its check names (a
finer measurement), as the suites do. A promise holds when every run that is
its evidence kept it; with --controls, also when each of its negative controls
failed as built to (a control that does not fail makes the promise unknown).

With --search N, each promise whose figure is one bcdr search makes worst
(rpo, rto, failback-interruption, cross-store) also gets a search of N drills
(bcdr search --help): its first scenario that has a region loss, run with the
loss at N moments (service time after the steady state), with the same
provider, seed, knobs and scale, into DIR/search/ID/ (a folder NN-at-MOMENT per
drill, and worst.yaml, the worst moment's schedule). Every searched drill is
that promise's evidence, judged as its runs are: a failing moment fails the
promise, one too close to call makes it unknown. The report names the worst
moment found, its figure, its run and its replay command (bcdr drill --file
DIR/search/ID/worst.yaml). A promise none of whose scenarios has a region loss
gets no search, and the report says so.

Flags:
`

const validateExits = `
Promise IDs: %s

Exit codes: 0 every promise held, 1 a promise did not hold, 2 no promise failed
but some could not be told (the report says why), 254 bad arguments, 255 internal error.
`

func cmdValidate(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	provider := fs.String("provider", "", "where the environments run: "+strings.Join(topology.Providers(), ", ")+" (default: BCDR_PROVIDER, else "+topology.DefaultSpec().Provider+")")
	seed := fs.Int64("seed", 1, "first seed")
	runs := fs.Int("runs", 1, "runs of each scenario, seeds N, N+1, ...")
	out := fs.String("out", "", "output folder (default runs/validate-TIME)")
	controls := fs.Bool("controls", false, "also run each promise's negative controls and show that they fail")
	scale := fs.Float64("scale", 0, "time scale of every run (default: the provider's)")
	searchN := fs.Int("search", 0, "also search N moments of the region loss for each promise whose figure a search makes worst (0: none)")
	var sets, only setFlags
	fs.Var(&sets, "set", "knob=value applied to every run, repeatable (bcdr drill --help lists the knobs)")
	fs.Var(&only, "promise", "validate only this promise (ID), repeatable")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, validateUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fmt.Fprintf(stdout, validateExits, strings.Join(promiseIDs(), ", "))
			return exitPass, nil
		}
		return exitUsage, usagef("validate: %v", err)
	}
	if fs.NArg() > 0 {
		return exitUsage, usagef("validate: unexpected argument %q", fs.Arg(0))
	}
	if *runs < 1 || *runs > 100 {
		return exitUsage, usagef("validate: --runs must be 1..100, got %d", *runs)
	}
	if *searchN < 0 || *searchN > 100 {
		return exitUsage, usagef("validate: --search must be 0..100 (drills of each promise's search; 0: none), got %d", *searchN)
	}
	if *seed < 0 {
		return exitUsage, usagef("validate: --seed must not be negative, got %d", *seed)
	}
	if *provider == "" {
		if *provider = os.Getenv("BCDR_PROVIDER"); *provider == "" {
			*provider = topology.DefaultSpec().Provider
		}
	}
	specs, err := selectPromises(only)
	if err != nil {
		return exitUsage, err
	}
	v := validation{provider: *provider, sets: sets, scale: *scale}
	// Every scenario and control is built and checked before anything runs.
	plan, err := v.plan(specs, *seed, *runs, *controls)
	if err != nil {
		return exitUsage, err
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("runs", "validate-"+time.Now().Format("20060102-150405"))
	}
	var targets []searchTarget
	if *searchN > 0 {
		targets = searchTargets(specs, plan)
	}
	if err := probeOut("validate", dir); err != nil {
		return exitUsage, err
	}
	started := time.Now()
	fmt.Fprintf(stderr, "validate: %d promises, %d runs and %d controls on the %s provider, results in %s\n",
		len(specs), len(plan.runs), len(plan.controls), *provider, dir)
	if *searchN > 0 {
		fmt.Fprintf(stderr, "validate: then %d searches of %d drills (--search)\n", len(targets), *searchN)
	}
	vruns, cruns := v.runPlan(ctx, plan, dir, stderr)
	searches, serr := v.runSearches(ctx, targets, *searchN, dir, stderr)
	val := report.BuildValidation(specs, vruns, cruns, environment(*provider), searches...)
	val.Command = "bcdr validate " + strings.Join(args, " ")
	val.Started, val.Ended = started, time.Now()
	val.WallS = val.Ended.Sub(started).Seconds()
	if ctx.Err() != nil {
		val.Verdict = assertions.Worst(val.Verdict, assertions.Unknown)
		val.Summary = "INTERRUPTED before every run was made: " + val.Summary
	}
	if err := report.WriteValidation(dir, val); err != nil {
		return exitInternal, err
	}
	printValidation(stdout, val, dir)
	if serr != nil {
		return exitInternal, serr
	}
	switch {
	case ctx.Err() != nil:
		return exitUnknown, nil
	case val.Verdict == assertions.Pass:
		return exitPass, nil
	case val.Verdict == assertions.Fail:
		return exitFail, nil
	}
	return exitUnknown, nil
}

func promiseIDs() []string {
	var ids []string
	for _, p := range promises.Map {
		ids = append(ids, p.ID)
	}
	return ids
}

// selectPromises is the map as report specs, or the promises named.
func selectPromises(only []string) ([]report.PromiseSpec, error) {
	want := map[string]bool{}
	for _, id := range only {
		if _, ok := promises.Lookup(id); !ok {
			return nil, usagef("validate: unknown promise %q (known: %s)", id, strings.Join(promiseIDs(), ", "))
		}
		want[id] = true
	}
	var out []report.PromiseSpec
	for _, p := range promises.Map {
		if len(want) > 0 && !want[p.ID] {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// validation holds what applies to every run.
type validation struct {
	provider string
	sets     []string
	scale    float64
}

// planned is one run to make: a scenario (suite/row) or a control, with
// its scenario built.
type planned struct {
	scenario string
	control  *promises.Control
	sc       harness.Scenario
}

func (p planned) dirName() string {
	name := strings.ReplaceAll(p.scenario, "/", "-")
	if p.control != nil {
		name = "control-" + p.control.Name
	}
	return fmt.Sprintf("%s-s%d", name, p.sc.Seed)
}

type runPlan struct{ runs, controls []planned }

// plan builds every run: the scenarios the promises name (each once per
// seed, shared by the promises that name it; promises judged in every run
// take what the others ran, or the headline drill when alone), then the
// controls once each at the first seed.
func (v validation) plan(specs []report.PromiseSpec, seed int64, runs int, withControls bool) (runPlan, error) {
	var plan runPlan
	var names []string
	seen := map[string]bool{}
	for _, p := range specs {
		for _, s := range p.Scenarios {
			if !seen[s] {
				seen[s] = true
				names = append(names, s)
			}
		}
	}
	if len(names) == 0 {
		names = []string{"region/region-outage-short"}
	}
	for _, name := range names {
		for i := 0; i < runs; i++ {
			sc, ok := promises.Scenario(name)
			if !ok {
				return plan, fmt.Errorf("validate: the map names scenario %s, which it does not define", name)
			}
			if err := v.shape(&sc, seed+int64(i)); err != nil {
				return plan, err
			}
			plan.runs = append(plan.runs, planned{scenario: name, sc: sc})
		}
	}
	if !withControls {
		return plan, nil
	}
	done := map[string]bool{}
	for _, p := range specs {
		for _, name := range p.Controls {
			c, ok := promises.LookupControl(name)
			if !ok || done[name] {
				continue
			}
			done[name] = true
			sc, err := c.Build()
			if err != nil {
				return plan, usagef("validate: %v", err)
			}
			if err := v.shape(&sc, seed); err != nil {
				return plan, err
			}
			plan.controls = append(plan.controls, planned{scenario: c.Base, control: &c, sc: sc})
		}
	}
	return plan, nil
}

// shape applies the provider, the seed, --set and --scale, and checks the
// scenario before anything starts.
func (v validation) shape(sc *harness.Scenario, seed int64) error {
	if err := sc.Set("provider", v.provider); err != nil {
		return err
	}
	// The provider's own settings for a validation (the fake's batch
	// probes); --set overrides.
	if d, ok := topology.LookupProvider(v.provider); ok {
		if err := sc.SetAll(d.ValidateSets); err != nil {
			return err
		}
	}
	if err := sc.SetAll(v.sets); err != nil {
		return err
	}
	sc.Seed = seed
	if v.scale != 0 {
		if err := sc.Set("time-scale", fmt.Sprint(v.scale)); err != nil {
			return err
		}
	}
	return harness.Validate(*sc)
}

// runPlan makes the plan's runs, then its controls, each into
// dir/runs/NAME-sSEED; an interrupt ends the one running and starts no other.
func (v validation) runPlan(ctx context.Context, plan runPlan, dir string, stderr io.Writer) ([]report.ValidationRun, []report.ControlRun) {
	var vruns []report.ValidationRun
	var cruns []report.ControlRun
	for i, p := range append(plan.runs, plan.controls...) {
		if ctx.Err() != nil {
			break
		}
		rel := filepath.Join("runs", p.dirName())
		res, runErr := v.runOne(ctx, p, dir, rel, stderr, fmt.Sprintf("[%d/%d]", i+1, len(plan.runs)+len(plan.controls)))
		errText := ""
		if runErr != nil {
			errText = runErr.Error()
		}
		if p.control == nil {
			vruns = append(vruns, report.ValidationRun{Scenario: p.scenario, Dir: filepath.ToSlash(rel), Result: res, Err: errText})
		} else {
			cruns = append(cruns, report.ControlRun{Name: p.control.Name, Checks: p.control.Checks, Want: p.control.Want,
				Dir: filepath.ToSlash(rel), Result: res, Err: errText})
		}
	}
	return vruns, cruns
}

// runOne runs one planned drill into dir/rel (drill).
func (v validation) runOne(ctx context.Context, p planned, dir, rel string, stderr io.Writer, tag string) (report.Result, error) {
	out, err := v.drill(ctx, p.sc, filepath.Join(dir, rel), tag+" "+p.dirName(), stderr)
	if out == nil {
		return notRun(p.sc, err), err
	}
	return out.Result, err
}

// notRun is the result of a drill that did not run.
func notRun(sc harness.Scenario, err error) report.Result {
	return report.Result{Scenario: sc.Name, Seed: sc.Seed, Provider: sc.Spec.Provider, Verdict: assertions.Unknown, Reason: err.Error()}
}

// drill runs sc into runDir as bcdr drill would (its scenario file beside
// it for the replay; its log in drill.log), and once more at the scale its
// check names when it was too close to call; label names it on stderr. The
// outcome is nil when the drill did not run (err says why).
func (v validation) drill(ctx context.Context, sc harness.Scenario, runDir, label string, stderr io.Writer) (*harness.Outcome, error) {
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(runDir, "drill.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	var mu sync.Mutex
	lw := bufio.NewWriter(logFile)
	defer func() { mu.Lock(); lw.Flush(); mu.Unlock() }()
	start := time.Now()
	logf := func(f string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(lw, "+%6.1fs "+f+"\n", append([]any{time.Since(start).Seconds()}, a...)...)
	}
	fmt.Fprintf(stderr, "validate %s seed %d ...\n", label, sc.Seed)
	out, runErr := harness.Run(ctx, sc, harness.Options{Logf: logf})
	if runErr == nil && ctx.Err() == nil {
		if scale, why := out.RerunScale(0); scale > 0 {
			logf("%s; deciding at scale %g", why, scale)
			fmt.Fprintf(stderr, "validate %s: %s; deciding at scale %g\n", label, why, scale)
			sc.Scale = scale
			out, runErr = harness.Run(ctx, sc, harness.Options{Logf: logf})
		}
	}
	if out == nil {
		if runErr == nil {
			runErr = errors.New("the drill returned nothing")
		}
		fmt.Fprintf(stderr, "validate %s: did not run: %v\n", label, runErr)
		return nil, runErr
	}
	if data, err := harness.ScenarioFile(sc, harness.DefaultScenario()); err == nil {
		file := filepath.Join(runDir, "scenario.yaml")
		if os.WriteFile(file, data, 0o644) == nil {
			out.Result.Replay = "bcdr drill --file " + file
		}
	}
	if err := out.Save(runDir); err != nil {
		return out, fmt.Errorf("write results: %w", err)
	}
	fmt.Fprintf(stderr, "validate %s: %s (%.1fs wall)\n", label, out.Result.Verdict, out.Result.WallS)
	return out, runErr
}

// environment describes the machine and the engines, where they are known.
func environment(provider string) report.Environment {
	env := report.Environment{Provider: provider, Cores: runtime.NumCPU(), Go: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				env.OS = strings.Trim(v, `"`) + " (" + env.OS + ")"
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		env.Kernel = strings.TrimSpace(string(b))
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		env.Bcdr = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				env.Bcdr = "commit " + s.Value[:12]
			}
		}
	}
	if d, ok := topology.LookupProvider(provider); ok && d.Describe != nil {
		env.Engines = d.Describe()
	}
	return env
}

func printValidation(w io.Writer, v report.Validation, dir string) {
	fmt.Fprintf(w, "\nBCDR plan validation: %s  (%s provider, seeds %s, %d runs, %.0fs wall)\n  %s\n",
		strings.ToUpper(string(v.Verdict)), v.Environment.Provider, joinSeeds(v.Seeds), len(v.Runs), v.WallS, v.Summary)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  PROMISE\tVERDICT\tWORST\tMEDIAN\tRUNS\tCONTROL\n")
	for _, p := range v.Promises {
		worst, median := "-", "-"
		if p.Worst != nil {
			worst, median = p.Worst.Text, p.Median.Text
		}
		ctl := "-"
		if len(p.Controls) > 0 {
			ctl = p.Controls[0].Name
			if p.Controls[0].Ran {
				ctl += map[bool]string{true: " (failed as built)", false: " (DID NOT FAIL)"}[p.Controls[0].Shown]
			}
			if len(p.Controls) > 1 {
				ctl += fmt.Sprintf(" +%d", len(p.Controls)-1)
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\n", p.ID, p.Verdict, worst, median, len(p.Evidence), ctl)
	}
	tw.Flush()
	for _, p := range v.Promises {
		if p.Search != nil {
			fmt.Fprintf(w, "  %s: %s\n", p.ID, searchLine(*p.Search))
		}
	}
	for _, p := range v.Promises {
		if p.Verdict != assertions.Pass {
			fmt.Fprintf(w, "  %s: %s\n", p.ID, clip(p.Reason, 240))
		}
	}
	fmt.Fprintf(w, "  report: %s\n", filepath.Join(dir, report.ValidationHTMLFile))
}

func joinSeeds(seeds []int64) string {
	s := make([]string, len(seeds))
	for i, x := range seeds {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}

const validationTrendHelp = `
Given folders written by bcdr validate, it prints each promise's verdict and
worst figure over time instead: a row per promise, a column per validation,
oldest first.
`

// isValidationDir tells whether bcdr validate wrote dir.
func isValidationDir(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, report.ValidationFile))
	return err == nil
}

// validationTrend is bcdr trend over validate folders; every folder must
// be one (exit 254 otherwise).
func validationTrend(dirs []string, w io.Writer) error {
	for _, d := range dirs {
		if !isValidationDir(d) {
			return usagef("%s is not a validate folder: no %s (give bcdr trend either run folders or validate folders)", d, report.ValidationFile)
		}
	}
	return report.ValidationTrend(w, dirs)
}

// clip shortens a reason for the terminal; the report has it whole.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "... (the report has the rest)"
	}
	return s
}
