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
	if w := r.Window; w != nil && w.End-w.Start == r.Observed {
		// The wall time the window really took: the clock may have run at
		// another scale for part of it (machine steps).
		r.ObservedWallS = clk.WallBetween(w.Start, w.End).Seconds()
	}
	r.BudgetWallS = clk.Wall(r.Budget).Seconds()
	r.LostCount = len(r.Lost)
	if len(r.Lost) > 50 { // the first 50 name the problem; the count says the rest
		r.Lost = r.Lost[:50]
	}
	if r.Window != nil {
		r.Window.StartServiceS = r.Window.Start.Seconds()
		r.Window.EndServiceS = r.Window.End.Seconds()
	}
	if len(r.Ops) > 200 {
		r.Ops = r.Ops[:200]
	}
	return r
}

// window builds a Window between two operations.
func window(from, to history.Op) *Window {
	return &Window{Start: from.Service, End: to.Service, StartOp: from.Index, EndOp: to.Index}
}

// num reads a number from an event or operation value: float64 after a
// JSON round trip, an integer type when recorded in memory.
func num(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

// str reads a string from an event or operation value.
func str(v map[string]any, key string) string {
	s, _ := v[key].(string)
	return s
}

// cancelled tells whether an operation ended only because the workload was
// stopped at the end of the run (not a customer-visible failure).
func cancelled(op history.Op) bool {
	return op.Type != history.OK && (strings.Contains(op.Error, "context canceled") || strings.Contains(op.Error, "the workload stopped first"))
}

// lastOp is the newest operation of the history (the end of the run).
func lastOp(h history.History) history.Op {
	if len(h.Ops) == 0 {
		return history.Op{}
	}
	return h.Ops[len(h.Ops)-1]
}

// eventAfter returns the first event with the name at or after op.
func eventAfter(h history.History, name string, after history.Op) (history.Op, bool) {
	for _, op := range h.Ops {
		if op.Kind == history.Event && op.Key == name && op.Index > after.Index {
			return op, true
		}
	}
	return history.Op{}, false
}

// completionsOf returns the completions of one kind, in invocation order.
func completionsOf(h history.History, kinds ...history.Kind) []history.Completion {
	var out []history.Completion
	for _, c := range h.Completions() {
		for _, k := range kinds {
			if c.Invoke.Kind == k {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// who names the instance (or region) that answered an operation.
func who(op history.Op) string {
	switch {
	case op.Inst != "":
		return op.Inst
	case op.Region != "":
		return "region " + op.Region
	}
	return "no instance"
}

// outcome describes how an operation ended, for explanations.
func outcome(op history.Op) string {
	switch op.Type {
	case history.OK:
		return fmt.Sprintf("ok (HTTP %d) from %s", op.Status, who(op))
	case history.Fail:
		return "failed: " + shorten(op.Error, 90)
	default:
		return "unknown outcome: " + shorten(op.Error, 90)
	}
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// plural formats a count with its noun.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func lostWrite(c history.Completion) LostWrite {
	return LostWrite{Key: c.Invoke.Key, Kind: string(c.Invoke.Kind), Region: c.Result.Region,
		Instance: c.Result.Inst, AckWall: c.Result.Wall, AckSvc: c.Result.Service, InvokeSvc: c.Invoke.Service}
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

// failedOver finds the run's first failover-done event and the region it
// failed over to. When no failover completed it returns, as none, the
// check's unknown result, saying whyNot: the check had nothing to judge.
func failedOver(h history.History, name, whyNot string) (fo history.Op, to string, none *Result) {
	fo, ok := h.FirstEvent(history.EvFailoverDone)
	if !ok {
		r := unknown(name, whyNot)
		return fo, "", &r
	}
	return fo, str(fo.Value, "to"), nil
}

func sortStrings(s []string) { sort.Strings(s) }
