// Command leaks is the leak campaign: it runs region drills back to back,
// some interrupted by SIGINT at a random moment, some ended by their
// --timeout, some by a deliberate panic (the test-only BCDR_TEST_PANIC_AT),
// the rest left to finish, then looks for anything of theirs left behind —
// processes (the bcdr binary it built, AOS stubs re-executed from it,
// PostgreSQL servers whose data is in its temp dir), the listening ports
// they hold, System V and POSIX shared memory left by PostgreSQL, containers,
// networks and volumes labelled with its runs' ids, and bcdr-* work
// directories — runs `bcdr clean` and looks again. It prints one table and
// exits 1 on a leak (or a drill whose exit code does not match how it
// ended).
//
//	go run ./cmd/leaks [-runs 20] [-sigint 5] [-deadline 5] [-panic 2] [-provider local] [-out runs/leaks]
//
// Every drill runs with TMPDIR set to the campaign's own temp dir and, on
// containers, BCDR_RUN_ID set to a campaign id, so only what the campaign
// created is looked at; shared memory counts only segments that appeared
// during the campaign and that no live process holds.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/bcdr-harness/bcdr/cmd/internal/bcdrbin"
	"github.com/bcdr-harness/bcdr/topology"
	_ "github.com/bcdr-harness/bcdr/topology/providers" // every provider (-provider NAME)
)

// Exit codes of bcdr.
const (
	exitUnknown  = 2
	exitInternal = 255
)

type drill struct {
	n       int
	mode    string // normal, sigint, deadline, panic
	at      time.Duration
	runID   string
	code    int
	wall    time.Duration
	left    leftovers // right after the drill
	unusual string
}

func main() {
	runs := flag.Int("runs", 20, "drills in all")
	nSig := flag.Int("sigint", 5, "drills interrupted by SIGINT at a random moment")
	nDead := flag.Int("deadline", 5, "drills ended by a random --timeout")
	nPanic := flag.Int("panic", 2, "drills ended by a deliberate panic (BCDR_TEST_PANIC_AT, test only)")
	provider := flag.String("provider", topology.DefaultSpec().Provider, "provider: "+strings.Join(topology.Providers(), ", "))
	scenario := flag.String("scenario", "region-outage", "the drill")
	within := flag.Duration("within", 40*time.Second, "random moments (interrupt, deadline, panic) fall within this wall time of the start")
	seed := flag.Uint64("seed", 1, "seed of the modes' order and moments")
	out := flag.String("out", "runs/leaks", "where the runs' folders, the binary and the temp dir go")
	bin := flag.String("bcdr", "", bcdrbin.FlagHelp)
	flag.Parse()
	def, ok := topology.LookupProvider(*provider)
	if !ok {
		fatal(fmt.Errorf("unknown provider %q (have %s)", *provider, strings.Join(topology.Providers(), ", ")))
	}
	setKinds(def.LeftoverKinds)
	if *nSig+*nDead+*nPanic > *runs {
		*nSig, *nDead, *nPanic = scale(*runs, *nSig, *nDead, *nPanic)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	abs, err := filepath.Abs(*out)
	if err != nil {
		fatal(err)
	}
	tmp := filepath.Join(abs, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		fatal(err)
	}
	if *bin, err = bcdrbin.Build(ctx, *bin, abs, os.Stderr); err != nil {
		fatal(err)
	}
	shm := map[string]bool{}
	for k := range sharedMemory() {
		shm[k] = true
	}
	scope := scope{bin: *bin, tmp: tmp, provider: def.Leftovers, runKinds: def.LeftoverKinds, shmBefore: shm}

	rng := rand.New(rand.NewPCG(*seed, 13))
	modes := make([]string, *runs)
	for i := range modes {
		switch {
		case i < *nSig:
			modes[i] = "sigint"
		case i < *nSig+*nDead:
			modes[i] = "deadline"
		case i < *nSig+*nDead+*nPanic:
			modes[i] = "panic"
		default:
			modes[i] = "normal"
		}
	}
	rng.Shuffle(len(modes), func(i, j int) { modes[i], modes[j] = modes[j], modes[i] })
	stamp := time.Now().Format("150405")
	var drills []*drill
	panics := 0
	for i, mode := range modes {
		if ctx.Err() != nil {
			break
		}
		d := &drill{n: i + 1, mode: mode, runID: fmt.Sprintf("leaks-%s-%d", stamp, i+1)}
		if mode != "normal" {
			d.at = time.Duration((1 + rng.Float64()*(within.Seconds()-1)) * float64(time.Second)).Round(100 * time.Millisecond)
		}
		scope.runIDs = append(scope.runIDs, d.runID)
		args := []string{"drill", *scenario, "--seed", strconv.Itoa(i + 1), "--out", filepath.Join(abs, fmt.Sprintf("%02d-%s", d.n, mode)),
			"--progress", "none", "--set", "provider=" + *provider}
		env := append(os.Environ(), "TMPDIR="+tmp, "BCDR_RUN_ID="+d.runID, "BCDR_STATE="+filepath.Join(abs, "state"))
		switch mode {
		case "deadline":
			args = append(args, "--timeout", d.at.String())
		case "panic":
			at := d.at.String()
			if panics%2 == 1 {
				at = "main:" + at // every other one in the runner itself
			}
			panics++
			env = append(env, "BCDR_TEST_PANIC_AT="+at)
		}
		cmd := exec.Command(*bin, args...)
		cmd.Env = env
		var outb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &outb, &outb
		start := time.Now()
		if err := cmd.Start(); err != nil {
			fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		var sig <-chan time.Time
		if mode == "sigint" {
			sig = time.After(d.at)
		}
		guard := time.After(10 * time.Minute)
	wait:
		for {
			select {
			case <-done:
				break wait
			case <-sig:
				_ = cmd.Process.Signal(os.Interrupt)
				sig = nil
			case <-guard:
				d.unusual = "still running after 10 min: killed"
				_ = cmd.Process.Kill()
			case <-ctx.Done():
				_ = cmd.Process.Signal(os.Interrupt)
				<-done
				break wait
			}
		}
		d.wall = time.Since(start)
		d.code = cmd.ProcessState.ExitCode()
		if why := expectCode(mode, d.code); why != "" && d.unusual == "" {
			d.unusual = why + ": " + lastLine(outb.String())
		}
		// A drill's own teardown is done when it exits; give the kernel a
		// moment to reap what it killed.
		time.Sleep(500 * time.Millisecond)
		d.left = scope.find(false)
		fmt.Fprintf(os.Stderr, "leaks: #%-2d %-8s %-7s exit %-3d %5.1fs  left: %s\n", d.n, mode, atString(d), d.code, d.wall.Seconds(), d.left.summary())
		drills = append(drills, d)
	}

	before := scope.find(true)
	// This machine first (no provider's own clean-up), then each run's
	// resources of the provider by its run id.
	cleanArgs := []string{"clean", "--state", filepath.Join(abs, "state"), "--min-age", "0s"}
	for _, d := range topology.ProviderDefs() {
		if d.Clean != nil {
			cleanArgs = append(cleanArgs, "--"+d.Name+"=false")
		}
	}
	cl := exec.Command(*bin, cleanArgs...)
	cl.Env = append(os.Environ(), "TMPDIR="+tmp)
	cleanOut, _ := cl.CombinedOutput()
	if def.Clean != nil {
		for _, id := range scope.runIDs {
			c := exec.Command(*bin, "clean", "--run-id", id)
			c.Env = cl.Env
			o, _ := c.CombinedOutput()
			cleanOut = append(cleanOut, o...)
		}
	}
	after := scope.find(true)

	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "#\tMODE\tAT\tEXIT\tWALL\tLEFT AFTER THE DRILL\tNOTE\n")
	bad := false
	for _, d := range drills {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%.1fs\t%s\t%s\n", d.n, d.mode, atString(d), d.code, d.wall.Seconds(), d.left.summary(), d.unusual)
		bad = bad || d.unusual != ""
	}
	tw.Flush()
	fmt.Printf("\nleak campaign: %d drills of %s on %s (%d SIGINT, %d deadline, %d panic)\n", len(drills), *scenario, *provider,
		count(drills, "sigint"), count(drills, "deadline"), count(drills, "panic"))
	tw = tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  WHAT\tBEFORE bcdr clean\tAFTER bcdr clean\n")
	for _, k := range kinds {
		fmt.Fprintf(tw, "  %s\t%d\t%d\n", k, len(before[k]), len(after[k]))
	}
	tw.Flush()
	for _, k := range kinds {
		for _, s := range before[k] {
			fmt.Printf("  left by the drills: %s: %s\n", k, s)
		}
		for _, s := range after[k] {
			fmt.Printf("  left after bcdr clean: %s: %s\n", k, s)
		}
	}
	if s := strings.TrimSpace(string(cleanOut)); s != "" {
		fmt.Printf("  bcdr clean said: %s\n", strings.ReplaceAll(s, "\n", "; "))
	}
	switch {
	case after.total() > 0:
		fmt.Println("LEAK: something of ours is left even after bcdr clean")
		os.Exit(1)
	case before.total() > 0:
		fmt.Println("LEAK: the drills left something behind (bcdr clean removed it)")
		os.Exit(1)
	case bad:
		fmt.Println("FAIL: a drill did not exit as it should have")
		os.Exit(1)
	}
	fmt.Println("OK: nothing of ours left")
}

// expectCode says what is wrong with a drill's exit code ("" when nothing).
func expectCode(mode string, code int) string {
	switch mode {
	case "normal":
		if code < 0 || code > exitUnknown {
			return fmt.Sprintf("exit %d, want 0, 1 or 2", code)
		}
	case "sigint", "deadline":
		// A moment before the drill really started may end it otherwise;
		// it must still not crash.
		if code != exitUnknown {
			return fmt.Sprintf("exit %d, want %d", code, exitUnknown)
		}
	case "panic":
		if code != exitInternal {
			return fmt.Sprintf("exit %d, want %d", code, exitInternal)
		}
	}
	return ""
}

func atString(d *drill) string {
	if d.mode == "normal" {
		return "-"
	}
	return d.at.String()
}

func count(ds []*drill, mode string) int {
	n := 0
	for _, d := range ds {
		if d.mode == mode {
			n++
		}
	}
	return n
}

// scale shrinks the mode counts to fit runs, keeping their proportions.
func scale(runs int, ns ...int) (int, int, int) {
	total := 0
	for _, n := range ns {
		total += n
	}
	out := make([]int, len(ns))
	for i, n := range ns {
		out[i] = n * runs / total
		if out[i] == 0 && n > 0 && runs > 0 {
			out[i] = 1
		}
	}
	for out[0]+out[1]+out[2] > runs {
		for i := range out {
			if out[i] > 1 && out[0]+out[1]+out[2] > runs {
				out[i]--
			}
		}
	}
	return out[0], out[1], out[2]
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "leaks:", err)
	os.Exit(2)
}
