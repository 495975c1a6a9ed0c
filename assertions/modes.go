package assertions

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

// LimitedMode checks the BCDR article's limited mode: while the environment runs
// failed over, update maintenance and package deployment are refused and
// financial reporting is unavailable (HTTP 423 from the AOS), until the
// customer asks support to restore financial reporting in the secondary
// region: from then on reports are served while maintenance stays refused.
// "Failed over" is read from the answers themselves: a probe answered by the
// promoted region after failover-done (and before failback-done). The
// request is the support-request event; reports invoked once the runbook
// recorded reporting-restored (or, when it never did, a retry budget after
// the request) must be served, and reports answered before the request
// refused; reports in between are not judged. The promoted region's stored
// mode right after failover is read too. That everything works again after
// failback is RestoredAfterFailback's business.
type LimitedMode struct{}

// Name is "limited-mode".
func (LimitedMode) Name() string { return "limited-mode" }

// Check reads the maintenance and report probes.
func (LimitedMode) Check(in Input) Result {
	const name = "limited-mode"
	h := in.History
	clk := h.Clock()
	fo, to, none := failedOver(h, name, "no failover completed, so limited mode was never required")
	if none != nil {
		return *none
	}
	fb, failedBack := eventAfter(h, history.EvFailbackDone, fo)
	r := Result{Name: name, Ops: []int{fo.Index}}
	if failedBack {
		r.Ops = append(r.Ops, fb.Index)
	}
	during := func(op history.Op) bool { return op.Wall.After(fo.Wall) && (!failedBack || op.Wall.Before(fb.Wall)) }
	// The customer's request to restore financial reporting, and from when
	// reports must be served.
	req, servedFrom, reqText := restoreRequest(h, in.Budgets.RetryBudget, during)
	if req != nil {
		r.Ops = append(r.Ops, req.Index)
		if rs, ok := eventAfter(h, history.EvReportingRestored, *req); ok && during(rs) {
			r.Ops = append(r.Ops, rs.Index)
		}
	}
	t := tallyLimited(h, to, during, req, servedFrom)
	violations, refused, answered := t.violations, t.refused, t.answered
	reportsBefore, reportsAfter, servedAfter := t.reportsBefore, t.reportsAfter, t.servedAfter
	var stored []string
	if in.AfterFailover != nil && !in.AfterFailover.LimitedMode {
		stored = append(stored, fmt.Sprintf("region %s's database was not in limited mode right after failover", in.AfterFailover.Region))
	}
	sort.Slice(violations, func(i, j int) bool { return violations[i].c.Result.Index < violations[j].c.Result.Index })
	for _, v := range violations {
		r.Ops = append(r.Ops, v.c.Result.Index)
		if d := v.c.Result.Service - fo.Service; d > r.Observed {
			r.Observed = d
		}
	}
	if len(violations) > 0 {
		first, last := violations[0].c.Result, violations[len(violations)-1].c.Result
		r.Window = window(first, last)
	}
	r.Violations = len(violations) + len(stored)
	reportWhen := ""
	if req != nil {
		reportWhen = " before the support request"
	}
	counts := fmt.Sprintf("while failed over to region %s (failover-done at service %s%s): %d of %d maintenance requests refused with 423, %d of %d report requests%s refused",
		to, clock.Round(fo.Service), fbText(failedBack, fb), refused[history.Maintenance], answered[history.Maintenance],
		refused[history.Report], answered[history.Report], reportWhen)
	if req != nil {
		counts += fmt.Sprintf("; %s: %d of %d report requests after it served", reqText, servedAfter, reportsAfter)
	} else {
		counts += "; no support request to restore financial reporting was made, so its restoration was not judged"
	}
	var missing []string
	if answered[history.Maintenance] == 0 {
		missing = append(missing, "no maintenance request reached region "+to+" while failed over")
	}
	if reportsBefore == 0 {
		missing = append(missing, "no report request reached region "+to+" while failed over"+reportWhen)
	}
	if req != nil && reportsAfter == 0 {
		missing = append(missing, "no report request reached region "+to+" after the support request was carried out")
	}
	switch {
	case r.Violations > 0:
		var parts []string
		for i, v := range violations {
			if i == 4 {
				parts = append(parts, fmt.Sprintf("and %d more", len(violations)-4))
				break
			}
			parts = append(parts, v.what)
		}
		parts = append(parts, stored...)
		r.Verdict = Fail
		r.Explanation = fmt.Sprintf("limited mode was not kept: %s; %s. The runbook must put the promoted region in limited mode before switching the front door, every AOS must refuse maintenance and reports in it, and a support request must restore financial reporting alone",
			strings.Join(parts, "; "), counts)
	case len(missing) > 0:
		r.Verdict = Unknown
		r.Explanation = "the run cannot tell: " + strings.Join(missing, "; ") + "; " + counts
	default:
		r.Verdict = Pass
		r.Explanation = "limited mode held " + counts
	}
	return finish(r, clk)
}

// restoreRequest finds the support request to restore financial reporting
// made while failed over (during), and from when reports must be served:
// once reporting-restored says it was carried out, else a retry budget
// after it. text says so, for the explanation.
func restoreRequest(h history.History, retry time.Duration, during func(history.Op) bool) (req *history.Op, servedFrom time.Time, text string) {
	for _, op := range h.Events(history.EvSupportRequest) {
		if str(op.Value, "request") == history.RequestRestoreReporting && during(op) {
			op := op
			req = &op
			break
		}
	}
	if req == nil {
		return nil, time.Time{}, ""
	}
	if restored, ok := eventAfter(h, history.EvReportingRestored, *req); ok && during(restored) {
		return req, restored.Wall, fmt.Sprintf("the support request to restore financial reporting at service %s, carried out (reporting-restored) at %s", clock.Round(req.Service), clock.Round(restored.Service))
	}
	return req, req.Wall.Add(h.Clock().Wall(retry)), fmt.Sprintf("the support request to restore financial reporting at service %s, never carried out (no reporting-restored; reports judged from a retry budget after it, %s)",
		clock.Round(req.Service), clock.Round(req.Service+retry))
}

// modeViolation is a probe the promoted region answered against limited mode.
type modeViolation struct {
	c    history.Completion
	what string
}

// limitedTally counts the maintenance and report probes the promoted
// region answered while failed over.
type limitedTally struct {
	violations        []modeViolation
	refused, answered map[history.Kind]int // before the restore request
	reportsBefore     int
	reportsAfter      int // reports judged after the restore request was carried out
	servedAfter       int
}

// tallyLimited reads the probes region to answered while failed over
// (during); reports after the restore request (req) are judged from
// servedFrom on, those in between not at all.
func tallyLimited(h history.History, to string, during func(history.Op) bool, req *history.Op, servedFrom time.Time) limitedTally {
	t := limitedTally{refused: map[history.Kind]int{}, answered: map[history.Kind]int{}}
	for _, c := range completionsOf(h, history.Maintenance, history.Report) {
		res := c.Result
		if cancelled(res) || res.Status == 0 {
			continue // never answered by an AOS
		}
		if res.Region != to || !during(res) {
			continue
		}
		kind := c.Invoke.Kind
		if kind == history.Report && req != nil && !res.Wall.Before(req.Wall) {
			// After the request: served once it was carried out.
			if !c.Invoke.Wall.After(servedFrom) {
				continue // in between: not judged
			}
			t.reportsAfter++
			switch {
			case res.Type == history.OK:
				t.servedAfter++
			case refusedInLimitedMode(res):
				t.violations = append(t.violations, modeViolation{c, fmt.Sprintf("financial report %s refused in limited mode by %s at service %s after the support request to restore reporting (HTTP %d)",
					c.Invoke.Key, who(res), clock.Round(res.Service), res.Status)})
			}
			continue
		}
		what := "financial report"
		if kind == history.Maintenance {
			what = str(c.Invoke.Value, "kind")
			if what == "" {
				what = "maintenance"
			}
		} else {
			t.reportsBefore++
		}
		t.answered[kind]++
		if refusedInLimitedMode(res) {
			t.refused[kind]++
		} else if res.Type == history.OK {
			verb := "accepted"
			if kind == history.Report {
				verb = "served"
			}
			t.violations = append(t.violations, modeViolation{c, fmt.Sprintf("%s %s %s by %s at service %s while failed over (HTTP %d)",
				what, c.Invoke.Key, verb, who(res), clock.Round(res.Service), res.Status)})
		}
	}
	return t
}

func fbText(failedBack bool, fb history.Op) string {
	if !failedBack {
		return ", no failback"
	}
	return ", failback-done at " + clock.Round(fb.Service).String()
}

// RestoredAfterFailback checks the other half of the BCDR article's limited
// mode: once the environment has failed back, financial reporting, update
// maintenance and package deployment, and batch answer normally again.
// Read from the answers themselves: after failback-done, each of the three
// must be answered successfully by the region failed back to, none may be
// refused by limited mode (HTTP 423), and that region's database must not
// be in limited mode at the end. A kind that fails for another reason after
// it was answered normally is not this check's business (batch-outage and
// the failback checks judge the failback's own disruption).
type RestoredAfterFailback struct{}

// Name is "restored-after-failback".
func (RestoredAfterFailback) Name() string { return "restored-after-failback" }

// restoredKinds are the services limited mode takes away or the failback
// interrupts, in the order explanations name them.
var restoredKinds = []history.Kind{history.Report, history.Maintenance, history.Batch}

func serviceName(k history.Kind) string {
	switch k {
	case history.Report:
		return "financial reporting"
	case history.Maintenance:
		return "maintenance and package deployment"
	}
	return "batch"
}

// Check reads the report, maintenance and batch probes after failback-done.
func (RestoredAfterFailback) Check(in Input) Result {
	const name = "restored-after-failback"
	h := in.History
	clk := h.Clock()
	fo, _, none := failedOver(h, name, "no failover completed, so there was nothing to restore")
	if none != nil {
		return *none
	}
	fb, ok := eventAfter(h, history.EvFailbackDone, fo)
	if !ok {
		return unknown(name, fmt.Sprintf("the failover completed at service %s but no failback completed, so nothing had to be restored yet", clock.Round(fo.Service)))
	}
	to := str(fb.Value, "to")
	r := Result{Name: name, Ops: []int{fb.Index}}
	// The failback disrupts service until the old primary is rebuilt as a
	// standby, and a client retries a retry budget past it: failures until
	// then are the failback checks' business, and say nothing of whether
	// the services came back.
	over := failbackOver(h, fb, true)
	settled := over.Wall.Add(clk.Wall(in.Budgets.RetryBudget))
	t := tallyRestored(h, fb, to, settled)
	problems, missing := t.gaps(&r, to, over)
	if in.Final != nil && in.Final.LimitedMode {
		problems = append(problems, fmt.Sprintf("region %s's database was still in limited mode at the end", in.Final.Region))
	}
	for _, v := range t.violations {
		r.Ops = append(r.Ops, v.op.Index)
	}
	if len(t.violations) > 0 {
		lastBad := t.violations[len(t.violations)-1].op
		r.Observed = lastBad.Service - fb.Service
		r.Window = window(fb, lastBad)
	}
	r.Violations = len(t.violations) + len(problems)
	restored := t.restored(&r, fb)
	head := fmt.Sprintf("after failback-done at service %s (back to region %s)", clock.Round(fb.Service), to)
	restoredVerdict(&r, in.Final, head, t.violations, problems, missing, restored)
	return finish(r, clk)
}

// refusedAnswer is a request refused in limited mode after failback-done,
// and how the explanation names it.
type refusedAnswer struct {
	op   history.Op
	what string
}

// restoredTally is, per kind of restoredKinds, what the region failed
// back to answered after failback-done.
type restoredTally struct {
	// answered counts every answer, normal the successful ones, broken
	// the failures after the failback's disruption was over.
	answered, normal, broken map[history.Kind]int
	first                    map[history.Kind]history.Completion // the first normal answer
	last                     map[history.Kind]history.Completion // the last answer
	violations               []refusedAnswer                     // refused in limited mode
}

// tallyRestored reads the report, maintenance and batch answers region to
// gave after failback-done fb (any region's when to is ""); a failure
// after settled is broken.
func tallyRestored(h history.History, fb history.Op, to string, settled time.Time) restoredTally {
	t := restoredTally{answered: map[history.Kind]int{}, normal: map[history.Kind]int{}, broken: map[history.Kind]int{},
		first: map[history.Kind]history.Completion{}, last: map[history.Kind]history.Completion{}}
	for _, c := range completionsOf(h, restoredKinds...) {
		res := c.Result
		if cancelled(res) || res.Status == 0 || !res.Wall.After(fb.Wall) || (to != "" && res.Region != to) {
			continue // not answered by the region failed back to, after the failback
		}
		kind := c.Invoke.Kind
		t.answered[kind]++
		t.last[kind] = c
		if res.Type == history.OK {
			if t.normal[kind]++; t.normal[kind] == 1 {
				t.first[kind] = c
			}
		} else if res.Wall.After(settled) {
			t.broken[kind]++
		}
		if refusedInLimitedMode(res) {
			what := "financial report"
			if kind == history.Maintenance {
				if what = str(c.Invoke.Value, "kind"); what == "" {
					what = "maintenance"
				}
			}
			t.violations = append(t.violations, refusedAnswer{res, fmt.Sprintf("%s %s refused in limited mode by %s at service %s (HTTP 423, %s after failback-done)",
				what, c.Invoke.Key, who(res), clock.Round(res.Service), clock.Round(res.Service-fb.Service))})
		}
	}
	return t
}

// gaps names the kinds that never answered normally after failback: a
// problem when they failed after the failback's disruption (over plus a
// retry budget) was over, missing (the run cannot tell) when no answer
// came or only failures within the disruption. The last answer of each
// joins r.Ops.
func (t restoredTally) gaps(r *Result, to string, over history.Op) (problems, missing []string) {
	for _, k := range restoredKinds {
		switch {
		case t.answered[k] == 0:
			missing = append(missing, fmt.Sprintf("no %s request was answered by region %s after failback", serviceName(k), to))
		case t.normal[k] == 0 && t.broken[k] > 0:
			l := t.last[k]
			problems = append(problems, fmt.Sprintf("%s never answered normally after failback: %s answered by region %s, none successfully, %d of them after the failback's disruption was over (%s at service %s plus a retry budget), the last %s at service %s, %s",
				serviceName(k), plural(t.answered[k], "request", "requests"), to, t.broken[k], over.Key, clock.Round(over.Service), l.Invoke.Key, clock.Round(l.Result.Service), outcome(l.Result)))
			r.Ops = append(r.Ops, l.Result.Index)
		case t.normal[k] == 0:
			l := t.last[k]
			missing = append(missing, fmt.Sprintf("%s was answered by region %s after failback only with failures while the failback still disrupted it (until %s at service %s plus a retry budget), the last %s at service %s, %s, and the run ended before it answered again",
				serviceName(k), to, over.Key, clock.Round(over.Service), l.Invoke.Key, clock.Round(l.Result.Service), outcome(l.Result)))
			r.Ops = append(r.Ops, l.Result.Index)
		}
	}
	return problems, missing
}

// restored names each kind's first normal answer after failback-done fb;
// each joins r.Ops.
func (t restoredTally) restored(r *Result, fb history.Op) []string {
	var restored []string
	for _, k := range restoredKinds {
		if c, ok := t.first[k]; ok {
			r.Ops = append(r.Ops, c.Result.Index)
			restored = append(restored, fmt.Sprintf("%s at service %s (%s, %s after failback-done, %d of %d answered normally)",
				serviceName(k), clock.Round(c.Result.Service), c.Invoke.Key, clock.Round(c.Result.Service-fb.Service), t.normal[k], t.answered[k]))
		}
	}
	return restored
}

// restoredVerdict sets r's verdict and explanation: fail on any violation
// (r.Violations), unknown when a kind is missing, else pass. head names
// the period; final is the active region's data at the end (nil: not
// taken).
func restoredVerdict(r *Result, final *topology.Snapshot, head string, violations []refusedAnswer, problems, missing, restored []string) {
	switch {
	case r.Violations > 0:
		var parts []string
		for i, v := range violations {
			if i == 4 {
				parts = append(parts, fmt.Sprintf("and %d more", len(violations)-4))
				break
			}
			parts = append(parts, v.what)
		}
		parts = append(parts, problems...)
		r.Verdict = Fail
		r.Explanation = fmt.Sprintf("the failback did not restore every service: %s: %s", head, strings.Join(parts, "; "))
		if len(restored) > 0 {
			r.Explanation += "; restored: " + strings.Join(restored, ", ")
		}
		r.Explanation += ". The failback must take the environment out of limited mode (the runbook's limited-mode-off before the front door switches back), and every AOS must serve reports, maintenance and batch again"
	case len(missing) > 0:
		r.Verdict = Unknown
		r.Explanation = "the run cannot tell: " + head + ", " + strings.Join(missing, "; ")
		if len(restored) > 0 {
			r.Explanation += "; restored: " + strings.Join(restored, ", ")
		}
		r.Explanation += " (a longer after phase or more frequent probes would show it)"
	default:
		r.Verdict = Pass
		r.Explanation = head + " every service answered normally again, none refused in limited mode: " + strings.Join(restored, ", ")
		if final != nil {
			r.Explanation += fmt.Sprintf("; region %s's database was out of limited mode at the end", final.Region)
		}
	}
}

// SignOff checks the BCDR article's consent rule: a failover that loses
// acknowledged writes needs the customer's sign-off granted before it
// starts; a failover with nothing to lose needs none; a refused sign-off
// leaves the environment waiting for its region, never failed over. Loss is
// read from the data (acknowledged writes missing from the promoted region),
// not from the runbook's estimate. Observed is the failover's loss window;
// the budget is zero without a grant, the RPO with one (what the customer
// consents to).
type SignOff struct{}

// Name is "sign-off".
func (SignOff) Name() string { return "sign-off" }

// Check reads the sign-off events against the failover and its loss.
func (SignOff) Check(in Input) Result {
	const name = "sign-off"
	h := in.History
	clk := h.Clock()
	r := Result{Name: name}
	start, failedOver := h.FirstEvent(history.EvFailoverStart)
	ev := readSignOff(h, start, failedOver)
	if ev.asked {
		r.Ops = append(r.Ops, ev.requested.Index)
	}
	if ev.granted != nil {
		r.Ops = append(r.Ops, ev.granted.Index)
	}
	if ev.refused != nil {
		r.Ops = append(r.Ops, ev.refused.Index)
	}
	if !failedOver {
		if ev.refused == nil {
			return unknown(name, "no failover happened and no sign-off was refused, so the consent rule was never exercised")
		}
		judgeRefusedWait(&r, h, ev.refused)
		return finish(r, clk)
	}
	r.Ops = append(r.Ops, start.Index)
	lost, _, measured := rpoLost(in)
	if ev.refused != nil && ev.refused.Index < start.Index && ev.granted == nil {
		r.Verdict = Fail
		r.Violations = 1
		r.Explanation = fmt.Sprintf("the runbook failed over at service %s although the customer refused sign-off at %s", clock.Round(start.Service), clock.Round(ev.refused.Service))
		return finish(r, clk)
	}
	if !measured {
		return unknown(name, fmt.Sprintf("failover started at service %s but no snapshot of the promoted region was taken, so its loss (and the need for sign-off) could not be read", clock.Round(start.Service)))
	}
	if len(lost) > 0 {
		setLossWindow(&r, h, lost)
	}
	ev.judgeFailover(&r, clk, in.Budgets.RPO, start, lost)
	return finish(guardWindow(r, in.History), clk)
}

// signOffEvents are a run's sign-off events: the first request (when
// asked), the first grant before failover-start and the first refusal
// (nil when there is none).
type signOffEvents struct {
	requested        history.Op
	asked            bool
	granted, refused *history.Op
}

// readSignOff reads the sign-off events of h; a grant counts only before
// failover-start (start, when failedOver).
func readSignOff(h history.History, start history.Op, failedOver bool) signOffEvents {
	var granted, refused *history.Op
	requested, asked := h.FirstEvent(history.EvSignOffRequested)
	for _, op := range h.Ops {
		if op.Kind != history.Event {
			continue
		}
		if op.Key == history.EvSignOffGranted && granted == nil && (!failedOver || op.Index < start.Index) {
			op := op
			granted = &op
		}
		if op.Key == history.EvSignOffRefused && refused == nil {
			op := op
			refused = &op
		}
	}
	return signOffEvents{requested: requested, asked: asked, granted: granted, refused: refused}
}

// judgeRefusedWait judges a refused sign-off with no failover: the
// environment must wait, so nothing may be answered by the other region
// after the refusal.
func judgeRefusedWait(r *Result, h history.History, refused *history.Op) {
	var served []history.Completion
	primary := str(refused.Value, "region")
	for _, c := range h.Completions() {
		if c.Result.Type == history.OK && c.Result.Wall.After(refused.Wall) && c.Result.Region != "" && primary != "" && c.Result.Region != primary {
			served = append(served, c)
		}
	}
	if len(served) > 0 {
		r.Verdict = Fail
		r.Violations = len(served)
		r.Ops = append(r.Ops, served[0].Result.Index)
		r.Explanation = fmt.Sprintf("sign-off was refused at service %s but region %s served %s afterwards (first %s at %s)",
			clock.Round(refused.Service), served[0].Result.Region, plural(len(served), "request", "requests"), served[0].Invoke.Key, clock.Round(served[0].Result.Service))
		return
	}
	r.Verdict = Pass
	r.Explanation = fmt.Sprintf("sign-off was refused at service %s and the environment waited for region %s instead of failing over", clock.Round(refused.Service), primary)
}

// setLossWindow sets r's observed loss window, from the first lost write
// to the moment of loss (as rpo's does), with the lost writes.
func setLossWindow(r *Result, h history.History, lost []history.Completion) {
	fault, _ := lossMoment(h)
	r.Observed = fault.Service - lost[0].Result.Service
	if r.Observed < 0 {
		r.Observed = 0
	}
	r.Window = window(lost[0].Result, fault)
	for _, c := range lost {
		r.Lost = append(r.Lost, lostWrite(c))
	}
	r.Ops = append(r.Ops, lost[0].Result.Index)
}

// judgeFailover judges a failover that started at start, with its lost
// writes, against the sign-off asked and granted before it; with a grant
// the budget is rpo, what the customer consented to.
func (ev signOffEvents) judgeFailover(r *Result, clk *clock.Clock, rpo time.Duration, start history.Op, lost []history.Completion) {
	requested, asked, granted := ev.requested, ev.asked, ev.granted
	switch {
	case asked && granted == nil:
		// The runbook itself judged the failover possibly lossy and asked:
		// going ahead without the grant breaks the rule whatever it lost.
		r.Verdict = Fail
		r.Violations = 1
		r.Ops = append(r.Ops, start.Index)
		lostText := "it happened to lose no acknowledged write"
		if len(lost) > 0 {
			lostText = fmt.Sprintf("it lost %s (a loss window of %s: %s)", plural(len(lost), "acknowledged write", "acknowledged writes"), clk.Format(r.Observed),
				describeLost(lostWrites(lost), clk, start.Service, history.EvFailoverStart))
		}
		r.Explanation = fmt.Sprintf("sign-off was requested at service %s but never granted, and the runbook failed over anyway at %s; %s. A failover the runbook judged possibly lossy must wait for the customer's written sign-off",
			clock.Round(requested.Service), clock.Round(start.Service), lostText)
	case len(lost) > 0 && granted == nil:
		r.Verdict = Fail
		r.Violations = 1
		why := "no sign-off was requested"
		if asked {
			why = fmt.Sprintf("sign-off was requested at %s but never granted before the failover", clock.Round(requested.Service))
		}
		r.Explanation = fmt.Sprintf("the failover at service %s lost %s (a loss window of %s: %s) without the customer's written sign-off: %s. A failover with possible data loss must wait for sign-off",
			clock.Round(start.Service), plural(len(lost), "acknowledged write", "acknowledged writes"), clk.Format(r.Observed),
			describeLost(lostWrites(lost), clk, start.Service, history.EvFailoverStart), why)
	case len(lost) > 0:
		r.Verdict = Pass
		r.Budget = rpo // what the customer consented to
		r.Explanation = fmt.Sprintf("the failover at service %s lost %s (loss window %s) and the customer's sign-off was granted first, at %s",
			clock.Round(start.Service), plural(len(lost), "acknowledged write", "acknowledged writes"), clk.Format(r.Observed), clock.Round(granted.Service))
	case asked:
		r.Verdict = Pass
		why := str(requested.Value, "reason")
		if why == "" {
			why = "the runbook saw unshipped commits (possibly unacknowledged ones)"
		}
		r.Explanation = fmt.Sprintf("the failover at service %s lost no acknowledged write; sign-off was asked at %s (%s) and granted at %s",
			clock.Round(start.Service), clock.Round(requested.Service), why, clock.Round(granted.Service))
	default:
		r.Verdict = Pass
		r.Explanation = fmt.Sprintf("the failover at service %s lost no acknowledged write and went ahead without sign-off, as the promise allows", clock.Round(start.Service))
	}
}
