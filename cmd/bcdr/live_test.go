package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/control"
	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/report"
)

// wanFault is the catalogue's cut between the regions.
func wanFault(t *testing.T) (string, []string) {
	if _, ok := faults.Lookup("wan-partition"); ok {
		return "wan-partition", nil
	}
	if _, ok := faults.Lookup("link-partition"); ok {
		return "link-partition", []string{"link=wan"}
	}
	t.Logf("the catalogue has no WAN cut yet; region-outage of region b cuts the WAN and stops the secondary instead")
	return "region-outage", []string{"region=b"}
}

func statusJSON(t *testing.T, sb *sandbox, state string) control.Status {
	t.Helper()
	stdout, stderr, code := sb.run(t, "status", "--json", "--state", state)
	if code != 0 {
		t.Fatalf("bcdr status --json: exit %d: %s", code, stderr)
	}
	var st control.Status
	if err := json.Unmarshal([]byte(stdout), &st); err != nil {
		t.Fatalf("bcdr status --json: %v\n%s", err, stdout)
	}
	return st
}

func linkCut(st control.Status, name string) bool {
	for _, l := range st.Links {
		if l.Name == name {
			return l.Cut != nil && *l.Cut
		}
	}
	return false
}

// bcdr up, inject a WAN partition, status shows the SQL lag growing,
// recover, status shows it caught up, down leaves nothing behind.
func TestUpInjectStatusRecoverDown(t *testing.T) {
	if testing.Short() {
		t.Skip("stands an environment up")
	}
	sb := newSandbox(t)
	state := filepath.Join(sb.tmp, "state")
	runDir := filepath.Join(sb.tmp, "run")
	stdout, stderr, code := sb.run(t, "up", "--detach", "--state", state, "--out", runDir, "--set", "instances-per-region=3")
	if code != 0 {
		t.Fatalf("bcdr up --detach: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	downed := false
	t.Cleanup(func() {
		if !downed {
			sb.run(t, "down", "--state", state)
		}
	})
	t.Logf("bcdr up --detach:\n%s", stdout)
	for _, w := range []string{"front door", "region a", "region b", "control API", "env.json", runDir} {
		if !strings.Contains(stdout, w) {
			t.Errorf("bcdr up does not print %q", w)
		}
	}
	// The credentials are for the user only.
	fi, err := os.Stat(filepath.Join(state, control.StateFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(state); di.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, want 0700", di.Mode().Perm())
	}
	st, err := control.ReadState(state)
	if err != nil {
		t.Fatal(err)
	}
	if st.Token == "" || st.Regions["a"].SQL == "" || !strings.Contains(st.Regions["a"].SQL, "@") {
		t.Errorf("state file lacks the token or the SQL credentials: %+v", st.Regions)
	}

	// A healthy pair: shipping, both regions up, every instance healthy.
	var before control.Status
	deadline := time.Now().Add(30 * time.Second)
	for {
		before = statusJSON(t, sb, state)
		if before.Workload.Acknowledged > 20 && before.SQL.Restore.Seq > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if before.Active != "a" || len(before.Regions) != 2 || !before.SQL.Shipping || before.LimitedMode == nil || *before.LimitedMode {
		t.Fatalf("status before the fault: active %q, regions %d, shipping %v, limited %v", before.Active, len(before.Regions), before.SQL.Shipping, before.LimitedMode)
	}
	for _, r := range before.Regions {
		for _, in := range r.Instances {
			if !in.Healthy {
				t.Errorf("region %s instance %s (fault domain %d) not healthy before any fault", r.Name, in.ID, in.FaultDomain)
			}
		}
	}
	text, _, _ := sb.run(t, "status", "--state", state)
	t.Logf("bcdr status before the fault:\n%s", text)

	name, params := wanFault(t)
	out, errOut, code := sb.run(t, append(append([]string{"inject", name}, params...), "--state", state)...)
	if code != 0 || !strings.Contains(out, "injected fault 1") {
		t.Fatalf("bcdr inject %s: exit %d\n%s%s", name, code, out, errOut)
	}
	t.Logf("bcdr inject: %s", strings.TrimSpace(out))

	// The lag grows while the WAN is cut: three readings, each higher.
	var lags []float64
	var during control.Status
	for i := 0; i < 3; i++ {
		time.Sleep(1500 * time.Millisecond)
		during = statusJSON(t, sb, state)
		lags = append(lags, during.SQL.LagServiceS)
	}
	t.Logf("SQL lag (service seconds) before %.0f, during the partition %v", before.SQL.LagServiceS, lags)
	if !(lags[0] < lags[1] && lags[1] < lags[2]) || lags[2] <= before.SQL.LagServiceS {
		t.Errorf("SQL lag did not grow during the partition: %v", lags)
	}
	logBackup := 5 * 60.0 // the default log backup interval, service seconds
	if lags[2] < 2*logBackup {
		t.Errorf("SQL lag %.0fs after 4.5 wall seconds of partition; want more than two log backup intervals (%.0fs)", lags[2], 2*logBackup)
	}
	if !linkCut(during, "wan") {
		t.Errorf("status does not show the wan link cut: %+v", during.Links)
	}
	if len(during.Faults) != 1 || during.Faults[0].Name != name {
		t.Errorf("status lists faults %+v, want %s", during.Faults, name)
	}
	text, _, _ = sb.run(t, "status", "--state", state)
	t.Logf("bcdr status during the partition:\n%s", text)
	if !strings.Contains(text, "links cut: ") || !strings.Contains(text, "injected faults:") {
		t.Errorf("bcdr status text does not show the cut link and the fault")
	}

	out, errOut, code = sb.run(t, "recover", "--state", state)
	if code != 0 || !strings.Contains(out, "recovered fault 1") {
		t.Fatalf("bcdr recover: exit %d\n%s%s", code, out, errOut)
	}
	// Log shipping catches up: the lag falls back under two backup intervals.
	var after control.Status
	deadline = time.Now().Add(30 * time.Second)
	for {
		after = statusJSON(t, sb, state)
		if after.SQL.LagServiceS < 2*logBackup || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("SQL lag after recovery: %.0fs service", after.SQL.LagServiceS)
	if after.SQL.LagServiceS >= 2*logBackup || linkCut(after, "wan") || len(after.Faults) != 0 {
		t.Errorf("after recover: lag %.0fs, wan cut %v, faults %+v", after.SQL.LagServiceS, linkCut(after, "wan"), after.Faults)
	}

	sockets := sb.listeners()
	if len(sockets) == 0 {
		t.Fatal("found no listening socket of the environment: the leftover check would check nothing")
	}
	out, errOut, code = sb.run(t, "down", "--state", state)
	downed = true
	if code != 0 || !strings.Contains(out, "environment down") {
		t.Fatalf("bcdr down: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(state, control.StateFile)); !os.IsNotExist(err) {
		t.Errorf("state file still there after down (%v)", err)
	}
	sb.requireNothingLeft(t, sockets)
	// And nothing is up any more.
	if _, errOut, code := sb.run(t, "status", "--state", state); code != exitUsage {
		t.Errorf("bcdr status after down: exit %d (%s), want %d", code, errOut, exitUsage)
	}

	// The session's history was saved before the environment went, as a
	// drill's run folder.
	if !strings.Contains(out, "history saved: "+runDir) {
		t.Errorf("bcdr down does not name the saved history:\n%s", out)
	}
	h := requireRunFolder(t, runDir)
	injected := h.Events(history.EvFaultInjected)
	if len(injected) != 1 || injected[0].Value["fault"] != name {
		t.Errorf("history.jsonl has fault-injected events %+v, want one of %s", injected, name)
	}
	if len(h.Events(history.EvFaultRecovered)) != 1 || len(h.Events(history.EvLag)) == 0 {
		t.Errorf("history.jsonl lacks the recovery or the lag samples")
	}
	res, err := report.ReadResult(runDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("saved session: verdict %s (%s), workload %+v, faults %v", res.Verdict, res.Reason, res.Workload, res.Faults)
	if len(res.Faults) != 1 || res.Faults[0] != name || res.Workload.AcknowledgedWrites == 0 || res.Seed != 1 || res.Provider != "local" || res.WallS <= 0 {
		t.Errorf("result.json: %+v", res)
	}
	if len(res.Checks) == 0 || res.Checks[0].Name != "validity" || res.Verdict == assertions.Fail {
		t.Errorf("result.json checks %+v, verdict %s: want validity first and no failure", res.Checks, res.Verdict)
	}
	if res.Verdict == assertions.Unknown && res.Reason == "" {
		t.Errorf("an unknown verdict without a reason")
	}
	if out, errOut, code := sb.run(t, "report", runDir); code != 0 {
		t.Errorf("bcdr report on the saved session: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := sb.run(t, "trend", runDir); code != 0 || !strings.Contains(out, "validity") {
		t.Errorf("bcdr trend on the saved session: exit %d\n%s%s", code, out, errOut)
	}
}

// requireRunFolder checks that dir holds the four files of a run and
// returns its history.
func requireRunFolder(t *testing.T, dir string) history.History {
	t.Helper()
	for _, f := range []string{report.ResultFile, report.HistoryFile, report.JUnitFile, report.HTMLFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("run folder %s: %s missing or empty (%v)", dir, f, err)
		}
	}
	h, err := history.Load(filepath.Join(dir, report.HistoryFile))
	if err != nil {
		t.Fatalf("history.jsonl does not parse back: %v", err)
	}
	if len(h.Ops) == 0 || h.Scale <= 0 {
		t.Fatalf("history.jsonl: %d operations, scale %g", len(h.Ops), h.Scale)
	}
	return h
}

// A foreground bcdr up stops on Ctrl-C: it saves the history, tears
// everything down, removes its state file and exits 0.
func TestForegroundUpStopsOnInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("stands an environment up")
	}
	sb := newSandbox(t)
	state := filepath.Join(sb.tmp, "state")
	runDir := filepath.Join(sb.tmp, "run")
	up := sb.command("up", "--state", state, "--out", runDir, "--set", "instances-per-region=2")
	var out strings.Builder
	up.Stdout = &out
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if st, err := control.ReadState(state); err == nil && st.Pid == up.Process.Pid {
			break
		}
		if time.Now().After(deadline) {
			up.Process.Kill()
			up.Wait()
			t.Fatal("bcdr up did not come up in 2 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	sockets := sb.listeners()
	if err := up.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	_ = up.Wait()
	if code := up.ProcessState.ExitCode(); code != 0 {
		t.Errorf("bcdr up after Ctrl-C: exit %d, want 0", code)
	}
	if !strings.Contains(out.String(), "environment up") {
		t.Errorf("bcdr up printed no endpoints:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(state, control.StateFile)); !os.IsNotExist(err) {
		t.Errorf("state file still there (%v)", err)
	}
	sb.requireNothingLeft(t, sockets)

	// Nothing recorded is lost on Ctrl-C; with no fault injected, the
	// session tested nothing and says so.
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; last != savedLine(runDir) {
		t.Errorf("bcdr up does not end with the saved folder; last line %q", last)
	}
	h := requireRunFolder(t, runDir)
	if _, ok := h.FirstEvent(history.EvHealth); !ok {
		t.Errorf("history.jsonl has no health check")
	}
	res, err := report.ReadResult(runDir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != assertions.Unknown || !strings.Contains(res.Reason, "no fault was injected") {
		t.Errorf("result.json of a session without faults: verdict %s (%s), want unknown", res.Verdict, res.Reason)
	}
}
