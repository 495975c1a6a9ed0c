package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/control"
	"github.com/bcdr-harness/bcdr/faults"
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
	stdout, stderr, code := sb.run(t, "up", "--detach", "--state", state, "--set", "instances-per-region=3")
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
	for _, w := range []string{"front door", "region a", "region b", "control API", "env.json"} {
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
}

// A foreground bcdr up stops on Ctrl-C: it tears everything down, removes
// its state file and exits 0.
func TestForegroundUpStopsOnInterrupt(t *testing.T) {
	if testing.Short() {
		t.Skip("stands an environment up")
	}
	sb := newSandbox(t)
	state := filepath.Join(sb.tmp, "state")
	up := sb.command("up", "--state", state, "--set", "instances-per-region=2")
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
}
