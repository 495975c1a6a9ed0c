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
	c := newCampaign(ctx, def, *out, *bin)
	c.scenario, c.provider, c.within = *scenario, *provider, *within

	rng := rand.New(rand.NewPCG(*seed, 13))
	modes := drillModes(rng, *runs, *nSig, *nDead, *nPanic)
	stamp := time.Now().Format("150405")
	var drills []*drill
	for i, mode := range modes {
		if ctx.Err() != nil {
			break
		}
		drills = append(drills, c.runDrill(ctx, rng, i, mode, stamp))
	}

	before := c.scope.find(true)
	cleanOut := c.clean(def)
	after := c.scope.find(true)
	c.report(drills, before, after, cleanOut)
}

// campaign is a leak campaign: the drill it runs, where, and what belongs
// to it.
type campaign struct {
	scenario, provider string
	// within bounds the random moments of the interrupts, deadlines and
	// panics.
	within time.Duration
	// abs is the output directory, absolute.
	abs   string
	scope scope
	// panics counts the panic drills started so far.
	panics int
}

// newCampaign makes the campaign's temp dir under out, builds (or takes)
// the bcdr binary there and notes the shared memory that exists before it
// starts.
func newCampaign(ctx context.Context, def topology.ProviderDef, out, bin string) *campaign {
	abs, err := filepath.Abs(out)
	if err != nil {
		fatal(err)
	}
	tmp := filepath.Join(abs, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		fatal(err)
	}
	if bin, err = bcdrbin.Build(ctx, bin, abs, os.Stderr); err != nil {
		fatal(err)
	}
	shm := map[string]bool{}
	for k := range sharedMemory() {
		shm[k] = true
	}
	return &campaign{abs: abs, scope: scope{bin: bin, tmp: tmp, provider: def.Leftovers, runKinds: def.LeftoverKinds, shmBefore: shm}}
}

// drillModes is the order of the runs drills: nSig interrupted, nDead
// ended by their deadline, nPanic by a panic, the rest normal, shuffled.
func drillModes(rng *rand.Rand, runs, nSig, nDead, nPanic int) []string {
	modes := make([]string, runs)
	for i := range modes {
		switch {
		case i < nSig:
			modes[i] = "sigint"
		case i < nSig+nDead:
			modes[i] = "deadline"
		case i < nSig+nDead+nPanic:
			modes[i] = "panic"
		default:
			modes[i] = "normal"
		}
	}
	rng.Shuffle(len(modes), func(i, j int) { modes[i], modes[j] = modes[j], modes[i] })
	return modes
}

// runDrill runs drill i of the campaign in mode, at a random moment for
// the modes that end it early, and looks for what it left.
func (c *campaign) runDrill(ctx context.Context, rng *rand.Rand, i int, mode, stamp string) *drill {
	d := &drill{n: i + 1, mode: mode, runID: fmt.Sprintf("leaks-%s-%d", stamp, i+1)}
	if mode != "normal" {
		d.at = time.Duration((1 + rng.Float64()*(c.within.Seconds()-1)) * float64(time.Second)).Round(100 * time.Millisecond)
	}
	c.scope.runIDs = append(c.scope.runIDs, d.runID)
	args := []string{"drill", c.scenario, "--seed", strconv.Itoa(i + 1), "--out", filepath.Join(c.abs, fmt.Sprintf("%02d-%s", d.n, mode)),
		"--progress", "none", "--set", "provider=" + c.provider}
	env := append(os.Environ(), "TMPDIR="+c.scope.tmp, "BCDR_RUN_ID="+d.runID, "BCDR_STATE="+filepath.Join(c.abs, "state"))
	switch mode {
	case "deadline":
		args = append(args, "--timeout", d.at.String())
	case "panic":
		at := d.at.String()
		if c.panics%2 == 1 {
			at = "main:" + at // every other one in the runner itself
		}
		c.panics++
		env = append(env, "BCDR_TEST_PANIC_AT="+at)
	}
	cmd := exec.Command(c.scope.bin, args...)
	cmd.Env = env
	var outb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outb, &outb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	waitDrill(ctx, cmd, d)
	d.wall = time.Since(start)
	d.code = cmd.ProcessState.ExitCode()
	if why := expectCode(mode, d.code); why != "" && d.unusual == "" {
		d.unusual = why + ": " + lastLine(outb.String())
	}
	// A drill's own teardown is done when it exits; give the kernel a
	// moment to reap what it killed.
	time.Sleep(500 * time.Millisecond)
	d.left = c.scope.find(false)
	fmt.Fprintf(os.Stderr, "leaks: #%-2d %-8s %-7s exit %-3d %5.1fs  left: %s\n", d.n, mode, atString(d), d.code, d.wall.Seconds(), d.left.summary())
	return d
}

// waitDrill waits for the drill's process to exit: in sigint mode it
// interrupts it at d.at; after 10 minutes it kills it (noted as unusual);
// when the campaign itself is interrupted (ctx) it interrupts the drill
// and waits for it.
func waitDrill(ctx context.Context, cmd *exec.Cmd, d *drill) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	var sig <-chan time.Time
	if d.mode == "sigint" {
		sig = time.After(d.at)
	}
	guard := time.After(10 * time.Minute)
	for {
		select {
		case <-done:
			return
		case <-sig:
			_ = cmd.Process.Signal(os.Interrupt)
			sig = nil
		case <-guard:
			d.unusual = "still running after 10 min: killed"
			_ = cmd.Process.Kill()
		case <-ctx.Done():
			_ = cmd.Process.Signal(os.Interrupt)
			<-done
			return
		}
	}
}

// clean runs bcdr clean: this machine first (no provider's own
// clean-up), then, when the provider has one, each run's resources of the
// provider by its run id. It returns what they said.
func (c *campaign) clean(def topology.ProviderDef) []byte {
	cleanArgs := []string{"clean", "--state", filepath.Join(c.abs, "state"), "--min-age", "0s"}
	for _, d := range topology.ProviderDefs() {
		if d.Clean != nil {
			cleanArgs = append(cleanArgs, "--"+d.Name+"=false")
		}
	}
	cl := exec.Command(c.scope.bin, cleanArgs...)
	cl.Env = append(os.Environ(), "TMPDIR="+c.scope.tmp)
	cleanOut, _ := cl.CombinedOutput()
	if def.Clean != nil {
		for _, id := range c.scope.runIDs {
			rc := exec.Command(c.scope.bin, "clean", "--run-id", id)
			rc.Env = cl.Env
			o, _ := rc.CombinedOutput()
			cleanOut = append(cleanOut, o...)
		}
	}
	return cleanOut
}

// report prints the drills' table and what was left before and after bcdr
// clean, and exits 1 on a leak or a drill that did not exit as it should
// have.
func (c *campaign) report(drills []*drill, before, after leftovers, cleanOut []byte) {
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "#\tMODE\tAT\tEXIT\tWALL\tLEFT AFTER THE DRILL\tNOTE\n")
	bad := false
	for _, d := range drills {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%.1fs\t%s\t%s\n", d.n, d.mode, atString(d), d.code, d.wall.Seconds(), d.left.summary(), d.unusual)
		bad = bad || d.unusual != ""
	}
	tw.Flush()
	fmt.Printf("\nleak campaign: %d drills of %s on %s (%d SIGINT, %d deadline, %d panic)\n", len(drills), c.scenario, c.provider,
		count(drills, "sigint"), count(drills, "deadline"), count(drills, "panic"))
	printLeftovers(before, after, cleanOut)
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

// printLeftovers prints, per kind, how much was left before and after
// bcdr clean, then each thing left, and what bcdr clean said.
func printLeftovers(before, after leftovers, cleanOut []byte) {
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
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
