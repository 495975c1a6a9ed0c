package harness

import (
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/report"
)

// Judged is a run of a scenario judged by its checks: the judgement, the
// checks the scenario dropped (skip-checks), and the evidence that judges
// it again (evidence.json).
type Judged struct {
	assertions.Judgement
	Skipped  []string
	Evidence assertions.Evidence
}

// JudgeScenario judges what a run of sc recorded, the one way every run is
// judged (a drill, a suite row, a bcdr up session): by the checks
// ChecksToRun names (whether the runbook failed over, as in's history
// says), through assertions.Judge. The checks read the history as it is
// saved (wall instants without their monotonic reading), so that Rejudge
// finds the same figures.
func JudgeScenario(sc Scenario, in assertions.Input) Judged {
	in.History = in.History.WallOnly()
	_, failedOver := in.History.FirstEvent(history.EvFailoverStart)
	names, skipped := sc.ChecksToRun(failedOver)
	return Judged{Judgement: assertions.Judge(in, names), Skipped: skipped, Evidence: assertions.NewEvidence(in, names)}
}

// NewResult begins the result of a run of sc that started at started: what
// ran (scenario, seed, provider, engines, scale, knobs, how to replay it,
// its faults). FinishResult completes it.
func NewResult(sc Scenario, scale float64, replay string, started time.Time, faults []string) report.Result {
	return report.Result{Scenario: sc.Name, Seed: sc.Seed, Provider: sc.Spec.Provider, SQLEngine: sc.Spec.SQLEngine,
		BlobEngine: sc.BlobEngine(), TimeScale: scale, Knobs: sc.KnobValues(), Replay: replay, Started: started, Faults: faults}
}

// FinishResult completes a run's result once it is over, the one builder
// every run's result.json comes from: its end (now) and length in wall and
// service time, the workload its history h recorded, and its judgement j
// (checks, noise, skipped checks, verdict and reason). With a reason, the
// run could not be judged as it ran (it ended before its checks, or a
// panic stopped it): the verdict is unknown for that reason, whatever the
// checks said (j nil: none ran).
func FinishResult(res report.Result, clk *clock.Clock, h history.History, j *Judged, reason string) report.Result {
	res.Ended = time.Now()
	res.WallS = res.Ended.Sub(res.Started).Seconds()
	res.ServiceS = clk.Between(res.Started, res.Ended).Seconds()
	res.Workload = report.WriteCounts(h)
	if j != nil {
		res.Checks, res.SkippedChecks = j.Checks, j.Skipped
		noise := j.Noise
		res.Noise = &noise
		res.Verdict, res.Reason = j.Verdict, j.Reason
		if len(h.Segments) > 0 {
			res.MachineScale = MachineScale
		}
	}
	if j == nil || reason != "" {
		res.Verdict, res.Reason = assertions.Unknown, reason
	}
	return res
}
