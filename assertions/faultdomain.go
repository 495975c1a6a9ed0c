package assertions

import (
	"fmt"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
)

// FaultDomainAvailability checks the BCDR article's "hardware faults inside a region:
// customers barely notice, no data loss", and holds network faults to the
// same. For every hardware or network fault that does not take the region
// away (an instance crash or freeze, a fault domain's loss, a SQL crash in
// place, a link cut or slowed), from its injection until a retry budget
// after its recovery, outside the stretch the region promise governs (a
// region lost, failed over and failed back): no client request failed or gave up (a client retries for
// Budgets.RetryBudget before the failure is the customer's), no request
// waited longer than that budget, and no acknowledged write is missing from
// the final data.
type FaultDomainAvailability struct{}

// Name is "fault-domain-availability".
func (FaultDomainAvailability) Name() string { return "fault-domain-availability" }

// hardwareFault is one injected hardware fault and when it ended.
type hardwareFault struct {
	inject, recover history.Op
	recovered       bool
}

func hardwareFaults(h history.History) []hardwareFault {
	var out []hardwareFault
	for _, op := range h.Events(history.EvFaultInjected) {
		if !availabilityFault(op) {
			continue
		}
		f := hardwareFault{inject: op, recover: lastOp(h)}
		for _, rec := range h.Events(history.EvFaultRecovered) {
			if rec.Index > op.Index && faultName(rec) == faultName(op) {
				f.recover, f.recovered = rec, true
				break
			}
		}
		out = append(out, f)
	}
	return out
}

// Check reads every client request around each hardware fault.
func (FaultDomainAvailability) Check(in Input) Result {
	const name = "fault-domain-availability"
	h := in.History
	clk := h.Clock()
	hw := hardwareFaults(h)
	if len(hw) == 0 {
		return unknown(name, "no hardware or network fault (instance, fault domain, SQL crash in place, a link) was injected, so there is nothing to check")
	}
	r := Result{Name: name, Budget: in.Budgets.RetryBudget}
	var faultDesc []string
	for _, f := range hw {
		r.Ops = append(r.Ops, f.inject.Index, f.recover.Index)
		faultDesc = append(faultDesc, f.describe())
	}
	t := tallyFaultRequests(h, hw, in.Budgets.RetryBudget)
	failures, slowest, slowestWait := t.failures, t.slowest, t.slowestWait
	if t.requests == 0 {
		return unknown(name, fmt.Sprintf("no client request was made from the injection of the fault to a retry budget after its recovery (%s), so customers' experience of it could not be judged", strings.Join(faultDesc, "; ")))
	}
	if slowestWait < 0 {
		slowestWait = 0
	}
	r.Observed = slowestWait
	if slowestWait > 0 {
		r.Window = window(slowest.Invoke, slowest.Result)
		r.Ops = append(r.Ops, slowest.Result.Index)
	}
	// No acknowledged write may be missing, except what a region failover
	// in the same run already lost (the rpo check's business).
	var lost []history.Completion
	if in.Final != nil {
		lost = lostBeyondFailover(in)
		for _, c := range lost {
			r.Lost = append(r.Lost, lostWrite(c))
			r.Ops = append(r.Ops, c.Result.Index)
		}
	}
	seen := map[int]bool{}
	for _, c := range failures {
		if !seen[c.Result.Index] {
			seen[c.Result.Index] = true
			r.Ops = append(r.Ops, c.Result.Index)
		}
	}
	r.Violations = len(failures)
	faultsText := strings.Join(faultDesc, "; ")
	var problems []string
	if len(failures) > 0 {
		problems = append(problems, fmt.Sprintf("%s failed past the retry budget %s: %s",
			plural(len(failures), "client request", "client requests"), clk.Format(r.Budget), describeFailures(failures)))
	}
	if slowestWait > r.Budget {
		problems = append(problems, fmt.Sprintf("the slowest request %s waited %s (service %s -> %s, %s)",
			slowest.Invoke.Key, clk.Format(slowestWait), clock.Round(slowest.Invoke.Service), clock.Round(slowest.Result.Service), outcome(slowest.Result)))
	}
	if len(lost) > 0 {
		problems = append(problems, fmt.Sprintf("%s missing from region %s's final data: %s",
			plural(len(lost), "acknowledged write", "acknowledged writes"), in.Final.Region, describeLost(lostWrites(lost), clk, lastOp(h).Service, "the end of the run")))
	}
	if in.Final == nil {
		problems = append(problems, "no final snapshot was taken, so loss could not be checked")
	}
	switch {
	case len(failures) > 0 || len(lost) > 0 || slowestWait > r.Budget:
		r.Verdict = Fail
		r.LostCount = len(lost)
		// Requests that only ran out of time rest on a time figure (the
		// slowest wait against the retry budget), as a slow one does.
		r.overBudget = len(lost) == 0 && in.Final != nil && allTimedOut(failures)
		r.Explanation = fmt.Sprintf("customers noticed the hardware or network fault (%s): %s. The surviving instances and fault domains must carry the load: check the placement over fault domains and the load balancer's health probes",
			faultsText, strings.Join(problems, "; "))
	case in.Final == nil:
		r.Verdict = Unknown
		r.Explanation = strings.Join(problems, "; ")
	default:
		r.Verdict = Pass
		r.Explanation = fmt.Sprintf("customers barely noticed (%s): every client request succeeded within the retry budget %s (slowest %s, %s) and no acknowledged write was lost",
			faultsText, clk.Format(r.Budget), clk.Format(slowestWait), slowest.Invoke.Key)
	}
	return finish(r, clk)
}

// describe names the fault, its parameters and its span.
func (f hardwareFault) describe() string {
	params := ""
	if p, ok := f.inject.Value["params"].(map[string]any); ok {
		params = fmt.Sprint(p)
	} else if p, ok := f.inject.Value["params"].(map[string]string); ok {
		params = fmt.Sprint(p)
	}
	return fmt.Sprintf("%s %s at service %s, recovered at %s", faultName(f.inject), params,
		clock.Round(f.inject.Service), clock.Round(f.recover.Service))
}

// faultRequests is what customers met around the hardware faults.
type faultRequests struct {
	requests    int                  // the client requests judged
	failures    []history.Completion // those that failed (a limited-mode refusal is an answer)
	slowest     history.Completion
	slowestWait time.Duration // -1 when no request was judged
}

// tallyFaultRequests reads every client request from each fault's
// injection to a retry budget after its recovery, leaving out what the
// region promise governs (a region lost, a failover and its failback:
// rto's and the failback checks' business) and the expected outage of a
// single-instance fault.
func tallyFaultRequests(h history.History, hw []hardwareFault, retryBudget time.Duration) faultRequests {
	region, hasRegion := regionSpan(h, retryBudget)
	single := singleInstanceSpans(h, retryBudget)
	retryWall := h.Clock().Wall(retryBudget)
	t := faultRequests{slowestWait: -1}
	for _, f := range hw {
		until := f.recover.Wall.Add(retryWall)
		for _, c := range h.Completions() {
			k := c.Invoke.Kind
			if k == history.Health || k == history.Maintenance {
				continue // maintenance is the operator's, not the customers'
			}
			if c.Result.Wall.Before(f.inject.Wall) || c.Invoke.Wall.After(until) || cancelled(c.Result) {
				continue
			}
			if hasRegion && region.holds(c) {
				continue
			}
			if heldBy(single, c) {
				continue // the expected outage of a single-instance fault (rpo judges its loss)
			}
			t.requests++
			if c.Result.Type != history.OK && !refusedInLimitedMode(c.Result) {
				t.failures = append(t.failures, c)
			}
			if w := c.Result.Service - c.Invoke.Service; w > t.slowestWait {
				t.slowestWait, t.slowest = w, c
			}
		}
	}
	return t
}

// describeFailures names the first few failed requests with their times.
func describeFailures(cs []history.Completion) string {
	var parts []string
	for i, c := range cs {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(cs)-3))
			break
		}
		parts = append(parts, fmt.Sprintf("%s #%d invoked at service %s, %s after %d tries at %s",
			c.Invoke.Key, c.Result.Index, clock.Round(c.Invoke.Service), outcome(c.Result), c.Result.Tries, clock.Round(c.Result.Service)))
	}
	return strings.Join(parts, ", ")
}

// allTimedOut tells whether every failed request gave up because its
// attempts ran out of time, not on a definite error (no healthy instance,
// a refused connection, a server error).
func allTimedOut(cs []history.Completion) bool {
	for _, c := range cs {
		e := c.Result.Error
		if c.Result.Status != 0 || !(strings.Contains(e, "deadline exceeded") || strings.Contains(e, "Timeout") || strings.Contains(e, "timeout")) {
			return false
		}
	}
	return true
}
