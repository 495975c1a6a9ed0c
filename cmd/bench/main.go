// Command bench measures the harness's own figures on the default provider
// (embedded: PostgreSQL processes, no Docker) and prints one
// table: for each figure the median, min and max over several runs, and
// the figure next to its target, met or not (judged on the median).
//
//	go run ./cmd/bench [-runs 5] [-window 3s] [-suites] [-out runs/bench]
//
// Each run brings up the default region drill's environment in this
// process (environment ready), drives writes through the whole path and
// straight into the same PostgreSQL primary (their ratio), strikes one
// fault of each class through faults.Apply (injected to observed effect),
// tears it down, times loopback round trips straight and through one
// embedded Toxiproxy link, and runs `bcdr drill region-outage` as a child
// process while it samples the PSS of that process and every process it
// started (drill wall time, peak memory). With -suites it also times
// `go test -count=1 ./suites/...` (-suites-runs times, default once).
//
// Figures are compared as ratios within one run and quoted as medians; a
// loaded machine moves them, so the header gives the core count and the
// load average before and after. It exits 1 when a figure could not be
// measured in any run, 2 when interrupted; an unmet target is reported,
// not an error.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/bcdr-harness/bcdr/cmd/internal/bcdrbin"
	"github.com/bcdr-harness/bcdr/harness"
	_ "github.com/bcdr-harness/bcdr/topology/providers" // every provider; the default one re-executed as the AOS stub
)

// figures is the table in the order it is printed.
type figures struct {
	ready, drill                 *figure
	pathWrites, directWrites, wr *figure
	rtDirect, rtLink, rtAdded    *figure
	faultEffect, faultSeen       []*figure // faultSeen: nil for a probe without a Watch
	peak, suites                 *figure
}

func newFigures() *figures {
	f := &figures{
		ready:        &figure{Name: "environment ready (both regions healthy)", Unit: seconds, Target: &target{AtMost: true, Value: 3}},
		drill:        &figure{Name: "region drill wall (region-outage, default scale)", Unit: seconds, Target: &target{AtMost: true, Value: 60}},
		pathWrites:   &figure{Name: "acknowledged writes, whole path", Unit: perSecond},
		directWrites: &figure{Name: "writes straight into the SQL primary", Unit: perSecond},
		wr:           &figure{Name: "  ratio whole path / direct", Unit: ratio, Target: &target{Value: 0.5}},
		rtDirect:     &figure{Name: "loopback round trip, direct", Unit: seconds},
		rtLink:       &figure{Name: "loopback round trip, one proxied link", Unit: seconds},
		rtAdded:      &figure{Name: "  latency added by one proxied link", Unit: seconds, Target: &target{AtMost: true, Value: 100e-6}},
		peak:         &figure{Name: "peak memory (PSS, drill and its processes)", Unit: size, Target: &target{AtMost: true, Value: 600 << 20}},
		suites:       &figure{Name: "go test ./suites/... wall", Unit: seconds, Target: &target{AtMost: true, Value: 600, Note: "on 2 cores"}},
	}
	for _, p := range faultProbes {
		f.faultEffect = append(f.faultEffect, &figure{Name: fmt.Sprintf("fault to observed effect: %s (%s)", p.Class, p.Name),
			Unit: seconds, Target: &target{AtMost: true, Value: 0.050}})
		var seen *figure
		if p.Watch != nil {
			seen = &figure{Name: "  first seen from outside (its health probe fails)", Unit: seconds, Target: &target{AtMost: true, Value: 0.050}}
		}
		f.faultSeen = append(f.faultSeen, seen)
	}
	return f
}

func (f *figures) list() []*figure {
	out := []*figure{f.ready, f.drill, f.pathWrites, f.directWrites, f.wr, f.rtDirect, f.rtLink, f.rtAdded}
	for k, e := range f.faultEffect {
		out = append(out, e)
		if f.faultSeen[k] != nil {
			out = append(out, f.faultSeen[k])
		}
	}
	return append(out, f.peak, f.suites)
}

type options struct {
	runs, roundTrips, suitesRuns int
	window, memEvery             time.Duration
	warmup                       time.Duration
	suites, drill                bool
	out, bin                     string
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 5, "runs of every figure (BENCH_RUNS in make bench)")
	flag.DurationVar(&o.window, "window", 3*time.Second, "wall time of each write measurement (whole path, then direct)")
	flag.DurationVar(&o.memEvery, "mem-every", time.Second, "how often the drill's memory is sampled (one sample lists the process table and reads each process's smaps_rollup)")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "wall time each write measurement runs before its window opens (connection pools warm up)")
	flag.IntVar(&o.roundTrips, "roundtrips", 2000, "loopback round trips per run, direct and through the link each")
	flag.BoolVar(&o.drill, "drill", true, "run the region drill (its wall time and peak memory); -drill=false leaves them unmeasured")
	flag.BoolVar(&o.suites, "suites", false, "also time go test -count=1 ./suites/... (10-20 minutes)")
	flag.IntVar(&o.suitesRuns, "suites-runs", 1, "times to run the suites with -suites")
	flag.StringVar(&o.out, "out", "runs/bench", "where the drills' folders and logs go")
	flag.StringVar(&o.bin, "bcdr", "", bcdrbin.FlagHelp)
	flag.Parse()
	if o.runs < 1 {
		fmt.Fprintln(os.Stderr, "bench: -runs must be at least 1")
		os.Exit(254)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, o, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	os.Exit(code)
}

func run(ctx context.Context, o options, stdout, log io.Writer) (int, error) {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return 1, err
	}
	var err error
	if o.bin, err = bcdrbin.Build(ctx, o.bin, o.out, log); err != nil {
		return 1, err
	}
	sc := harness.DefaultScenario()
	h := header{Runs: o.runs, Cores: runtime.NumCPU(), Provider: sc.Spec.Provider, Scale: sc.TimeScale(),
		Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH, Started: time.Now()}
	loadBefore := loadAvg()
	figs := newFigures()
	var notes []string
	note := func(format string, a ...any) {
		s := fmt.Sprintf(format, a...)
		notes = append(notes, s)
		fmt.Fprintln(log, "bench:", s)
	}
	for i := 1; i <= o.runs && ctx.Err() == nil; i++ {
		fmt.Fprintf(log, "bench: run %d of %d\n", i, o.runs)
		oneRun(ctx, o, sc, i, figs, log, note)
	}
	if o.suites {
		for i := 1; i <= o.suitesRuns && ctx.Err() == nil; i++ {
			fmt.Fprintf(log, "bench: go test ./suites/... (%d of %d)\n", i, o.suitesRuns)
			d, err := runSuites(ctx, filepath.Join(o.out, fmt.Sprintf("suites-%d.log", i)))
			if ctx.Err() != nil {
				break
			}
			figs.suites.add(d.Seconds())
			if err != nil {
				note("suites run %d: %v (its wall time is counted)", i, err)
			}
		}
	} else {
		figs.suites.NotMeasured = "not measured (use -suites)"
	}
	if !o.drill {
		figs.drill.NotMeasured = "not measured (-drill=false)"
		figs.peak.NotMeasured = figs.drill.NotMeasured
	}
	h.Note = fmt.Sprintf("load average %s before, %s after; medians are judged against the targets", loadBefore, loadAvg())
	if err := writeTable(stdout, h, figs.list()); err != nil {
		return 1, err
	}
	for _, n := range notes {
		fmt.Fprintln(stdout, "  note:", n)
	}
	if ctx.Err() != nil {
		return 2, ctx.Err()
	}
	for _, f := range figs.list() {
		if f.NotMeasured == "" && len(f.Values) == 0 {
			return 1, fmt.Errorf("%s: not measured in any run", strings.TrimSpace(f.Name))
		}
	}
	return 0, nil
}

// oneRun measures every figure once.
func oneRun(ctx context.Context, o options, sc harness.Scenario, i int, figs *figures, log io.Writer, note func(string, ...any)) {
	env, ready, err := bringUp(ctx, sc)
	if err != nil {
		figs.ready.miss()
		note("run %d: environment: %v", i, err)
	} else {
		figs.ready.add(ready.Seconds())
		t, err := measureWrites(ctx, env, sc, o.warmup, o.window)
		switch {
		case err != nil:
			figs.pathWrites.miss()
			figs.directWrites.miss()
			figs.wr.miss()
			note("run %d: writes: %v", i, err)
		default:
			figs.pathWrites.add(t.Path)
			figs.directWrites.add(t.Direct)
			figs.wr.add(t.Path / t.Direct)
			if t.PathLost {
				note("run %d: whole path: not every write was acknowledged (%s)", i, t.PathOutcomes)
			}
		}
		for k, p := range faultProbes {
			ft, err := measureFault(ctx, env, p)
			switch {
			case ft.Applied > 0:
				figs.faultEffect[k].add(ft.Applied.Seconds())
			default:
				figs.faultEffect[k].miss()
			}
			if seen := figs.faultSeen[k]; seen != nil {
				if ft.Watched {
					seen.add(ft.FirstSeen.Seconds())
				} else {
					seen.miss()
				}
			}
			if err != nil {
				note("run %d: fault %s: %v", i, p.Name, err)
			}
		}
		if err := env.Close(context.Background()); err != nil {
			note("run %d: tear down: %v", i, err)
		}
	}
	if direct, linked, err := measureLink(o.roundTrips); err != nil {
		figs.rtDirect.miss()
		figs.rtLink.miss()
		figs.rtAdded.miss()
		note("run %d: link: %v", i, err)
	} else {
		figs.rtDirect.add(direct.Seconds())
		figs.rtLink.add(linked.Seconds())
		figs.rtAdded.add((linked - direct).Seconds())
	}
	if !o.drill {
		return
	}
	dir := filepath.Join(o.out, fmt.Sprintf("drill-%d", i))
	_ = os.RemoveAll(dir)
	r, err := runDrill(ctx, o.bin, dir, i, o.memEvery)
	if err != nil {
		figs.drill.miss()
		figs.peak.miss()
		note("run %d: drill: %v", i, err)
		return
	}
	figs.drill.add(r.Wall.Seconds())
	figs.peak.add(float64(r.Peak))
	fmt.Fprintf(log, "bench: run %d: drill %s, %s, peak %d MiB over %d processes (%d samples)\n", i, r.Verdict, r.Wall.Round(time.Millisecond), r.Peak>>20, r.Procs, r.Samples)
	if r.Verdict != "pass" {
		note("run %d: the drill's verdict was %s (%s): its wall time is counted", i, r.Verdict, dir)
	}
}

// loadAvg is the 1-minute load average, or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
