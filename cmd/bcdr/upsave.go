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
// drill writes (result.json, history.jsonl, junit.xml, report.html), so that
// bcdr report and bcdr trend read it like any drill.
//
// The faults of a session are the operator's, not the scenario's, so the
// session is judged by the checks a drill of the faults it recorded runs
// (harness.DerivedChecks: validity, ledger and cross-store always; for a
// hardware or network fault fault-domain-availability and rpo; every region
// check once a fault took a region away or the runbook failed over). The data they read comes as in a drill: the
// promoted region's snapshot right after the runbook's first failover (with
// --runbook), and the active region's snapshot at teardown, taken after the
// workload and the runbook stopped and before the environment is closed.
// What a session cannot tell comes out unknown with its own explanation:
// no fault injected, no runbook to fail over, or a session that ended
// before the RTO budget was over.

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
	res = report.Result{Scenario: s.sc.Name, Seed: s.sc.Seed, Provider: s.sc.Spec.Provider, SQLEngine: s.sc.Spec.SQLEngine,
		BlobEngine: s.sc.BlobEngine(), TimeScale: s.clk.Scale, Knobs: s.sc.KnobValues(), Replay: s.replay, Started: s.started}
	s.phase("checks")
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
		after := s.afterFailover
		s.mu.Unlock()
		in := assertions.Input{History: s.rec.Ops(), AfterFailover: after, Final: final, Budgets: s.sc.Budgets}
		names, skipped := upChecks(s.sc, in.History)
		res.SkippedChecks = skipped
		res.Checks = judgeSession(in, s.runbook, names)
		res.Verdict, res.Reason = sessionVerdict(res.Checks)
		if res.Verdict == assertions.Pass {
			if why := assertions.Unjudged(in, res.Checks); why != "" {
				res.Verdict, res.Reason = assertions.Unknown, why
			}
		}
	} else {
		res.Verdict, res.Reason = assertions.Unknown, reason
	}
	h := s.rec.Ops()
	res.Ended = time.Now()
	res.WallS = res.Ended.Sub(res.Started).Seconds()
	res.ServiceS = s.clk.Between(res.Started, res.Ended).Seconds()
	res.Workload = report.WriteCounts(h)
	res.Faults = injectedFaults(h)
	if err := report.WriteAll(s.out, res, h); err != nil {
		return res, err
	}
	return res, nil
}

// upChecks are the checks a session is judged by: those a drill of the
// faults it recorded runs (harness.DerivedChecks, with the scenario's own
// checks and skip-checks), and the checks it dropped.
func upChecks(sc harness.Scenario, h history.History) (run, skipped []string) {
	sc.Faults = nil
	for _, name := range injectedFaults(h) {
		sc.Faults = append(sc.Faults, harness.FaultStep{Name: name})
	}
	_, failedOver := h.FirstEvent(history.EvFailoverStart)
	return sc.ChecksToRun(failedOver)
}

// regionLossFault is the first recorded fault that took a region away.
func regionLossFault(h history.History) (history.Op, bool) {
	for _, op := range h.Events(history.EvFaultInjected) {
		if rl, _ := op.Value["region_loss"].(bool); rl {
			return op, true
		}
	}
	return history.Op{}, false
}

func faultLabel(op history.Op) string {
	if n, ok := op.Value["fault"].(string); ok {
		return n
	}
	return "the fault"
}

func unknownCheck(name, why string) assertions.Result {
	return assertions.Result{Name: name, Verdict: assertions.Unknown, Explanation: why}
}

// judgeSession runs the session's checks. A check whose premise a live
// session lacks is unknown with the reason, never pass.
func judgeSession(in assertions.Input, runbook bool, names []string) []assertions.Result {
	var out []assertions.Result
	for _, name := range names {
		out = append(out, judgeOne(name, in, runbook))
	}
	return out
}

func judgeOne(name string, in assertions.Input, runbook bool) assertions.Result {
	h := in.History
	if len(h.Events(history.EvFaultInjected)) == 0 {
		return unknownCheck(name, "no fault was injected during this bcdr up session, so no promise was put to the test (bcdr inject FAULT injects one)")
	}
	fault, regionLoss := regionLossFault(h)
	if regionLoss && !runbook && (name == "rto" || name == "failback-loss") {
		return unknownCheck(name, fmt.Sprintf("the DR runbook was not running in this bcdr up session (bcdr up --runbook runs it), so nothing failed over after %s at service %s and %s cannot be judged",
			faultLabel(fault), clock.Round(fault.Service), name))
	}
	c, ok := assertions.Lookup(name)
	if !ok {
		return unknownCheck(name, "no such check in this build of bcdr")
	}
	r := assertions.MeasureNoise(h).Apply(c.Check(in))
	if name == "rto" && r.Verdict == assertions.Fail && regionLoss && len(h.Ops) > 0 {
		// A drill runs until writes recover; a session ends when the
		// operator says. Within the budget, a recovery not seen yet is not
		// a recovery that failed.
		clk := h.Clock()
		lasted := h.Ops[len(h.Ops)-1].Service - fault.Service
		if lasted < in.Budgets.RTO {
			return unknownCheck(name, fmt.Sprintf("the session ended %s after %s at service %s, before the RTO budget %s was over, and writes had not been seen to recover by then, so the run cannot tell whether they would have (the check found: %s)",
				clk.Format(lasted), faultLabel(fault), clock.Round(fault.Service), clk.Format(in.Budgets.RTO), r.Explanation))
		}
	}
	return r
}

// sessionVerdict combines the checks as a drill does; an unknown verdict
// carries the reason of the first check that could not tell.
func sessionVerdict(checks []assertions.Result) (assertions.Verdict, string) {
	var vs []assertions.Verdict
	for _, c := range checks {
		vs = append(vs, c.Verdict)
	}
	v := assertions.Worst(vs...)
	if v != assertions.Unknown {
		return v, ""
	}
	for _, c := range checks {
		if c.Verdict == assertions.Unknown {
			return v, c.Name + ": " + c.Explanation
		}
	}
	return v, ""
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
