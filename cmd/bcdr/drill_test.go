package main

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/report"
)

// junit is the part of JUnit XML that CI servers read.
type junit struct {
	XMLName xml.Name `xml:"testsuites"`
	Suites  []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Cases    []struct {
			Name    string `xml:"name,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// copyDir copies the files of a run folder.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readRun(t *testing.T, dir string) (report.Result, junit) {
	t.Helper()
	r, err := report.ReadResult(dir)
	if err != nil {
		t.Fatal(err)
	}
	var j junit
	b, err := os.ReadFile(filepath.Join(dir, report.JUnitFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(b, &j); err != nil {
		t.Fatalf("junit.xml does not parse: %v", err)
	}
	for _, f := range []string{report.HistoryFile, report.HTMLFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s missing or empty (%v)", f, err)
		}
	}
	return r, j
}

// skipIfTooClose skips a drill's subtest when the drill ended unknown only
// because it was too close to call on this machine (harness.TooCloseOnly:
// the harness's own timing noise covers the gap to the budget): a loaded
// machine decided nothing, which is neither the pass nor the failure the
// test is about. Any other unknown is left to the test to fail.
func skipIfTooClose(t *testing.T, dir string, code int) {
	t.Helper()
	if code != exitUnknown {
		return
	}
	r, err := report.ReadResult(dir)
	if err != nil {
		return
	}
	if why, ok := harness.TooCloseOnly(r.Checks, r.Reason); ok {
		t.Skipf("too close to call on this machine, not judged: %s", why)
	}
}

// requireVerdict skips a subtest built on an earlier drill that did not
// reach the verdict it needs (skipped as too close to call, or failed).
func requireVerdict(t *testing.T, dir string, want assertions.Verdict) {
	t.Helper()
	r, err := report.ReadResult(dir)
	if err != nil {
		t.Skipf("the drill it builds on wrote no result: %v", err)
	}
	if r.Verdict != want {
		t.Skipf("the drill it builds on ended %s, not %s: %s", r.Verdict, want, r.Reason)
	}
}

var plainLine = regexp.MustCompile(`^\d\d:\d\d:\d\d \+\s*\d+\.\ds\s+\[[0-9hms]+\]  \S`)

// Three drills in a row, one at a time (the machine has two cores): one
// that passes, one from a scenario file whose RPO check fails, one
// interrupted half way; then bcdr trend over the three.
func TestDrillsPassFailInterruptAndTrend(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three drills")
	}
	sb := newSandbox(t)
	runs := t.TempDir()
	pass, fail, cut := filepath.Join(runs, "pass"), filepath.Join(runs, "fail"), filepath.Join(runs, "interrupted")

	t.Run("pass", func(t *testing.T) {
		stdout, stderr, code := sb.run(t, append(append([]string{"drill", "region-outage"}, small...), "--out", pass)...)
		t.Logf("stdout:\n%s", stdout)
		skipIfTooClose(t, pass, code)
		if code != exitPass {
			t.Fatalf("exit %d, want 0\n%s", code, stderr)
		}
		// Without a terminal: plain timestamped lines, every phase named.
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		for _, l := range lines {
			if !plainLine.MatchString(l) {
				t.Errorf("not a plain timestamped line: %q", l)
			}
		}
		for _, w := range []string{"phase steady-state", "inject region-outage", "outage-detected", "failover-done", "failback-done", "phase checks"} {
			if !strings.Contains(stderr, w) {
				t.Errorf("progress lines do not mention %q", w)
			}
		}
		if strings.Contains(stderr, "\033[") {
			t.Errorf("escape sequences without a terminal")
		}
		r, j := readRun(t, pass)
		if r.Verdict != "pass" || len(j.Suites) != 1 || len(j.Suites[0].Cases) != len(r.Checks) || len(r.Checks) == 0 {
			t.Fatalf("verdict %s, %d checks; junit: %+v", r.Verdict, len(r.Checks), j)
		}
		for i, c := range r.Checks {
			if j.Suites[0].Cases[i].Name != c.Name || j.Suites[0].Cases[i].Failure != nil {
				t.Errorf("junit case %d: %+v, want check %s passing", i, j.Suites[0].Cases[i], c.Name)
			}
		}
		t.Logf("junit.xml: suite %s, %d cases, %d failures; %d acknowledged writes", j.Suites[0].Name, j.Suites[0].Tests, j.Suites[0].Failures, r.Workload.AcknowledgedWrites)
	})

	// Negative control of bcdr check: the passing run judged again from
	// its folder gives every verdict again; a copy whose final snapshot
	// lacks one acknowledged journal entry fails failback-loss.
	t.Run("check", func(t *testing.T) {
		requireVerdict(t, pass, assertions.Pass)
		if _, err := os.Stat(filepath.Join(pass, report.EvidenceFile)); err != nil {
			t.Fatalf("the passing drill kept no evidence: %v", err)
		}
		stdout, stderr, code := sb.run(t, "check", pass)
		t.Logf("bcdr check (untouched):\n%s", stdout)
		if code != exitPass || !strings.Contains(stdout, "every verdict is the same") {
			t.Errorf("untouched run: exit %d, want 0 and every verdict the same\n%s", code, stderr)
		}

		tampered := filepath.Join(runs, "tampered")
		copyDir(t, pass, tampered)
		ev, err := report.ReadEvidence(tampered)
		if err != nil {
			t.Fatal(err)
		}
		h, err := history.Load(filepath.Join(tampered, report.HistoryFile))
		if err != nil {
			t.Fatal(err)
		}
		// An entry the failed-over region acknowledged: failback-loss's own
		// stake, never one rpo already counts as lost to the failover.
		foDone, ok := h.FirstEvent(history.EvFailoverDone)
		if !ok || ev.Final == nil {
			t.Fatalf("the passing run has no failover-done (%t) or no final snapshot", ok)
		}
		removed := ""
		for _, c := range h.AcknowledgedWrites() {
			if _, stored := ev.Final.Journal[c.Invoke.Key]; stored && c.Invoke.Kind == history.JournalEntry && c.Result.Index > foDone.Index {
				removed = c.Invoke.Key
				break
			}
		}
		if removed == "" {
			t.Fatal("no journal entry acknowledged after the failover is in the final snapshot")
		}
		delete(ev.Final.Journal, removed)
		if err := report.WriteEvidence(tampered, ev); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code = sb.run(t, "check", tampered)
		t.Logf("bcdr check (journal entry %s removed from the final snapshot):\n%s", removed, stdout)
		if code != exitFail {
			t.Errorf("tampered run: exit %d, want %d\n%s", code, exitFail, stderr)
		}
		if !strings.Contains(stdout, "failback-loss: verdict saved pass, re-judged fail") {
			t.Errorf("bcdr check does not say failback-loss was saved pass and re-judged fail")
		}
		if !strings.Contains(stdout, removed) {
			t.Errorf("the re-judged explanation does not name the removed entry %s", removed)
		}
		if strings.Contains(stdout, "every verdict is the same") {
			t.Errorf("bcdr check says every verdict is the same for the tampered run")
		}
	})

	t.Run("fail from a scenario file", func(t *testing.T) {
		file := writeFile(t, runs, "slow-backups.yaml", `# log backups less often than the RPO budget allows: rpo must fail
scenario: region-outage
name: slow-log-backups
set:
  rpo: 15m
  log-backup-interval: 3h
  instances-per-region: 3
  steady-state: 30m
  after: 5m
  failed-over-for: 10m
  decision-window: 10m
  min-writes-before-fault: 10
checks: [validity, rpo, failback-loss]
`)
		stdout, stderr, code := sb.run(t, "drill", "--file", file, "--out", fail)
		t.Logf("stdout:\n%s", stdout)
		skipIfTooClose(t, fail, code)
		if code != exitFail {
			t.Fatalf("exit %d, want 1\n%s", code, stderr)
		}
		r, j := readRun(t, fail)
		if r.Scenario != "slow-log-backups" || r.Verdict != "fail" || !strings.Contains(r.Replay, "--file "+file) {
			t.Errorf("result: scenario %q verdict %s replay %q", r.Scenario, r.Verdict, r.Replay)
		}
		// The region loss calls for every region check (the file's checks
		// add to them): rpo fails, and so does the steady-state lag the
		// 3-hour log backups let grow; nothing else may.
		failedRPO := false
		for _, c := range j.Suites[0].Cases {
			if c.Failure != nil {
				failedRPO = failedRPO || c.Name == "rpo"
				if (c.Name != "rpo" && c.Name != "replication-lag") || c.Failure.Text == "" {
					t.Errorf("junit failure on %s: %+v", c.Name, c.Failure)
				}
			}
		}
		if !failedRPO || len(j.Suites[0].Cases) != len(assertions.RegionChecks()) {
			t.Errorf("junit: %d cases, rpo failing %t; want the %d region checks, rpo failing", len(j.Suites[0].Cases), failedRPO, len(assertions.RegionChecks()))
		}
		// Judged again from its files, the failing run fails the same way.
		stdout, stderr, code = sb.run(t, "check", fail)
		t.Logf("bcdr check:\n%s", stdout)
		if code != exitFail || !strings.Contains(stdout, "every verdict is the same") {
			t.Errorf("bcdr check on the failing run: exit %d, want 1 and every verdict the same\n%s", code, stderr)
		}
	})

	t.Run("interrupted", func(t *testing.T) {
		cmd := sb.command(append(append([]string{"drill", "region-outage"}, small...), "--out", cut)...)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var log strings.Builder
		sc := bufio.NewScanner(stderr)
		var sockets map[string]int
		var interruptedAt time.Time
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			// Half way: the region is lost and the runbook is failing over.
			if sockets == nil && strings.Contains(sc.Text(), "failover-start") {
				sockets = sb.listeners()
				interruptedAt = time.Now()
				if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
					t.Fatal(err)
				}
			}
		}
		err = cmd.Wait()
		t.Logf("stderr:\n%s\nstdout:\n%s", log.String(), stdout.String())
		if sockets == nil {
			t.Fatalf("the drill never started failing over (%v)", err)
		}
		if code := cmd.ProcessState.ExitCode(); code != exitUnknown {
			t.Fatalf("exit %d after SIGINT, want %d", code, exitUnknown)
		}
		t.Logf("SIGINT to exit: %.1fs", time.Since(interruptedAt).Seconds())
		if len(sockets) == 0 {
			t.Fatal("found no listening socket of the drill: the leftover check would check nothing")
		}
		sb.requireNothingLeft(t, sockets)
		r, _ := readRun(t, cut)
		if r.Verdict != "unknown" || r.Reason == "" {
			t.Errorf("interrupted run: verdict %s reason %q, want unknown with a reason", r.Verdict, r.Reason)
		}
		h, err := history.Load(filepath.Join(cut, report.HistoryFile))
		if err != nil || len(h.Ops) == 0 {
			t.Fatalf("history of the interrupted run: %d ops, %v", len(h.Ops), err)
		}
		if _, ok := h.FirstEvent(history.EvFailoverStart); !ok {
			t.Errorf("the history does not keep what happened before the interrupt (no failover-start)")
		}
		if !strings.Contains(log.String(), "interrupted") {
			t.Errorf("stderr does not say the drill was interrupted")
		}
		// Never judged, so nothing to judge again: bcdr check says so.
		if _, err := os.Stat(filepath.Join(cut, report.EvidenceFile)); err == nil {
			t.Errorf("the interrupted run kept evidence of checks it never ran")
		}
		if _, stderr, code := runInProcess(t, "check", cut); code != exitUsage || !strings.Contains(stderr, "no evidence.json") {
			t.Errorf("bcdr check on the interrupted run: exit %d, stderr %q; want 254 and no evidence.json", code, stderr)
		}
	})

	t.Run("trend", func(t *testing.T) {
		for _, d := range []string{pass, fail, cut} {
			if _, err := os.Stat(filepath.Join(d, report.ResultFile)); err != nil {
				t.Skipf("an earlier drill wrote no result: %v", err)
			}
		}
		requireVerdict(t, pass, assertions.Pass)
		requireVerdict(t, fail, assertions.Fail)
		stdout, stderr, code := runInProcess(t, "trend", pass, fail, cut)
		t.Logf("bcdr trend:\n%s", stdout)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		rows := map[string][]string{}
		for _, l := range strings.Split(stdout, "\n") {
			if f := strings.Fields(l); len(f) > 0 {
				rows[f[0]] = f[1:]
			}
		}
		if v := rows["(run)"]; len(v) != 3 || v[0] != "pass" || v[1] != "fail" || v[2] != "unknown" {
			t.Errorf("verdict row %v, want pass fail unknown", v)
		}
		if v := rows["rpo"]; len(v) < 3 || v[0] != "pass" || v[2] != "fail" {
			t.Errorf("rpo row %v, want pass (figure) fail (figure) ...", v)
		}
		for _, c := range []string{"validity", "rto", "failback-loss"} {
			if _, ok := rows[c]; !ok {
				t.Errorf("no row for check %s", c)
			}
		}
	})
}

// On a terminal the progress is one status line, redrawn in place, with a
// bar for long waits; event lines scroll above it.
func TestProgressOnATerminal(t *testing.T) {
	sc, _ := harness.Builtin("region-outage")
	var buf syncBuffer
	p := newProgress(&buf, "tty", sc)
	p.logf("phase steady-state (service 0s)")
	p.onOp(history.Op{Kind: history.JournalEntry, Type: history.OK})
	time.Sleep(600 * time.Millisecond)
	p.onOp(history.Op{Kind: history.Event, Key: history.EvOutageDetected, Wall: time.Now(), Value: map[string]any{"region": "a"}})
	time.Sleep(300 * time.Millisecond)
	p.close()
	out := buf.String()
	for _, w := range []string{"\r\033[2K", "steady-state  0.", "s wall = ", " service", "writes 1 ok", "steady state [", "% of 45m00s",
		"outage-detected region=a", "decision window [", "% of 30m00s"} {
		if !strings.Contains(out, w) {
			t.Errorf("terminal output lacks %q:\n%q", w, out)
		}
	}
	if !strings.HasSuffix(out, "\r\033[2K") {
		t.Errorf("the status line is not cleared at the end: %q", out[max(0, len(out)-40):])
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

// A drill that panics (the test hook of the leak campaign) or reaches its
// --timeout still tears down and writes what it recorded: a panic exits 255
// with one clear line, a deadline exits 2.
func TestDrillPanicAndTimeout(t *testing.T) {
	sets := []string{"--set", "provider=fake", "--set", "instances-per-region=3", "--set", "steady-state=2h", "--progress", "none"}
	t.Run("panic", func(t *testing.T) {
		t.Setenv(harness.TestPanicEnv, "500ms")
		out := filepath.Join(t.TempDir(), "run")
		_, stderr, code := runInProcess(t, append([]string{"drill", "instance-crash", "--out", out}, sets...)...)
		if code != exitInternal || !strings.Contains(stderr, "internal error: panic in a test goroutine") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		if _, err := os.Stat(filepath.Join(out, "result.json")); err != nil {
			t.Fatalf("nothing written: %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "run")
		_, stderr, code := runInProcess(t, append([]string{"drill", "instance-crash", "--timeout", "1s", "--out", out}, sets...)...)
		if code != exitUnknown || !strings.Contains(stderr, "stopped at its --timeout") {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
	})
}
