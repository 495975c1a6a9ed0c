// Package assertions holds the checks that decide whether a drill kept the
// environment's promises: those of Microsoft's public article "Business
// continuity and disaster recovery" for Dynamics 365 finance and operations
// apps (the BCDR article below), in this repository's words in
// docs/promises.md. A check reads only the recorded history and the
// surviving data (snapshots taken from the stores), never the runbook's or the
// topology's own belief, and explains itself when it fails: which writes,
// which times, which fault.
package assertions

import (
	"time"

	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

// Verdict is the outcome of a check or a run.
type Verdict string

// Verdicts. Unknown means the run could not tell (the test itself was invalid).
const (
	Pass    Verdict = "pass"
	Fail    Verdict = "fail"
	Unknown Verdict = "unknown"
)

// Worst combines verdicts: fail beats unknown beats pass. The verdict of
// no verdict at all is unknown: nothing was judged, so nothing passed.
func Worst(vs ...Verdict) Verdict {
	if len(vs) == 0 {
		return Unknown
	}
	out := Pass
	for _, v := range vs {
		if v == Fail {
			return Fail
		}
		if v == Unknown {
			out = Unknown
		}
	}
	return out
}

// LostWrite is an acknowledged write missing from the surviving data.
type LostWrite struct {
	Key      string        `json:"key"`
	Kind     string        `json:"kind"`
	Region   string        `json:"region"`
	Instance string        `json:"instance"`
	AckWall  time.Time     `json:"ack_wall"`
	AckSvc   time.Duration `json:"ack_service_ns"`
	// InvokeSvc is when the client sent the write: a write sent before the
	// region was lost and acknowledged after it was in flight at the loss.
	InvokeSvc time.Duration `json:"invoke_service_ns"`
}

// Result is what one check found.
type Result struct {
	Name    string  `json:"name"`
	Verdict Verdict `json:"verdict"`
	// Observed and Budget are in service time (seconds in JSON).
	Observed time.Duration `json:"-"`
	Budget   time.Duration `json:"-"`
	// ObservedServiceS and BudgetServiceS are the same figures in service seconds.
	ObservedServiceS float64 `json:"observed_service_s"`
	BudgetServiceS   float64 `json:"budget_service_s"`
	ObservedWallS    float64 `json:"observed_wall_s"`
	BudgetWallS      float64 `json:"budget_wall_s"`
	// Lost lists acknowledged writes that did not survive, where it applies.
	Lost      []LostWrite `json:"lost,omitempty"`
	LostCount int         `json:"lost_count"`
	// Violations counts the offending items of checks that are not about
	// lost writes (unbalanced entries, accepted maintenance, lag samples over
	// budget...).
	Violations int `json:"violations,omitempty"`
	// Ops names the operations (history indexes) the explanation refers to.
	Ops []int `json:"ops,omitempty"`
	// Window is the stretch of service time the observed figure was measured
	// over (nil when the check measured no stretch).
	Window *Window `json:"window,omitempty"`
	// Explanation is a sentence a person can act on.
	Explanation string `json:"explanation"`
	// NoiseServiceS and NoiseWallS are the harness's timing noise this
	// check's figure carries (Noise.For); TooClose is true when a failure
	// within it was made unknown.
	NoiseServiceS float64 `json:"noise_service_s,omitempty"`
	NoiseWallS    float64 `json:"noise_wall_s,omitempty"`
	TooClose      bool    `json:"too_close,omitempty"`
	// UnderDriven marks validity when the only thing it found wrong is too
	// few writes before the fault, each of them acknowledged or timed out
	// (none refused): the machine did not drive the workload as designed.
	// It marks too a time-bound failure made unknown for it (Judge).
	UnderDriven bool `json:"under_driven,omitempty"`
	// DecideScale is the time scale at which a too-close figure's noise
	// would be a tenth of its budget: a run at it decides.
	DecideScale float64 `json:"decide_scale,omitempty"`

	// overBudget marks a failure that rests only on Observed > Budget.
	overBudget bool
	// timeouts marks a failure that rests only on requests that timed out
	// (no definite error): each is the wall stretch of one such request.
	timeouts []span
	attempt  time.Duration // a client's attempt time-out (wall)
	// lagStore is the store whose sample replication-lag's figure is.
	lagStore string
}

// Window is a stretch of the run in service time, with the history
// operations that open and close it.
type Window struct {
	Start time.Duration `json:"-"`
	End   time.Duration `json:"-"`
	// StartServiceS and EndServiceS are the same figures in service seconds
	// since the run's epoch.
	StartServiceS float64 `json:"start_service_s"`
	EndServiceS   float64 `json:"end_service_s"`
	// StartOp and EndOp are the history indexes of the operations or events
	// that open and close the window (-1 when the window is open-ended).
	StartOp int `json:"start_op"`
	EndOp   int `json:"end_op"`
}

// Input is everything a check may read.
type Input struct {
	History history.History
	// AfterFailover is the promoted region's data right after failover (nil
	// if no failover happened).
	AfterFailover *topology.Snapshot
	// Final is the active region's data at the end of the run.
	Final *topology.Snapshot
	// Budgets, in service time.
	Budgets Budgets
	// Cutovers are the fingerprints of the stores taken at each failover
	// and failback (nil if none was taken).
	Cutovers []Cutover
}

// Budgets are the objectives the checks hold the run to, in service time.
type Budgets struct {
	RPO                  time.Duration `json:"rpo"`
	RTO                  time.Duration `json:"rto"`
	FailbackInterruption time.Duration `json:"failback_interruption"`
	BatchOutage          time.Duration `json:"batch_outage"`
	// RetryBudget is how long a client may retry one request before the
	// failure counts as customer-visible.
	RetryBudget time.Duration `json:"retry_budget"`
	// MinWritesBeforeFault is the least traffic for a valid run.
	MinWritesBeforeFault int `json:"min_writes_before_fault"`
}

// DefaultBudgets are the BCDR article's objectives.
func DefaultBudgets() Budgets {
	return Budgets{
		RPO:                  15 * time.Minute,
		RTO:                  4 * time.Hour,
		FailbackInterruption: 5 * time.Minute,
		BatchOutage:          25 * time.Minute,
		RetryBudget:          2 * time.Minute,
		MinWritesBeforeFault: 50,
	}
}

// Check is one named check.
type Check interface {
	Name() string
	Check(in Input) Result
}
