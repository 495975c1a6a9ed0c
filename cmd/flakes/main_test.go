package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Two runs of two packages as go test -json prints them: TestB/row1 fails
// in the first run and passes in the second (flaky), TestC skips, p2 fails
// to build in the second run, TestA always passes.
const run1 = `{"Action":"start","Package":"p1"}
{"Action":"run","Package":"p1","Test":"TestA"}
{"Action":"output","Package":"p1","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"pass","Package":"p1","Test":"TestA","Elapsed":0.1}
{"Action":"run","Package":"p1","Test":"TestB"}
{"Action":"run","Package":"p1","Test":"TestB/row1"}
{"Action":"output","Package":"p1","Test":"TestB/row1","Output":"    b_test.go:9: rpo: 16m0s over a 15m0s budget\n"}
{"Action":"output","Package":"p1","Test":"TestB/row1","Output":"    --- FAIL: TestB/row1 (1.00s)\n"}
{"Action":"fail","Package":"p1","Test":"TestB/row1","Elapsed":1}
{"Action":"fail","Package":"p1","Test":"TestB","Elapsed":1}
{"Action":"run","Package":"p1","Test":"TestC"}
{"Action":"output","Package":"p1","Test":"TestC","Output":"    c_test.go:5: needs Docker\n"}
{"Action":"output","Package":"p1","Test":"TestC","Output":"--- SKIP: TestC (0.00s)\n"}
{"Action":"skip","Package":"p1","Test":"TestC"}
{"Action":"output","Package":"p1","Output":"FAIL\n"}
{"Action":"fail","Package":"p1","Elapsed":2}
{"Action":"start","Package":"p2"}
{"Action":"run","Package":"p2","Test":"TestD"}
{"Action":"pass","Package":"p2","Test":"TestD"}
{"Action":"pass","Package":"p2"}
`

const run2 = `go: downloading something
{"Action":"run","Package":"p1","Test":"TestA"}
{"Action":"pass","Package":"p1","Test":"TestA"}
{"Action":"run","Package":"p1","Test":"TestB"}
{"Action":"run","Package":"p1","Test":"TestB/row1"}
{"Action":"pass","Package":"p1","Test":"TestB/row1"}
{"Action":"pass","Package":"p1","Test":"TestB"}
{"Action":"run","Package":"p1","Test":"TestC"}
{"Action":"skip","Package":"p1","Test":"TestC"}
{"Action":"pass","Package":"p1"}
{"Action":"output","Package":"p2","Output":"p2/d_test.go:3:1: syntax error\n"}
{"Action":"output","Package":"p2","Output":"FAIL\tp2 [build failed]\n"}
{"Action":"fail","Package":"p2"}
`

func TestTallyCountsEveryRowOverTheRuns(t *testing.T) {
	tl := newTally()
	for i, s := range []string{run1, run2} {
		if err := tl.read(i+1, strings.NewReader(s)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string][3]int{ // pass, fail, skip
		"p1\x00TestA":      {2, 0, 0},
		"p1\x00TestB":      {1, 1, 0},
		"p1\x00TestB/row1": {1, 1, 0},
		"p1\x00TestC":      {0, 0, 2},
		"p2\x00TestD":      {1, 0, 0},
		"p2\x00":           {0, 1, 0}, // the build failure; p1's package fail is its test's
	}
	if len(tl.rows) != len(want) {
		var got []string
		for k := range tl.rows {
			got = append(got, strings.ReplaceAll(k, "\x00", " "))
		}
		t.Errorf("rows %v, want %d", got, len(want))
	}
	for k, w := range want {
		r := tl.rows[k]
		if r == nil {
			t.Errorf("no row %q", k)
			continue
		}
		if got := [3]int{r.Pass, r.Fail, r.Skip}; got != w {
			t.Errorf("%q: pass/fail/skip %v, want %v", k, got, w)
		}
	}
	if r := tl.rows["p1\x00TestB/row1"]; r.FirstFail != "b_test.go:9: rpo: 16m0s over a 15m0s budget" || !r.flaky() {
		t.Errorf("TestB/row1: message %q, flaky %v", r.FirstFail, r.flaky())
	}
	if r := tl.rows["p1\x00TestC"]; r.FirstSkip != "c_test.go:5: needs Docker" || r.flaky() {
		t.Errorf("TestC: skip message %q, flaky %v", r.FirstSkip, r.flaky())
	}
	if r := tl.rows["p2\x00"]; r.FirstFail != "p2/d_test.go:3:1: syntax error" {
		t.Errorf("p2 build failure: message %q", r.FirstFail)
	}

	var b bytes.Buffer
	failing, err := tl.write(&b, false)
	if err != nil {
		t.Fatal(err)
	}
	if failing != 3 {
		t.Errorf("%d failing rows, want 3 (TestB, TestB/row1, p2's build)", failing)
	}
	out := b.String()
	if !strings.HasPrefix(out, "flakes: 2 run(s), 6 test rows: 3 failed in some run (2 flaky: passed in others), 1 skipped in some run\n") {
		t.Errorf("summary:\n%s", out)
	}
	if strings.Contains(out, "TestA") || strings.Contains(out, "TestD") {
		t.Errorf("rows that always passed are printed without -all:\n%s", out)
	}
	for _, s := range []string{"TestB/row1", "TestC", "(package: build, panic or time-out)", "needs Docker"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
}

func TestTallyRefusesABrokenStream(t *testing.T) {
	if err := newTally().read(1, strings.NewReader("{\"Action\":\n")); err == nil {
		t.Error("a truncated JSON line was read without an error")
	}
}

// An interrupted run ends go test's whole process group, not only the go
// command: a test binary it started (here a background sleep of the
// child's) does not outlive the campaign.
func TestInterruptEndsTheWholeGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "sh", "-c", "sleep 300 & echo $! > "+pidFile+"; wait")
	stopGroup(cmd)
	require.NoError(t, cmd.Start())
	var pid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, 10*time.Second, 10*time.Millisecond)
	cancel()
	_ = cmd.Wait()
	killGroup(cmd)
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return err != nil || strings.Contains(string(b), ") Z ")
	}, 10*time.Second, 10*time.Millisecond, "the group's other process %d was ended", pid)
}
