package assertions

import (
	"fmt"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
)

// CustomerNotice checks the BCDR article's promise that customers are
// notified when their environment fails over and when it fails back: a
// notice of the right direction received by the notification sink (its
// customer-notified event, recorded by the sink as it arrived, never by
// the runbook) must precede each traffic switch (the front door sending traffic to the promoted region, then back
// to the region failed back to), and the failover's notice must name the
// expected loss when the runbook judged the failover possibly lossy (it
// asked for sign-off). The switch is the runbook's front-door-switched
// event; a history recorded before that event existed is read by
// failover-done and failback-done, which follow the switch at once; one
// recorded before the sink (no notification-sink event) by the
// customer-notified events of the runbook's in-process recorder.
type CustomerNotice struct{}

// Name is "customer-notice".
func (CustomerNotice) Name() string { return "customer-notice" }

// noticeFor is one traffic switch and the notice that had to precede it.
type noticeFor struct {
	direction string
	after     history.Op // the notice must come after this (the start of the move)
	sw        history.Op // the switch
}

// Check reads the notices against the switches.
func (CustomerNotice) Check(in Input) Result {
	const name = "customer-notice"
	h := in.History
	clk := h.Clock()
	start, ok := h.FirstEvent(history.EvFailoverStart)
	if !ok {
		return unknown(name, "no failover started, so no customer notice was owed (a refused sign-off leaves the environment waiting for its region)")
	}
	to := str(start.Value, "to")
	foSwitch, ok := switchTo(h, start, "failover", to, history.EvFailoverDone)
	if !ok {
		return unknown(name, fmt.Sprintf("the failover started at service %s but traffic never moved to region %s, so no switch had to be preceded by a notice", clock.Round(start.Service), to))
	}
	r := Result{Name: name, Ops: []int{start.Index, foSwitch.Index}}
	// The failover's notice may come as soon as the outage that caused it
	// was detected.
	from := history.Op{Index: -1}
	for _, op := range h.Events(history.EvOutageDetected) {
		if op.Index < start.Index {
			from = op
		}
	}
	moves := []noticeFor{{"failover", from, foSwitch}}
	var notes []string
	if fbStart, ok := eventAfter(h, history.EvFailbackStart, foSwitch); ok {
		back := str(fbStart.Value, "to")
		if fbSwitch, ok := switchTo(h, fbStart, "failback", back, history.EvFailbackDone); ok {
			moves = append(moves, noticeFor{"failback", foSwitch, fbSwitch})
			r.Ops = append(r.Ops, fbStart.Index, fbSwitch.Index)
		} else {
			notes = append(notes, fmt.Sprintf("the failback started at service %s never switched traffic back, so its notice was not judged", clock.Round(fbStart.Service)))
		}
	} else {
		notes = append(notes, "no failback started, so only the failover's notice was judged")
	}
	var asked *history.Op
	if req, ok := h.FirstEvent(history.EvSignOffRequested); ok && req.Index < start.Index {
		asked = &req
	}
	received := receivedNotices(h)
	var problems, kept []string
	for _, m := range moves {
		notice, found, late := noticeBefore(received, m)
		switch {
		case found:
			r.Ops = append(r.Ops, notice.Index)
			lead := m.sw.Service - notice.Service
			text := fmt.Sprintf("the %s notice at service %s, %s before the switch to region %s at %s", m.direction,
				clock.Round(notice.Service), clock.Round(lead), str(m.sw.Value, "region"), clock.Round(m.sw.Service))
			if m.direction == "failover" && asked != nil {
				r.Ops = append(r.Ops, asked.Index)
				loss, named := num(notice.Value["expected_loss_service_s"])
				if !named {
					problems = append(problems, fmt.Sprintf("%s did not name the expected loss, although the runbook judged the failover possibly lossy and asked for sign-off at %s (%s)",
						text, clock.Round(asked.Service), reasonOf(*asked)))
					continue
				}
				text += fmt.Sprintf(" named the expected loss (writes of up to %s before the outage was detected)", clock.Round(time.Duration(loss*float64(time.Second))))
			}
			kept = append(kept, text)
		case late != nil:
			r.Ops = append(r.Ops, late.Index)
			problems = append(problems, fmt.Sprintf("the %s notice came at service %s, %s after the traffic switch to region %s at %s",
				m.direction, clock.Round(late.Service), clock.Round(late.Service-m.sw.Service), str(m.sw.Value, "region"), clock.Round(m.sw.Service)))
		default:
			why := ""
			if f, ok := failedNotice(h, m); ok {
				r.Ops = append(r.Ops, f.Index)
				why = fmt.Sprintf(" (the notification sink refused it at service %s: %s)", clock.Round(f.Service), shorten(str(f.Value, "error"), 90))
			}
			problems = append(problems, fmt.Sprintf("no %s notice reached customers before the traffic switch to region %s at service %s%s",
				m.direction, str(m.sw.Value, "region"), clock.Round(m.sw.Service), why))
		}
	}
	r.Violations = len(problems)
	switch {
	case len(problems) > 0:
		r.Verdict = Fail
		r.Explanation = "customers were not told in time: " + strings.Join(problems, "; ")
		if len(kept) > 0 {
			r.Explanation += "; kept: " + strings.Join(kept, "; ")
		}
		r.Explanation += ". The runbook must post a notice to customers before it moves their traffic, in both directions, and a failover that may lose data must tell them how much"
	default:
		r.Verdict = Pass
		r.Explanation = "customers were notified before each traffic switch: " + strings.Join(kept, "; ")
	}
	if len(notes) > 0 {
		r.Explanation += "; " + strings.Join(notes, "; ")
	}
	return finish(r, clk)
}

// switchTo is the front door's switch to region to in the direction after
// from, else (a history without front-door-switched) the event fallback
// that follows the switch.
func switchTo(h history.History, from history.Op, direction, to, fallback string) (history.Op, bool) {
	for _, op := range h.Events(history.EvFrontDoorSwitched) {
		if op.Index > from.Index && str(op.Value, "direction") == direction && (to == "" || str(op.Value, "region") == to) {
			return op, true
		}
	}
	for _, op := range h.Events(history.EvFrontDoorSwitched) {
		if op.Index > from.Index {
			return history.Op{}, false // switches recorded, none of this move
		}
	}
	op, ok := eventAfter(h, fallback, from)
	if ok && op.Value != nil && str(op.Value, "region") == "" {
		// Name the region the fallback event moved traffic to.
		v := map[string]any{}
		for k, x := range op.Value {
			v[k] = x
		}
		v["region"] = str(op.Value, "to")
		op.Value = v
	}
	return op, ok
}

// receivedNotices are the notices customers received: the sink's records
// when the run had a notification sink (received_by), else (a history
// recorded before the sink) every customer-notified event.
func receivedNotices(h history.History) []history.Op {
	all := h.Events(history.EvCustomerNotified)
	if _, ok := h.FirstEvent(history.EvNotificationSink); !ok {
		return all
	}
	var out []history.Op
	for _, op := range all {
		if str(op.Value, "received_by") == SinkReceivedBy {
			out = append(out, op)
		}
	}
	return out
}

// SinkReceivedBy marks the notification sink's records of what it
// received (their received_by).
const SinkReceivedBy = "notification-sink"

// noticeBefore finds the newest notice of the move's direction between its
// start and its switch, or else the first one after the switch (late).
func noticeBefore(received []history.Op, m noticeFor) (notice history.Op, found bool, late *history.Op) {
	for _, op := range received {
		if str(op.Value, "direction") != m.direction || op.Index <= m.after.Index {
			continue
		}
		if op.Index < m.sw.Index {
			notice, found = op, true
			continue
		}
		if late == nil {
			op := op
			late = &op
		}
	}
	return notice, found, late
}

// failedNotice is a notice of the move's direction the sink refused before
// the switch (a webhook's failure is not the customers' notice).
func failedNotice(h history.History, m noticeFor) (history.Op, bool) {
	for _, op := range h.Events(history.EvCustomerNoticeFailed) {
		if str(op.Value, "target") == "webhook" {
			continue
		}
		if str(op.Value, "direction") == m.direction && op.Index > m.after.Index && op.Index < m.sw.Index {
			return op, true
		}
	}
	return history.Op{}, false
}

func reasonOf(req history.Op) string {
	if why := str(req.Value, "reason"); why != "" {
		return why
	}
	return "unshipped commits"
}
