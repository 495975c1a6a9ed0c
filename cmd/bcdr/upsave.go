package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/control"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/report"
	"github.com/bcdr-harness/bcdr/topology"
)

// A bcdr up session is saved at teardown as a run folder in the format a
// drill writes (result.json, history.jsonl, evidence.json, junit.xml,
// report.html), so that bcdr report, bcdr trend and bcdr check read it like
// any drill.
//
// The faults of a session are the operator's, not the scenario's, so the
// session is judged, as a drill is (harness.JudgeScenario, assertions.Judge),
// by the checks a drill of the faults it recorded runs
// (harness.DerivedChecks: validity, ledger and cross-store always; for a
// hardware or network fault fault-domain-availability and rpo; every region
// check once a fault took a region away or the runbook failed over). The data they read comes as in a drill: the
// promoted region's snapshot right after the runbook's first failover (with
// --runbook), and the active region's snapshot at teardown, taken after the
// workload and the runbook stopped and before the environment is closed.
// What a session cannot tell comes out unknown with its own explanation
// (assertions.Premise, read from the live phase the session records): no
// fault injected, no runbook to fail over, or a session that ended before
// the RTO budget was over.

// upSession records what a bcdr up session saves at teardown.
type upSession struct {
	sc       harness.Scenario
	out      string
	replay   string
	runbook  bool
	clk      *clock.Clock
	rec      *history.Recorder
	started  time.Time
	snapWait time.Duration // bound on each snapshot at teardown

	mu            sync.Mutex
	afterFailover *topology.Snapshot
	cutovers      []assertions.Cutover // the first runbook run's (cutover-fingerprint)
}

// keepCutovers keeps the fingerprints of the first runbook run that took
// any, as the checks measure the first failover.
func (s *upSession) keepCutovers(c []assertions.Cutover) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cutovers == nil && len(c) > 0 {
		s.cutovers = c
	}
}

// upSnapshotTimeout bounds the final snapshot: a region still down must not
// hold the teardown.
const upSnapshotTimeout = 30 * time.Second

func newUpSession(sc harness.Scenario, out, replay string, runbook bool, clk *clock.Clock) *upSession {
	return &upSession{sc: sc, out: out, replay: replay, runbook: runbook, clk: clk,
		rec: history.NewRecorder(clk), started: time.Now(), snapWait: upSnapshotTimeout}
}

// phase records a phase of the session, as a drill records its own.
func (s *upSession) phase(name string) {
	s.rec.Event(history.EvPhase, map[string]any{"phase": name})
}

// live records the session's live phase, with whether the DR runbook
// watches it: the judge reads both (assertions.Premise).
func (s *upSession) live() {
	s.rec.Event(history.EvPhase, map[string]any{"phase": history.PhaseLive, "runbook": s.runbook})
}

// onFailedOver is the runbook's hook: it keeps the promoted region's data
// right after the first failover, which the rpo check compares with.
func (s *upSession) onFailedOver(env topology.Environment) func(context.Context, topology.RegionName) {
	return func(ctx context.Context, promoted topology.RegionName) {
		s.mu.Lock()
		have := s.afterFailover != nil
		s.mu.Unlock()
		if have {
			return // the checks measure the first failover
		}
		snap, err := env.Snapshot(ctx, promoted)
		if err != nil {
			s.rec.Event(history.EvSnapshotError, map[string]any{"error": err.Error(), "when": "after failover"})
			return
		}
		s.mu.Lock()
		if s.afterFailover == nil {
			s.afterFailover = snap
		}
		s.mu.Unlock()
	}
}

// save judges the session and writes its run folder. env is the environment,
// still up (the workload and the runbook stopped); nil when bring-up did not
// finish. A non-empty reason makes the verdict unknown without checks. A
// panic while judging is returned as an error, so the teardown goes on.
func (s *upSession) save(env topology.Environment, reason string, logf func(string, ...any)) (res report.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic while saving the history: %v", p)
		}
	}()
	s.phase("checks")
	var judged *harness.Judged
	if reason == "" && env != nil {
		harness.RecordHealth(context.Background(), s.rec, env, "after")
		sctx, cancel := context.WithTimeout(context.Background(), s.snapWait)
		active := env.Router().Active()
		final, ferr := env.Snapshot(sctx, active)
		cancel()
		if ferr != nil {
			s.rec.Event(history.EvSnapshotError, map[string]any{"error": ferr.Error(), "when": "at teardown"})
			logf("final snapshot of region %s: %v (the checks that read the data say unknown)", active, ferr)
			final = nil
		}
		s.mu.Lock()
		after, cutovers := s.afterFailover, s.cutovers
		s.mu.Unlock()
		h := s.rec.Ops()
		j := harness.JudgeScenario(sessionScenario(s.sc, h), assertions.Input{History: h, AfterFailover: after, Final: final, Budgets: s.sc.Budgets, Cutovers: cutovers})
		judged = &j
	}
	h := s.rec.Ops()
	out := harness.Outcome{History: h,
		Result: harness.FinishResult(harness.NewResult(s.sc, s.clk.Scale, s.replay, s.started, injectedFaults(h)), s.clk, h, judged, reason)}
	if judged != nil {
		out.Evidence = &judged.Evidence
	}
	return out.Result, out.Save(s.out)
}

// sessionScenario is sc with the faults the session recorded in place of
// its own: a session is judged by the checks a drill of those faults runs
// (with the scenario's own checks and skip-checks).
func sessionScenario(sc harness.Scenario, h history.History) harness.Scenario {
	sc.Faults = nil
	for _, name := range injectedFaults(h) {
		sc.Faults = append(sc.Faults, harness.FaultStep{Name: name})
	}
	return sc
}

func faultLabel(op history.Op) string {
	if n, ok := op.Value["fault"].(string); ok {
		return n
	}
	return "the fault"
}

// injectedFaults names the faults of the session, in the order injected.
func injectedFaults(h history.History) []string {
	var out []string
	for _, op := range h.Events(history.EvFaultInjected) {
		out = append(out, faultLabel(op))
	}
	return out
}

// upOutDir is the default run folder of a session.
func upOutDir(sc harness.Scenario) string {
	return filepath.Join("runs", fmt.Sprintf("up-%s-%s", sc.Name, time.Now().Format("20060102-150405")))
}

// probeOut creates the run folder and checks that it can be written, before
// anything starts (as bcdr drill does).
func probeOut(cmd, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return usagef("%s: --out %s: %v", cmd, dir, errors.Unwrap(err))
	}
	probe, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return usagef("%s: --out %s is not writable: %v", cmd, dir, errors.Unwrap(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	return nil
}

// savedRun tells whether the session that st describes saved its run
// folder (a result.json written after the session came up).
func savedRun(st control.State) bool {
	if st.Out == "" {
		return false
	}
	r, err := report.ReadResult(st.Out)
	return err == nil && !r.Ended.Before(st.Started)
}

func savedLine(dir string) string {
	return fmt.Sprintf("history saved: %s; bcdr report %s renders it again", dir, dir)
}
