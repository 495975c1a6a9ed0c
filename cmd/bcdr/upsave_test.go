package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/report"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/fake"
)

// session builds the history of a bcdr up session at service times of our
// choosing, without an environment.
type session struct {
	clk  *clock.Clock
	rec  *history.Recorder
	keys []string // acknowledged writes
}

// newSession starts the history with the live phase a session records,
// with the runbook watching or not.
func newSession(runbook bool) *session {
	clk := clock.New(200)
	s := &session{clk: clk, rec: history.NewRecorder(clk)}
	s.event(0, history.EvPhase, map[string]any{"phase": history.PhaseLive, "runbook": runbook})
	return s
}

func (s *session) at(svc time.Duration) time.Time { return s.clk.Epoch.Add(s.clk.Wall(svc)) }

func (s *session) event(svc time.Duration, name string, v map[string]any) {
	s.rec.Append(history.Op{Process: -1, Type: history.Info, Kind: history.Event, Key: name, Wall: s.at(svc), Value: v})
}

// writes records n acknowledged journal entries from service from, one a minute.
func (s *session) writes(from time.Duration, n int, region string) {
	for i := 0; i < n; i++ {
		svc := from + time.Duration(i)*time.Minute
		key := "je-" + region + "-" + svc.String()
		s.rec.Append(history.Op{Process: 1, Type: history.Invoke, Kind: history.JournalEntry, Key: key, Wall: s.at(svc)})
		s.rec.Append(history.Op{Process: 1, Type: history.OK, Kind: history.JournalEntry, Key: key, Wall: s.at(svc + time.Second), Region: region, Inst: "aos-" + region + "-0", Status: 200})
		s.keys = append(s.keys, key)
	}
}

func (s *session) health(svc time.Duration, when string) {
	s.event(svc, history.EvHealth, map[string]any{"when": when, "ok": true, "active": "a"})
}

// everything is a snapshot holding every acknowledged write.
func (s *session) everything(region topology.RegionName) *topology.Snapshot {
	snap := &topology.Snapshot{Region: region, Journal: map[string]topology.JournalEntry{}}
	for _, k := range s.keys {
		snap.Journal[k] = topology.JournalEntry{Key: k, LineCount: 2, Applied: 1,
			Lines: []topology.JournalLine{{Account: "1100-cash", Debit: 100}, {Account: "4000-revenue", Credit: 100}}}
	}
	return snap
}

func (s *session) input(final *topology.Snapshot) assertions.Input {
	b := assertions.DefaultBudgets()
	b.MinWritesBeforeFault = 10
	return assertions.Input{History: s.rec.Ops(), Final: final, Budgets: b}
}

// judge judges a session of the default scenario as its save does.
func judge(in assertions.Input) harness.Judged {
	return harness.JudgeScenario(sessionScenario(harness.DefaultScenario(), in.History), in)
}

func names(rs []assertions.Result) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return strings.Join(out, ",")
}

func byName(rs []assertions.Result) map[string]assertions.Result {
	out := map[string]assertions.Result{}
	for _, r := range rs {
		out[r.Name] = r
	}
	return out
}

// A session with no fault tested nothing: unknown, never pass.
func TestUpSessionWithoutFaultIsUnknown(t *testing.T) {
	s := newSession(true)
	s.health(time.Minute, "before")
	s.writes(2*time.Minute, 30, "a")
	s.health(40*time.Minute, "after")
	j := judge(s.input(s.everything("a")))
	checks := j.Checks
	if names(checks) != "validity,ledger,cross-store" {
		t.Fatalf("checks of a session without faults: %s, want the ones every run has", names(checks))
	}
	for _, c := range checks {
		if c.Verdict != assertions.Unknown || !strings.Contains(c.Explanation, "no fault was injected") {
			t.Fatalf("check of a session without faults: %+v", c)
		}
	}
	v, reason := j.Verdict, j.Reason
	if v != assertions.Unknown || !strings.Contains(reason, "no fault was injected") {
		t.Errorf("verdict %s (%q), want unknown with the reason", v, reason)
	}
}

// A network fault is judged like a drill of it: availability and no loss.
func TestUpSessionNetworkFaultRunsValidity(t *testing.T) {
	s := newSession(false)
	s.health(time.Minute, "before")
	s.writes(2*time.Minute, 20, "a")
	s.event(25*time.Minute, history.EvFaultInjected, map[string]any{"fault": "wan-partition", "region_loss": false, "verified": true})
	s.writes(26*time.Minute, 5, "a")
	s.event(32*time.Minute, history.EvFaultRecovered, map[string]any{"fault": "wan-partition"})
	s.health(40*time.Minute, "after")
	checks := judge(s.input(s.everything("a"))).Checks
	if names(checks) != "validity,fault-domain-availability,rpo,ledger,cross-store" {
		t.Fatalf("checks: %s", names(checks))
	}
	for name, c := range byName(checks) {
		if name != "cross-store" && c.Verdict != assertions.Pass { // the session wrote no invoice
			t.Errorf("%s: %+v, want pass", name, c)
		}
	}
}

// A region lost without the runbook: nothing may be lost (rpo judges the
// final data), but recovery and failback cannot be judged.
func TestUpSessionRegionLossWithoutRunbook(t *testing.T) {
	s := newSession(false)
	s.health(time.Minute, "before")
	s.writes(2*time.Minute, 20, "a")
	s.event(25*time.Minute, history.EvFaultInjected, map[string]any{"fault": "region-outage", "region_loss": true, "verified": true})
	s.event(60*time.Minute, history.EvFaultRecovered, map[string]any{"fault": "region-outage"})
	s.writes(70*time.Minute, 5, "a")
	s.health(80*time.Minute, "after")
	checks := byName(judge(s.input(s.everything("a"))).Checks)
	if len(checks) != len(assertions.RegionChecks()) {
		t.Fatalf("checks: %+v, want every region check", checks)
	}
	if checks["rpo"].Verdict != assertions.Pass {
		t.Errorf("rpo: %+v", checks["rpo"])
	}
	for _, name := range []string{"rto", "failback-loss"} {
		if c := checks[name]; c.Verdict != assertions.Unknown || !strings.Contains(c.Explanation, "runbook was not running") {
			t.Errorf("%s: %+v, want unknown: the runbook was not running", name, c)
		}
	}
	// A write missing from the final data fails rpo, as in a drill.
	lossy := s.everything("a")
	delete(lossy.Journal, s.keys[3])
	if c := byName(judge(s.input(lossy)).Checks)["rpo"]; c.Verdict != assertions.Fail {
		t.Errorf("rpo with a lost write: %+v", c)
	}
	// No final snapshot: the data checks cannot tell.
	for _, c := range judge(s.input(nil)).Checks {
		if c.Name != "validity" && c.Verdict == assertions.Pass {
			t.Errorf("%s passed without a final snapshot: %+v", c.Name, c)
		}
	}
}

// A session that ends before the RTO budget is over, with no failover yet,
// cannot tell whether writes would have recovered; after the budget, it can.
func TestUpSessionEndedWithinRTOIsUnknown(t *testing.T) {
	build := func(end time.Duration) []assertions.Result {
		s := newSession(true)
		s.health(time.Minute, "before")
		s.writes(2*time.Minute, 20, "a")
		s.event(25*time.Minute, history.EvFaultInjected, map[string]any{"fault": "region-outage", "region_loss": true, "verified": true})
		s.event(40*time.Minute, history.EvOutageDetected, nil)
		s.health(end, "after")
		return judge(s.input(nil)).Checks
	}
	early := byName(build(time.Hour))
	if c := early["rto"]; c.Verdict != assertions.Unknown || !strings.Contains(c.Explanation, "before the RTO budget") {
		t.Errorf("rto of a session ended within the budget: %+v", c)
	}
	late := byName(build(5 * time.Hour))
	if c := late["rto"]; c.Verdict != assertions.Fail {
		t.Errorf("rto of a session that never failed over in 5h: %+v, want fail", c)
	}
	for _, cs := range []map[string]assertions.Result{early, late} {
		for name, c := range cs {
			if name != "validity" && c.Verdict == assertions.Pass {
				t.Errorf("%s passed in a session that never failed over: %+v", name, c)
			}
		}
	}
}

// A session saves a run folder bcdr report reads; a folder that cannot be
// written is an error, not a panic.
func TestUpSessionSave(t *testing.T) {
	sc := harness.DefaultScenario()
	out := filepath.Join(t.TempDir(), "run")
	sess := newUpSession(sc, out, "bcdr up region-outage --seed 1", false, clock.New(200))
	sess.rec.Event(history.EvFaultInjected, map[string]any{"fault": "wan-partition", "verified": true})
	res, err := sess.save(nil, "interrupted during bring-up", func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != assertions.Unknown || res.Reason != "interrupted during bring-up" || len(res.Faults) != 1 {
		t.Errorf("result: %+v", res)
	}
	for _, f := range []string{report.ResultFile, report.HistoryFile, report.JUnitFile, report.HTMLFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if err := report.Render(out); err != nil {
		t.Errorf("render the saved session: %v", err)
	}
	blocked := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(blocked, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sess.out = filepath.Join(blocked, "run")
	if _, err := sess.save(nil, "x", func(string, ...any) {}); err == nil {
		t.Errorf("saving under a file succeeded")
	}
}

// A session judged at teardown saves its evidence: bcdr check judges the
// folder again to the same verdicts, reason included, and its result is
// built as a drill's is (noise, workload, the faults it recorded).
func TestUpSessionSaveIsJudgedAgainTheSame(t *testing.T) {
	sc := harness.DefaultScenario()
	sc.Spec.Provider = fake.Name
	clk := clock.New(200)
	env, err := topology.Up(context.Background(), sc.Spec, clk)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(context.Background())
	out := filepath.Join(t.TempDir(), "run")
	sess := newUpSession(sc, out, "bcdr up --set provider=fake", false, clk)
	harness.RecordHealth(context.Background(), sess.rec, env, "before")
	sess.live()
	f, def, err := faults.New("noop", nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := faults.Apply(context.Background(), env, sess.rec, f, def, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err := sess.save(env, "", func(string, ...any) {})
	if err != nil {
		t.Fatal(err)
	}
	// noop cannot observe itself: validity says so, and the run gives it as
	// its reason.
	if res.Verdict != assertions.Unknown || !strings.HasPrefix(res.Reason, "validity: ") || !strings.Contains(res.Reason, "never observed") ||
		res.Noise == nil || len(res.Faults) != 1 || res.Faults[0] != "noop" {
		t.Errorf("result: verdict %s (%q), noise %v, faults %v", res.Verdict, res.Reason, res.Noise, res.Faults)
	}
	rj, err := harness.Rejudge(out)
	if err != nil {
		t.Fatalf("bcdr check of the saved session: %v", err)
	}
	if len(rj.Differences) > 0 || rj.Again.Verdict != res.Verdict || rj.Again.Reason != res.Reason {
		t.Errorf("judged again: %s (%q), differences %v; saved %s (%q)", rj.Again.Verdict, rj.Again.Reason, rj.Differences, res.Verdict, res.Reason)
	}
}
