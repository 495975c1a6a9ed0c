package assertions

import (
	"fmt"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
)

// RPO checks the data lost by an unplanned failover: every write
// acknowledged before the failover that is missing from the promoted
// region's data, and the loss window (fault time minus the acknowledgement
// of the earliest lost write), which must be within the RPO budget.
type RPO struct{}

// Name is "rpo".
func (RPO) Name() string { return "rpo" }

// rpoLost returns the writes acknowledged before the failover that the
// promoted region lacks.
func rpoLost(in Input) ([]history.Completion, history.Op, bool) {
	start, ok := in.History.FirstEvent(history.EvFailoverStart)
	if !ok || in.AfterFailover == nil {
		return nil, start, false
	}
	var lost []history.Completion
	for _, c := range in.History.AcknowledgedWrites() {
		if c.Result.Wall.Before(start.Wall) && !in.AfterFailover.Has(c.Invoke.Key) {
			lost = append(lost, c)
		}
	}
	return lost, start, true
}

// lostBeyondFailover is the acknowledged writes missing from the final
// snapshot (in.Final, not nil), less those a region failover in the same
// run already lost (rpoLost: the rpo check's business).
func lostBeyondFailover(in Input) []history.Completion {
	already := map[string]bool{}
	if lost, _, ok := rpoLost(in); ok {
		for _, c := range lost {
			already[c.Invoke.Key] = true
		}
	}
	var lost []history.Completion
	for _, c := range in.History.AcknowledgedWrites() {
		if !already[c.Invoke.Key] && !in.Final.Has(c.Invoke.Key) {
			lost = append(lost, c)
		}
	}
	return lost
}

// Check computes the loss window.
func (RPO) Check(in Input) Result {
	clk := in.History.Clock()
	fault, hasFault := faultTime(in.History)
	if _, started := in.History.FirstEvent(history.EvFailoverStart); !started && in.Final != nil {
		return noFailoverLoss(in, fault, hasFault)
	}
	if !hasFault {
		return unknown("rpo", "no fault was injected, so there is no failover to measure")
	}
	// The loss window ends at the moment the region's data became
	// unreachable, not at the start of the fault's injection.
	fault, _ = lossMoment(in.History)
	lost, start, ok := rpoLost(in)
	if !ok {
		return unknown("rpo", "no failover happened (or no snapshot of the promoted region was taken), so no data loss could be measured")
	}
	if n := ackedBefore(in.History, start); n == 0 {
		return unknown("rpo", fmt.Sprintf("no write was acknowledged before the failover at service %s, so there was nothing the failover could lose and no loss window to measure", clock.Round(start.Service)))
	}
	r := Result{Name: "rpo", Budget: in.Budgets.RPO}
	for _, c := range lost {
		r.Lost = append(r.Lost, lostWrite(c))
		r.Ops = append(r.Ops, c.Result.Index)
	}
	if len(lost) > 0 {
		earliest := lost[0] // AcknowledgedWrites is in acknowledgement order
		r.Observed = fault.Service - earliest.Result.Service
		r.Window = window(earliest.Result, fault)
		if r.Observed < 0 {
			r.Observed = 0
		}
	}
	r.Ops = append(r.Ops, fault.Index)
	switch {
	case len(lost) == 0:
		r.Verdict = Pass
		r.Explanation = fmt.Sprintf("no acknowledged write was lost by the failover after %s", lossName(fault))
	case r.Observed <= r.Budget:
		r.Verdict = Pass
		r.Explanation = fmt.Sprintf("%d acknowledged writes lost, all within %s of %s (budget %s): %s",
			len(lost), clk.Format(r.Observed), lossName(fault), clk.Format(r.Budget),
			describeLost(lostWrites(lost), clk, fault.Service, "the loss"))
	default:
		r.Verdict, r.overBudget = Fail, true
		r.Explanation = fmt.Sprintf("data loss window %s exceeds the RPO budget %s: %d acknowledged writes lost by the failover after %s, earliest first: %s; the secondary only has what log backups shipped before the region was lost, so check the log backup interval and how long replication had stalled",
			clk.Format(r.Observed), clk.Format(r.Budget), len(lost), lossName(fault),
			describeLost(lostWrites(lost), clk, fault.Service, "the loss"))
	}
	return finish(guardWindow(r, in.History), clk)
}

// noFailoverLoss is the RPO of a run that never failed over: nothing may be
// lost at all (the budget only excuses a region failover's loss).
func noFailoverLoss(in Input, fault history.Op, hasFault bool) Result {
	clk := in.History.Clock()
	r := Result{Name: "rpo", Budget: 0}
	acks := in.History.AcknowledgedWrites()
	if len(acks) == 0 {
		return unknown("rpo", "no write was acknowledged in the whole run, so there was nothing to lose")
	}
	if hasFault && ackedBefore(in.History, fault) == 0 {
		return unknown("rpo", fmt.Sprintf("no write was acknowledged before %s at service %s, so there was nothing the fault could lose", faultName(fault), clock.Round(fault.Service)))
	}
	var lost []history.Completion
	for _, c := range in.History.AcknowledgedWrites() {
		if !in.Final.Has(c.Invoke.Key) {
			lost = append(lost, c)
			r.Lost = append(r.Lost, lostWrite(c))
			r.Ops = append(r.Ops, c.Result.Index)
		}
	}
	what := "no fault"
	ref, refName := lastOp(in.History).Service, "the end of the run"
	if hasFault {
		what = fmt.Sprintf("%s at service %s", faultName(fault), clock.Round(fault.Service))
		r.Ops = append(r.Ops, fault.Index)
	}
	if len(lost) == 0 {
		r.Verdict = Pass
		r.Explanation = fmt.Sprintf("no failover happened (%s) and every one of %d acknowledged writes survived in region %s",
			what, len(in.History.AcknowledgedWrites()), in.Final.Region)
		return finish(r, clk)
	}
	r.Verdict = Fail
	r.Observed = ref - lost[0].Result.Service
	r.Window = window(lost[0].Result, lastOp(in.History))
	r.Explanation = fmt.Sprintf("%s lost without any failover (%s): %s; with no region failover nothing may be lost",
		plural(len(lost), "acknowledged write", "acknowledged writes"), what, describeLost(lostWrites(lost), clk, ref, refName))
	return finish(r, clk)
}

// ackedBefore counts the writes acknowledged before op.
func ackedBefore(h history.History, op history.Op) int {
	n := 0
	for _, c := range h.AcknowledgedWrites() {
		if c.Result.Wall.Before(op.Wall) {
			n++
		}
	}
	return n
}

func lostWrites(cs []history.Completion) []LostWrite {
	out := make([]LostWrite, len(cs))
	for i, c := range cs {
		out[i] = lostWrite(c)
	}
	return out
}

// RTO checks the recovery time: from the fault's start until writes succeed
// in the other region and stay successful until failback.
type RTO struct{}

// Name is "rto".
func (RTO) Name() string { return "rto" }

// Check finds the first successful write in the promoted region after which
// no write failed.
func (RTO) Check(in Input) Result {
	clk := in.History.Clock()
	fault, ok := faultTime(in.History)
	if !ok {
		return unknown("rto", "no fault was injected")
	}
	done, ok := in.History.FirstEvent(history.EvFailoverDone)
	to, waited := "", ""
	if ok {
		to, _ = done.Value["to"].(string)
	} else if ref, refused := in.History.FirstEvent(history.EvSignOffRefused); refused && ref.Index > fault.Index {
		// The customer refused a lossy failover: the environment waits for
		// its region, and recovery is writes succeeding there again.
		to = str(ref.Value, "region")
		waited = fmt.Sprintf("sign-off was refused at service %s, so the environment waited for region %s; ", clock.Round(ref.Service), to)
	} else {
		return finish(Result{Name: "rto", Verdict: Fail, Budget: in.Budgets.RTO, Ops: []int{fault.Index},
			Explanation: fmt.Sprintf("writes never recovered: no failover completed after %s at service %s", faultName(fault), clock.Round(fault.Service))}, clk)
	}
	end := in.History.Ops[len(in.History.Ops)-1].Wall
	if fb, ok := in.History.FirstEvent(history.EvFailbackStart); ok {
		end = fb.Wall
	}
	var recovered, recoveredOnce *history.Completion
	var lastBad *history.Completion
	for _, c := range in.History.Completions() {
		c := c
		if !c.Invoke.Kind.IsWrite() || c.Result.Wall.Before(fault.Wall) || c.Result.Wall.After(end) || cancelled(c.Result) {
			continue // a write cut short by the end of the run says nothing of recovery
		}
		if c.Result.Type == history.OK && c.Result.Region == to {
			if recovered == nil {
				recovered = &c
			}
			if recoveredOnce == nil {
				recoveredOnce = &c
			}
		} else if c.Result.Type != history.OK {
			recovered, lastBad = nil, &c
		}
	}
	r := Result{Name: "rto", Budget: in.Budgets.RTO, Ops: []int{fault.Index}}
	if recovered == nil && recoveredOnce != nil {
		// Writes did recover there; only what failed after rests the
		// failure, and if each was a time-out a stalled machine may explain it.
		r.timeouts = timeoutSpans(in.History, recoveredOnce.Result.Wall, end)
		r.attempt = runAttempt(in.History, in.Budgets)
	}
	if recovered == nil {
		r.Verdict = Fail
		r.Explanation = fmt.Sprintf("%swrites did not recover in region %s and stay successful before failback (fault %s at service %s)", waited, to, faultName(fault), clock.Round(fault.Service))
		if lastBad != nil {
			r.Ops = append(r.Ops, lastBad.Result.Index)
			r.Explanation += fmt.Sprintf("; last failed write %s at service %s: %s", lastBad.Invoke.Key, clock.Round(lastBad.Result.Service), lastBad.Result.Error)
		}
		return finish(r, clk)
	}
	r.Observed = recovered.Result.Service - fault.Service
	r.Window = window(fault, recovered.Result)
	r.Ops = append(r.Ops, recovered.Result.Index)
	r.Verdict = Pass
	if r.Observed > r.Budget {
		r.Verdict, r.overBudget = Fail, true
	}
	r.Explanation = fmt.Sprintf("%swrites recovered in region %s %s after %s (service %s -> %s; first steady success %s on %s); budget %s; %s",
		waited, to, clk.Format(r.Observed), faultName(fault), clock.Round(fault.Service), clock.Round(recovered.Result.Service),
		recovered.Invoke.Key, recovered.Result.Inst, clk.Format(r.Budget), failoverSteps(in.History, fault))
	return finish(r, clk)
}

// failoverSteps lists the runbook's failover events after the fault with
// their times, so a reader sees where the recovery time went.
func failoverSteps(h history.History, fault history.Op) string {
	out := "failover steps:"
	n := 0
	for _, op := range h.Ops {
		if op.Kind != history.Event || op.Index < fault.Index {
			continue
		}
		switch op.Key {
		case history.EvOutageDetected, history.EvSignOffRequested, history.EvSignOffGranted, history.EvFailoverStart,
			history.EvLimitedModeOn, history.EvFailoverDone, history.EvFailoverAborted:
			out += fmt.Sprintf(" %s at %s,", op.Key, clock.Round(op.Service))
			n++
		case history.EvFailoverStep:
			out += " " + stepTook(op) + ","
			n++
		}
		if op.Key == history.EvFailoverDone {
			break
		}
	}
	if n == 0 {
		return "no failover step recorded"
	}
	return out[:len(out)-1]
}

// stepTook tells one runbook step's wall time ("promote SQL secondary took
// 7.21s wall, 2 attempts").
func stepTook(op history.Op) string {
	name := str(op.Value, "step")
	ms, _ := num(op.Value["wall_ms"])
	attempts, _ := num(op.Value["attempts"])
	out := fmt.Sprintf("%s took %s wall", name, clock.Round(time.Duration(ms)*time.Millisecond))
	if attempts > 1 {
		out += fmt.Sprintf(", %d attempts", int64(attempts))
	}
	return out
}

// FailbackLoss checks that failback loses nothing: every acknowledged write
// not already lost to the failover (RPO) is in the final data, including
// those acknowledged while failed over.
type FailbackLoss struct{}

// Name is "failback-loss".
func (FailbackLoss) Name() string { return "failback-loss" }

// Check compares the acknowledged writes with the final snapshot.
func (FailbackLoss) Check(in Input) Result {
	clk := in.History.Clock()
	fb, ok := in.History.FirstEvent(history.EvFailbackDone)
	if !ok {
		return unknown("failback-loss", "no failback completed, so its loss could not be measured")
	}
	if in.Final == nil {
		return unknown("failback-loss", "no final snapshot was taken")
	}
	start, _ := in.History.FirstEvent(history.EvFailbackStart)
	r := Result{Name: "failback-loss", Ops: []int{start.Index, fb.Index}}
	// The failback's own stake is what the failed-over region acknowledged
	// before the switch: with none, nothing it could lose was exercised.
	if n := ackedWhileFailedOver(in.History, start); n == 0 {
		return unknown("failback-loss", fmt.Sprintf("no write was acknowledged by the failed-over region between failover-done and the failback's switch (failback started at service %s), so the failback had nothing of its own to lose", clock.Round(start.Service)))
	}
	lost := lostBeyondFailover(in)
	for _, c := range lost {
		r.Lost = append(r.Lost, lostWrite(c))
		r.Ops = append(r.Ops, c.Result.Index)
	}
	if len(lost) == 0 {
		r.Verdict = Pass
		r.Explanation = fmt.Sprintf("every acknowledged write survived the failback to region %s (failback service %s -> %s)",
			in.Final.Region, clock.Round(start.Service), clock.Round(fb.Service))
		return finish(r, clk)
	}
	// The loss is measured up to the switch: the front door's drain (the
	// last moment region b took writes), else failback-done.
	sw, refName := fb, history.EvFailbackDone
	if d, ok := eventAfter(in.History, history.EvFrontDoorDrained, start); ok {
		sw, refName = d, "the front door's drain"
	}
	r.Verdict = Fail
	r.Observed = sw.Service - lost[0].Result.Service
	if r.Observed < 0 {
		r.Observed = 0
	}
	r.Window = window(lost[0].Result, sw)
	r.Ops = append(r.Ops, sw.Index)
	r.Explanation = fmt.Sprintf("%d acknowledged writes lost across the failback (started service %s, switch at %s): %s; the failback must take a final log backup before the switch",
		len(lost), clock.Round(start.Service), clock.Round(sw.Service), describeLost(lostWrites(lost), clk, sw.Service, refName))
	return finish(r, clk)
}

// ackedWhileFailedOver counts the writes acknowledged by the promoted
// region between failover-done and the failback's switch (the front door's
// drain after start, else failback-done).
func ackedWhileFailedOver(h history.History, start history.Op) int {
	done, ok := h.FirstEvent(history.EvFailoverDone)
	if !ok {
		return 0
	}
	to := str(done.Value, "to")
	end, ok := eventAfter(h, history.EvFrontDoorDrained, start)
	if !ok {
		if end, ok = h.FirstEvent(history.EvFailbackDone); !ok {
			end = lastOp(h)
		}
	}
	n := 0
	for _, c := range h.AcknowledgedWrites() {
		if c.Result.Wall.After(done.Wall) && c.Result.Wall.Before(end.Wall) && (to == "" || c.Result.Region == to) {
			n++
		}
	}
	return n
}

// Validity checks the test itself: enough traffic before the fault, the
// fault took effect, health checked before and after. A run that fails it is
// unknown, not pass.
type Validity struct{}

// Name is "validity".
func (Validity) Name() string { return "validity" }

// Check reads the harness's recorded evidence.
func (Validity) Check(in Input) Result {
	clk := in.History.Clock()
	r := Result{Name: "validity", Verdict: Pass}
	var problems []string
	fault, hasFault := faultTime(in.History)
	if hasFault {
		n := 0
		for _, c := range in.History.AcknowledgedWrites() {
			if c.Result.Wall.Before(fault.Wall) {
				n++
			}
		}
		if n < in.Budgets.MinWritesBeforeFault {
			// Few writes, each acknowledged or timed out, where the
			// workload's rate would have made enough, is a machine too
			// slow to drive it; writes refused is an environment that
			// does not work, and a rate too low for the minimum is a
			// scenario that cannot be valid: neither is the machine's.
			r.UnderDriven = n > 0 && refusedWritesBefore(in.History, fault) == 0 &&
				designedWritesBefore(in.History, fault) >= float64(in.Budgets.MinWritesBeforeFault)
			problems = append(problems, fmt.Sprintf("only %d acknowledged writes before the fault (need %d)", n, in.Budgets.MinWritesBeforeFault))
		}
		for _, op := range in.History.Events(history.EvFaultInjected) {
			if v, _ := op.Value["verified"].(bool); !v {
				why, _ := op.Value["verify_error"].(string)
				problems = append(problems, fmt.Sprintf("fault %s at service %s was never observed to take effect: %s", faultName(op), clock.Round(op.Service), why))
				r.Ops = append(r.Ops, op.Index)
			}
		}
	}
	for _, when := range []string{"before", "after"} {
		found := false
		for _, op := range in.History.Events(history.EvHealth) {
			if op.Value["when"] != when {
				continue
			}
			found = true
			if ok, _ := op.Value["ok"].(bool); !ok {
				problems = append(problems, fmt.Sprintf("health check %s the faults failed: %v", when, op.Value["error"]))
				r.Ops = append(r.Ops, op.Index)
			}
		}
		if !found {
			problems = append(problems, "no health check "+when+" the faults")
		}
	}
	if len(problems) > 0 {
		r.Verdict = Unknown
		r.UnderDriven = r.UnderDriven && len(problems) == 1
		r.Explanation = "the run cannot tell: " + joinSemi(problems)
	} else {
		r.Explanation = "enough traffic before the fault, every fault observed to take effect, healthy before and after"
	}
	return finish(r, clk)
}

// designedWritesBefore is how many writes the workload's rate (recorded
// in the workload event, writes per wall second) would have made from the
// first write's invocation to the fault: 0 when the history does not say.
func designedWritesBefore(h history.History, fault history.Op) float64 {
	ev, ok := h.FirstEvent(history.EvWorkload)
	if !ok {
		return 0
	}
	rate, _ := num(ev.Value["rate"])
	for _, c := range h.Completions() {
		if c.Invoke.Kind.IsWrite() {
			if d := fault.Wall.Sub(c.Invoke.Wall); d > 0 {
				return rate * d.Seconds()
			}
			return 0
		}
	}
	return 0
}

// refusedWritesBefore counts the writes refused with a definite error
// before the fault.
func refusedWritesBefore(h history.History, fault history.Op) int {
	n := 0
	for _, c := range h.Completions() {
		if c.Invoke.Kind.IsWrite() && c.Result.Type == history.Fail && c.Result.Wall.Before(fault.Wall) {
			n++
		}
	}
	return n
}

func joinSemi(s []string) string {
	out := ""
	for i, p := range s {
		if i > 0 {
			out += "; "
		}
		out += p
	}
	return out
}

// Registry maps stable check names to checks.
var registry = map[string]Check{}

// Register adds a check by its name.
func Register(c Check) { registry[c.Name()] = c }

// Lookup finds a check by name.
func Lookup(name string) (Check, bool) { c, ok := registry[name]; return c, ok }

// Names lists the registered check names.
func Names() []string {
	var out []string
	for n := range registry {
		out = append(out, n)
	}
	sortStrings(out)
	return out
}

// CoreRegionChecks are the checks any run that loses a region is judged
// by, whatever else it does: the run is valid, the failover kept the RPO
// and the RTO, the failback lost nothing.
func CoreRegionChecks() []string {
	return []string{"validity", "rpo", "rto", "failback-loss"}
}

// RegionChecks are every promise a region-loss drill with the runbook as
// written must keep: the core four, sign-off before a lossy failover,
// customers notified before each traffic switch, limited mode while failed
// over with the secondary carrying the load, everything restored after
// failback, the failback's write
// interruption and batch outage, the stores fingerprinted alike at each
// cutover (cutover-fingerprint), the ledger and the stores agreeing, and
// replication lag within the RPO in steady state.
func RegionChecks() []string {
	return []string{"validity", "rpo", "rto", "sign-off", "customer-notice", "failback-loss", "failback-interruption", "batch-outage",
		"limited-mode", "restored-after-failback", "secondary-capacity", "cutover-fingerprint", "ledger", "cross-store", "replication-lag"}
}

func init() {
	for _, c := range []Check{Validity{}, RPO{}, RTO{}, FailbackLoss{}, FailbackInterruption{}, BatchOutage{},
		FaultDomainAvailability{}, Ledger{}, CrossStore{}, LimitedMode{}, SignOff{}, ReplicationLag{},
		CustomerNotice{}, RestoredAfterFailback{}, SecondaryCapacity{}, CutoverFingerprint{}} {
		Register(c)
	}
}
