// Command campaign measures whether the region drill's verdict depends on
// the machine's load: it runs `bcdr drill region-outage` several times on an
// idle machine and beside CPU-bound processes, and the negative controls
// under the same load, then prints one table. A verdict that moves with the
// load is a false fail (or a false pass) of the harness, not of the
// environment.
//
//	go run ./cmd/campaign [-runs 10] [-controls 10] [-load 2] [-provider local] [-skip-idle] [-skip-loaded] [-out runs/campaign]
//
// It exits 1 when a criterion is broken: a region drill that fails (idle or
// loaded), a region drill that is not pass when idle, or a control that
// does not fail its own check.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/bcdr-harness/bcdr/cmd/internal/bcdrbin"
	"github.com/bcdr-harness/bcdr/topology"
	_ "github.com/bcdr-harness/bcdr/topology/providers" // every provider (-provider NAME)
)

// control is a negative control: a defect, and the checks one of which
// must fail because of it.
type control struct {
	name  string
	set   []string
	fails []string
}

var controls = []control{
	{"skip-final-log-backup", []string{"skip-final-log-backup=true"}, []string{"failback-loss"}},
	{"slow-switchover", []string{"slow-switchover=30m"}, []string{"failback-interruption", "batch-outage"}},
	{"log-backup-interval=40m", []string{"log-backup-interval=40m"}, []string{"rpo", "replication-lag"}},
}

// figures shown per condition (service time, from result.json).
var figures = []string{"failback-interruption", "replication-lag", "rpo"}

type result struct {
	Verdict string  `json:"verdict"`
	WallS   float64 `json:"wall_s"`
	Checks  []struct {
		Name     string  `json:"name"`
		Verdict  string  `json:"verdict"`
		Observed float64 `json:"observed_service_s"`
		Noise    float64 `json:"noise_service_s"`
		TooClose bool    `json:"too_close"`
	} `json:"checks"`
}

type row struct {
	label   string
	runs    []result
	errs    []string
	control *control
}

func main() {
	runs := flag.Int("runs", 10, "region drills per condition (idle, loaded)")
	nControls := flag.Int("controls", 10, "runs of each negative control (under load)")
	load := flag.Int("load", 2, "CPU-bound processes beside the loaded runs")
	provider := flag.String("provider", topology.DefaultSpec().Provider, "provider: "+strings.Join(topology.Providers(), ", "))
	out := flag.String("out", "runs/campaign", "where the runs' folders go")
	bin := flag.String("bcdr", "", bcdrbin.FlagHelp)
	skipIdle := flag.Bool("skip-idle", false, "skip the idle condition")
	skipLoaded := flag.Bool("skip-loaded", false, "skip the loaded conditions (the drill and the controls beside busy loops)")
	flag.Parse()
	if _, ok := topology.LookupProvider(*provider); !ok {
		fatal(fmt.Errorf("unknown provider %q (have %s)", *provider, strings.Join(topology.Providers(), ", ")))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fatal(err)
	}
	var err error
	if *bin, err = bcdrbin.Build(ctx, *bin, *out, os.Stderr); err != nil {
		fatal(err)
	}
	drill := func(label string, seed int, set []string) (result, error) {
		dir := filepath.Join(*out, fmt.Sprintf("%s-%d", slug(label), seed))
		args := []string{"drill", "region-outage", "--seed", fmt.Sprint(seed), "--out", dir, "--progress", "none", "--set", "provider=" + *provider}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		cmd := exec.CommandContext(ctx, *bin, args...)
		stopGently(cmd)
		outb, err := cmd.CombinedOutput()
		var r result
		b, rerr := os.ReadFile(filepath.Join(dir, "result.json"))
		if rerr != nil {
			return r, fmt.Errorf("%s seed %d: no result (%v): %s", label, seed, err, tail(string(outb)))
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return r, err
		}
		fmt.Fprintf(os.Stderr, "campaign: %-32s seed %-3d %-8s %5.1fs wall\n", label, seed, r.Verdict, r.WallS)
		return r, nil
	}
	var rows []*row
	run := func(r *row, n int, set []string) {
		if n <= 0 {
			return // a condition not asked for (-controls 0) is not a row
		}
		for seed := 1; seed <= n && ctx.Err() == nil; seed++ {
			res, err := drill(r.label, seed, set)
			if err != nil {
				r.errs = append(r.errs, err.Error())
				continue
			}
			r.runs = append(r.runs, res)
		}
		rows = append(rows, r)
	}
	if !*skipIdle {
		run(&row{label: "region-outage idle"}, *runs, nil)
	}
	if !*skipLoaded {
		stopLoad := startLoad(*load)
		run(&row{label: fmt.Sprintf("region-outage beside %d busy loops", *load)}, *runs, nil)
		for i := range controls {
			c := &controls[i]
			run(&row{label: c.name + " (loaded)", control: c}, *nControls, c.set)
		}
		stopLoad()
	}

	ok := report(os.Stdout, rows, *provider, *load)
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "campaign: interrupted")
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// drillGrace is how long an interrupted drill may take to tear its
// environment down (containers, networks, volumes) before it is killed.
const drillGrace = 2 * time.Minute

// stopGently makes cmd end the way a user at its terminal would end it: on
// the campaign's interrupt the drill gets one SIGINT, tears down what it
// started and writes what it has; only if it is still running drillGrace
// later is it killed. The drill runs in its own process group, so a Ctrl-C
// at the terminal reaches it once, through the campaign (bcdr exits at once,
// leaving its containers, on a second interrupt), and it gets SIGINT too if
// the campaign dies without forwarding one.
func stopGently(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGINT}
	cmd.Cancel = func() error {
		fmt.Fprintf(os.Stderr, "campaign: interrupted: waiting up to %s for the drill to tear down\n", drillGrace)
		return cmd.Process.Signal(os.Interrupt)
	}
	cmd.WaitDelay = drillGrace
}

// startLoad starts n CPU-bound processes; the returned function ends them.
func startLoad(n int) func() {
	var cmds []*exec.Cmd
	for i := 0; i < n; i++ {
		c := exec.Command("sh", "-c", "while :; do :; done")
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			fatal(err)
		}
		cmds = append(cmds, c)
	}
	return func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}
}

func report(w *os.File, rows []*row, provider string, load int) bool {
	fmt.Fprintf(w, "\ncampaign: bcdr drill region-outage on %s, %d cores, %s\n", provider, runtime.NumCPU(), time.Now().Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "CONDITION\tRUNS\tPASS\tUNKNOWN\tFAIL\tTOO CLOSE")
	for _, f := range figures {
		fmt.Fprintf(tw, "\t%s median (max)", f)
	}
	fmt.Fprintf(tw, "\tWALL median\tCRITERION\n")
	all := true
	for _, r := range rows {
		count := map[string]int{}
		tooClose := 0
		var walls []float64
		for _, res := range r.runs {
			count[res.Verdict]++
			walls = append(walls, res.WallS)
			for _, c := range res.Checks {
				if c.TooClose {
					tooClose++
				}
			}
		}
		crit := ""
		ok := len(r.errs) == 0 && len(r.runs) > 0
		switch {
		case r.control != nil:
			caught := 0
			for _, res := range r.runs {
				for _, c := range res.Checks {
					if c.Verdict == "fail" && contains(r.control.fails, c.Name) {
						caught++
						break
					}
				}
			}
			ok = ok && caught == len(r.runs)
			crit = fmt.Sprintf("fails %s: %d/%d", strings.Join(r.control.fails, " or "), caught, len(r.runs))
		case strings.Contains(r.label, "idle"):
			ok = ok && count["pass"] == len(r.runs)
			crit = fmt.Sprintf("pass: %d/%d", count["pass"], len(r.runs))
		default:
			ok = ok && count["fail"] == 0
			crit = fmt.Sprintf("never fail: %d/%d", len(r.runs)-count["fail"], len(r.runs))
		}
		if !ok {
			crit += "  BROKEN"
		}
		all = all && ok
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d", r.label, len(r.runs), count["pass"], count["unknown"], count["fail"], tooClose)
		for _, f := range figures {
			var v []float64
			for _, res := range r.runs {
				for _, c := range res.Checks {
					if c.Name == f {
						v = append(v, c.Observed)
					}
				}
			}
			if len(v) == 0 {
				fmt.Fprintf(tw, "\t-")
				continue
			}
			sort.Float64s(v)
			fmt.Fprintf(tw, "\t%s (%s)", dur(median(v)), dur(v[len(v)-1]))
		}
		wall := "-"
		if len(walls) > 0 {
			sort.Float64s(walls)
			wall = fmt.Sprintf("%.1fs", median(walls))
		}
		fmt.Fprintf(tw, "\t%s\t%s\n", wall, crit)
	}
	tw.Flush()
	for _, r := range rows {
		for _, e := range r.errs {
			fmt.Fprintf(w, "error: %s\n", e)
		}
	}
	return all
}

// slug makes a folder name of a label: letters, digits and dashes.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

func median(v []float64) float64 {
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func dur(s float64) string {
	d := time.Duration(s * float64(time.Second))
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "campaign:", err)
	os.Exit(2)
}
