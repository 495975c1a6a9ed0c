package assertions

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
)

// finish fills the derived figures of a result.
func finish(r Result, clk *clock.Clock) Result {
	r.ObservedServiceS = r.Observed.Seconds()
	r.BudgetServiceS = r.Budget.Seconds()
	r.ObservedWallS = clk.Wall(r.Observed).Seconds()
	r.BudgetWallS = clk.Wall(r.Budget).Seconds()
	r.LostCount = len(r.Lost)
	if len(r.Lost) > 50 { // the first 50 name the problem; the count says the rest
		r.Lost = r.Lost[:50]
	}
	return r
}

func lostWrite(c history.Completion) LostWrite {
	return LostWrite{Key: c.Invoke.Key, Kind: string(c.Invoke.Kind), Region: c.Result.Region,
		Instance: c.Result.Inst, AckWall: c.Result.Wall, AckSvc: c.Result.Service}
}

// describeLost names the first few lost writes with their times.
func describeLost(lost []LostWrite, clk *clock.Clock, ref time.Duration, refName string) string {
	if len(lost) == 0 {
		return ""
	}
	sort.Slice(lost, func(i, j int) bool { return lost[i].AckSvc < lost[j].AckSvc })
	var parts []string
	for i, l := range lost {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(lost)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (acknowledged by %s at service %s, %s before %s)",
			l.Key, l.Instance, clock.Round(l.AckSvc), clock.Round(ref-l.AckSvc), refName))
	}
	return strings.Join(parts, ", ")
}

// faultTime is the first injected fault that takes a region away, else the
// first fault.
func faultTime(h history.History) (history.Op, bool) {
	var first *history.Op
	for _, op := range h.Events(history.EvFaultInjected) {
		op := op
		if rl, _ := op.Value["region_loss"].(bool); rl {
			return op, true
		}
		if first == nil {
			first = &op
		}
	}
	if first != nil {
		return *first, true
	}
	return history.Op{}, false
}

func faultName(op history.Op) string {
	if n, ok := op.Value["fault"].(string); ok {
		return n
	}
	return "fault"
}

func unknown(name, why string) Result {
	return Result{Name: name, Verdict: Unknown, Explanation: why}
}

func sortStrings(s []string) { sort.Strings(s) }
