package harness_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
)

// JudgeScenario judges by the checks the scenario's faults call for, minus
// its skip-checks, keeps the evidence to judge it again, and a check with
// nothing to judge (no snapshot here) says unknown and gives the run its
// reason.
func TestJudgeScenario(t *testing.T) {
	sc, _ := harness.Builtin("fault-domain-loss")
	sc.SkipChecks = []string{"cross-store"}
	clk := clock.New(200)
	rec := history.NewRecorder(clk)
	rec.Event(history.EvHealth, map[string]any{"when": "before", "ok": true, "active": "a"})
	rec.Event(history.EvFaultInjected, map[string]any{"fault": "fault-domain-loss", "class": "hardware", "region_loss": false, "verified": true})
	rec.Event(history.EvFaultRecovered, map[string]any{"fault": "fault-domain-loss"})
	rec.Event(history.EvHealth, map[string]any{"when": "after", "ok": true, "active": "a"})
	b := assertions.DefaultBudgets()
	b.MinWritesBeforeFault = 0
	j := harness.JudgeScenario(sc, assertions.Input{History: rec.Ops(), Budgets: b})
	var names []string
	for _, c := range j.Checks {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "validity,fault-domain-availability,rpo,ledger" || strings.Join(j.Skipped, ",") != "cross-store" {
		t.Fatalf("judged by %v, skipped %v", names, j.Skipped)
	}
	if strings.Join(j.Evidence.Checks, ",") != strings.Join(names, ",") || j.Evidence.HistoryOps != len(rec.Ops().Ops) {
		t.Errorf("evidence: checks %v, %d ops", j.Evidence.Checks, j.Evidence.HistoryOps)
	}
	if j.Checks[0].Verdict != assertions.Pass {
		t.Errorf("validity: %+v", j.Checks[0])
	}
	var first assertions.Result
	for _, c := range j.Checks {
		if c.Verdict == assertions.Unknown {
			first = c
			break
		}
	}
	if first.Name == "" || j.Verdict != assertions.Unknown || j.Reason != first.Name+": "+first.Explanation {
		t.Errorf("verdict %s (%q), want unknown for the first check with nothing to judge (%+v)", j.Verdict, j.Reason, first)
	}
}

// FinishResult is the one builder of a run's result: judged, it carries the
// judgement; with a reason (a run that ended before its checks, or a panic
// after them) it is unknown for that reason, keeping any checks.
func TestFinishResult(t *testing.T) {
	sc := harness.DefaultScenario()
	clk := clock.New(200)
	rec := history.NewRecorder(clk)
	rec.Append(history.Op{Process: 1, Type: history.Invoke, Kind: history.JournalEntry, Key: "je-1", Wall: time.Now()})
	rec.Append(history.Op{Process: 1, Type: history.OK, Kind: history.JournalEntry, Key: "je-1", Wall: time.Now()})
	started := time.Now().Add(-time.Second)
	res := harness.NewResult(sc, clk.Scale, "bcdr drill region-outage", started, []string{"region-outage"})
	if res.Scenario != sc.Name || res.Seed != sc.Seed || res.Knobs == nil || res.Replay == "" || len(res.Faults) != 1 {
		t.Fatalf("new result: %+v", res)
	}

	early := harness.FinishResult(res, clk, rec.Ops(), nil, "bring-up failed: no docker")
	if early.Verdict != assertions.Unknown || early.Reason != "bring-up failed: no docker" || early.Checks != nil ||
		early.Workload.AcknowledgedWrites != 1 || early.WallS < 1 || early.ServiceS < 200 {
		t.Errorf("a run that ended before its checks: %+v", early)
	}

	j := &harness.Judged{Judgement: assertions.Judgement{Verdict: assertions.Fail,
		Checks: []assertions.Result{{Name: "rpo", Verdict: assertions.Fail}}}, Skipped: []string{"ledger"}}
	judged := harness.FinishResult(res, clk, rec.Ops(), j, "")
	if judged.Verdict != assertions.Fail || judged.Reason != "" || len(judged.Checks) != 1 || judged.Noise == nil ||
		strings.Join(judged.SkippedChecks, ",") != "ledger" {
		t.Errorf("a judged run: %+v", judged)
	}

	panicked := harness.FinishResult(res, clk, rec.Ops(), j, "panic in the lag sampler")
	if panicked.Verdict != assertions.Unknown || panicked.Reason != "panic in the lag sampler" || len(panicked.Checks) != 1 {
		t.Errorf("a run that panicked after its checks: %+v", panicked)
	}
}
