// Command flakes is the flake campaign: it runs `go test -count=1 -json`
// on the suites (or the packages given) several times and prints, for
// each test row (a test or a subtest) that failed or skipped in any run,
// how many runs passed, failed and skipped it, with the first failure's
// and skip's message. A row that both passed and failed is flaky.
//
//	go run ./cmd/flakes [-runs 5] [-p 1] [-run REGEXP] [-all] [-out runs/flakes] [PACKAGE ...]
//
// The packages default to ./suites/... Each run's JSON stream is kept in
// -out as run-N.json. It exits 1 when a row failed in some run (or a
// package failed outside any test: a build error, a panic, a time-out),
// 2 when interrupted.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// event is one line of go test -json (test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// row is one test row's record over the runs.
type row struct {
	Package, Test        string
	Pass, Fail, Skip     int
	FirstFail, FirstSkip string   // the message of the first failure, skip
	output               []string // the current run's output lines
}

// flaky tells whether the row both passed and failed.
func (r *row) flaky() bool { return r.Pass > 0 && r.Fail > 0 }

// tally is every row seen over the runs.
type tally struct {
	rows map[string]*row
	runs int
}

func newTally() *tally { return &tally{rows: map[string]*row{}} }

func (t *tally) row(pkg, test string) *row {
	k := pkg + "\x00" + test
	r := t.rows[k]
	if r == nil {
		r = &row{Package: pkg, Test: test}
		t.rows[k] = r
	}
	return r
}

// read adds one run's test2json stream. A package that failed with no
// test failing (a build error, a panic, a time-out) is a row of its own,
// named by the package with an empty test.
func (t *tally) read(run int, r io.Reader) error {
	t.runs++
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	failedIn := map[string]bool{} // packages where a test failed this run
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] != '{' {
			continue // go's own messages outside the JSON stream
		}
		var e event
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("run %d: %w: %s", run, err, line)
		}
		if e.Test == "" && e.Action != "fail" && e.Action != "output" {
			continue
		}
		rw := t.row(e.Package, e.Test)
		switch e.Action {
		case "run":
			rw.output = nil
		case "output":
			if s := strings.TrimRight(e.Output, "\n"); s != "" {
				rw.output = append(rw.output, s)
			}
		case "pass":
			rw.Pass++
			rw.output = nil
		case "fail":
			if e.Test == "" && failedIn[e.Package] {
				rw.output = nil
				continue // the package failed because a test did
			}
			if e.Test != "" {
				failedIn[e.Package] = true
			}
			rw.Fail++
			if rw.FirstFail == "" {
				rw.FirstFail = message(rw.output)
			}
			rw.output = nil
		case "skip":
			rw.Skip++
			if rw.FirstSkip == "" {
				rw.FirstSkip = message(rw.output)
			}
			rw.output = nil
		}
	}
	// A package-level row that only ever had output is not a row.
	for k, rw := range t.rows {
		if rw.Test == "" && rw.Fail == 0 {
			delete(t.rows, k)
		}
	}
	return sc.Err()
}

// message is the most telling line of a row's output: the last one that
// is not go test's own "--- FAIL/SKIP" or "=== RUN" marker.
func message(out []string) string {
	for i := len(out) - 1; i >= 0; i-- {
		s := strings.TrimSpace(out[i])
		if s == "" || strings.HasPrefix(s, "---") || strings.HasPrefix(s, "===") || s == "FAIL" || s == "PASS" ||
			strings.HasPrefix(s, "FAIL\t") || strings.HasPrefix(s, "ok  \t") {
			continue
		}
		if len(s) > 160 {
			s = s[:157] + "..."
		}
		return s
	}
	return ""
}

// write prints the rows that failed or skipped (every row with all) and a
// summary line; it returns how many rows failed in some run.
func (t *tally) write(w io.Writer, all bool) (failing int, err error) {
	var rows []*row
	flaky, skipped := 0, 0
	for _, r := range t.rows {
		if r.Fail > 0 {
			failing++
		}
		if r.flaky() {
			flaky++
		}
		if r.Skip > 0 {
			skipped++
		}
		if all || r.Fail > 0 || r.Skip > 0 {
			rows = append(rows, r)
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Fail != rows[j].Fail {
			return rows[i].Fail > rows[j].Fail
		}
		if rows[i].Package != rows[j].Package {
			return rows[i].Package < rows[j].Package
		}
		return rows[i].Test < rows[j].Test
	})
	fmt.Fprintf(w, "flakes: %d run(s), %d test rows: %d failed in some run (%d flaky: passed in others), %d skipped in some run\n",
		t.runs, len(t.rows), failing, flaky, skipped)
	if len(rows) == 0 {
		return failing, nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PACKAGE\tTEST\tPASS\tFAIL\tSKIP\tFLAKY\tFIRST MESSAGE")
	for _, r := range rows {
		test := r.Test
		if test == "" {
			test = "(package: build, panic or time-out)"
		}
		msg := r.FirstFail
		if msg == "" {
			msg = r.FirstSkip
		}
		fl := ""
		if r.flaky() {
			fl = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", strings.TrimPrefix(r.Package, "github.com/bcdr-harness/bcdr/"), test, r.Pass, r.Fail, r.Skip, fl, msg)
	}
	return failing, tw.Flush()
}

func main() {
	runs := flag.Int("runs", 5, "times to run the packages (FLAKES_RUNS in make flakes)")
	runRE := flag.String("run", "", "only the tests matching this regular expression (go test -run)")
	all := flag.Bool("all", false, "print every row, not only those that failed or skipped")
	out := flag.String("out", "runs/flakes", "where each run's JSON stream goes")
	timeout := flag.Duration("timeout", 60*time.Minute, "go test -timeout of each run")
	// One package at a time, as make test runs them: two suite packages at
	// once run their drills beside each other on a 2-core machine, a load
	// (average 20 to 40) that starves the workload and measures the
	// machine, not the suites.
	par := flag.Int("p", 1, "go test -p: test packages run at once (make test uses 1)")
	flag.Parse()
	pkgs := flag.Args()
	if len(pkgs) == 0 {
		pkgs = []string{"./suites/..."}
	}
	if *runs < 1 {
		fmt.Fprintln(os.Stderr, "flakes: -runs must be at least 1")
		os.Exit(254)
	}
	if *par < 1 {
		fmt.Fprintln(os.Stderr, "flakes: -p must be at least 1")
		os.Exit(254)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fatal(err)
	}
	t := newTally()
	for i := 1; i <= *runs && ctx.Err() == nil; i++ {
		args := []string{"test", "-count=1", "-json", "-p", strconv.Itoa(*par), "-timeout", timeout.String()}
		if *runRE != "" {
			args = append(args, "-run", *runRE)
		}
		args = append(args, pkgs...)
		path := filepath.Join(*out, fmt.Sprintf("run-%d.json", i))
		f, err := os.Create(path)
		if err != nil {
			fatal(err)
		}
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Stdout, cmd.Stderr = f, os.Stderr
		stopGroup(cmd)
		start := time.Now()
		err = cmd.Run() // a failing test is in the stream; the exit status adds nothing
		killGroup(cmd)
		f.Close()
		fmt.Fprintf(os.Stderr, "flakes: run %d of %d: %s (%v)\n", i, *runs, time.Since(start).Round(time.Second), exitText(err))
		if ctx.Err() != nil {
			break
		}
		f, err = os.Open(path)
		if err != nil {
			fatal(err)
		}
		err = t.read(i, f)
		f.Close()
		if err != nil {
			fatal(err)
		}
	}
	failing, err := t.write(os.Stdout, *all)
	if err != nil {
		fatal(err)
	}
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(os.Stderr, "flakes: interrupted")
		os.Exit(2)
	case failing > 0:
		os.Exit(1)
	}
}

// interruptGrace is how long an interrupted go test may take to end its
// test binaries (their drills' processes die with them) before the whole
// group is killed.
const interruptGrace = 30 * time.Second

// stopGroup runs go test in its own process group and makes the
// campaign's interrupt reach all of it: the go command and every test
// binary it runs get SIGINT, as from a terminal's Ctrl-C. Interrupting only
// the go command (or killing it, exec's default) left its test binaries
// running their drills for up to the whole -timeout, on a machine the next
// job then found loaded.
func stopGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGINT}
	cmd.Cancel = func() error {
		fmt.Fprintf(os.Stderr, "flakes: interrupted: waiting up to %s for go test and its test binaries to end\n", interruptGrace)
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	}
	cmd.WaitDelay = interruptGrace
}

// killGroup kills whatever of go test's process group is still running
// once it has returned (nothing, unless the grace ran out).
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}

func exitText(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "flakes:", err)
	os.Exit(1)
}
