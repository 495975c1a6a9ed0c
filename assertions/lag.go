package assertions

import (
	"fmt"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
)

// ReplicationLag checks that in steady state (before the first fault) the
// geo-secondaries stay within the RPO: every recorded lag sample of SQL log
// shipping (how far the secondary's restored data trails) and of blob
// replication (the age of the oldest object not yet replicated) is at most
// Budgets.RPO. A failing result names the first sample over the budget and
// the worst one.
type ReplicationLag struct{}

// Name is "replication-lag".
func (ReplicationLag) Name() string { return "replication-lag" }

// The stores replication-lag judges, as its explanations name them.
const (
	lagSQL  = "SQL log shipping"
	lagBlob = "blob replication"
)

// minLagSamples is the least number of steady-state samples for a verdict.
const minLagSamples = 3

type lagSample struct {
	op        history.Op
	sql, blob time.Duration
	hasSQL    bool
	hasBlob   bool
}

// Check reads the lag samples before the first fault.
func (ReplicationLag) Check(in Input) Result {
	const name = "replication-lag"
	h := in.History
	clk := h.Clock()
	l := readLag(h)
	if why := l.whyUnknown(); why != "" {
		return unknown(name, why)
	}
	r := Result{Name: name, Budget: in.Budgets.RPO}
	t := tallyLag(l.samples, r.Budget)
	worst, store := t.worstSQL, lagSQL
	r.Observed = t.worstSQL.sql
	if t.worstBlob.blob > r.Observed {
		worst, store, r.Observed = t.worstBlob, lagBlob, t.worstBlob.blob
	}
	r.lagStore = store
	r.Ops = append(r.Ops, worst.op.Index)
	figures := l.figures(clk, t)
	if t.firstOver == nil {
		r.Verdict = Pass
		r.Explanation = fmt.Sprintf("in steady state both geo-secondaries stayed within the RPO budget %s: %s", clk.Format(r.Budget), figures)
		return finish(r, clk)
	}
	r.Ops = append([]int{t.firstOver.op.Index}, r.Ops...)
	r.Window = window(t.firstOver.op, worst.op)
	r.Violations = t.overSQL + t.overBlob
	r.Verdict, r.overBudget = Fail, true
	r.Explanation = fmt.Sprintf("in steady state the replication lag exceeded the RPO budget %s: %s; worst was %s at %s (service %s). A region lost at that moment would lose more than the RPO: check the log backup and blob replication intervals and the WAN; %s",
		clk.Format(r.Budget), joinAnd(t.which(clk, l.samples, r.Budget)), store, clk.Format(r.Observed), clock.Round(worst.op.Service), figures)
	return finish(r, clk)
}

// lagReadings are the lag samples of the steady state, with those left
// out.
type lagReadings struct {
	samples []lagSample
	// unrestored counts the SQL lags read before the secondary restored
	// anything (not counted); staleBlob the samples whose blob source
	// could not be read.
	unrestored, staleBlob int
	// sqlN and blobN count the samples with a SQL lag, with a blob lag.
	sqlN, blobN int
}

// readLag reads the lag samples recorded before the first fault (all of
// them when no fault was injected).
func readLag(h history.History) lagReadings {
	end := lastOp(h)
	if f, ok := h.FirstEvent(history.EvFaultInjected); ok {
		end = f
	}
	var l lagReadings
	for _, op := range h.Events(history.EvLag) {
		// By time, not by index: a composite fault's injected event is
		// recorded when its injection returns, stamped with its start.
		if op.Index > end.Index || !op.Wall.Before(end.Wall) {
			continue
		}
		s := lagSample{op: op}
		if v, ok := num(op.Value["sql_lag_s"]); ok {
			// A sample taken before the secondary restored anything reads
			// 0: it measures nothing (histories without the flag count).
			if restored, has := op.Value["sql_restored"].(bool); !has || restored {
				s.sql, s.hasSQL = time.Duration(v*float64(time.Second)), true
			} else {
				l.unrestored++
			}
		}
		if v, ok := num(op.Value["blob_lag_s"]); ok {
			s.blob, s.hasBlob = time.Duration(v*float64(time.Second)), true
		} else if stale, _ := op.Value["blob_stale"].(bool); stale {
			l.staleBlob++
		}
		if s.hasSQL || s.hasBlob {
			l.samples = append(l.samples, s)
		}
	}
	for _, s := range l.samples {
		if s.hasSQL {
			l.sqlN++
		}
		if s.hasBlob {
			l.blobN++
		}
	}
	return l
}

// whyUnknown says why the readings cannot be judged: too few samples, or
// none of one store; "" when they can.
func (l lagReadings) whyUnknown() string {
	if len(l.samples) < minLagSamples {
		why := fmt.Sprintf("only %d replication lag samples before the first fault (need %d): the steady state was too short to judge", len(l.samples), minLagSamples)
		if l.unrestored > 0 {
			why += fmt.Sprintf("; %s read a SQL lag of 0 only because the secondary had restored nothing yet, and were not counted", plural(l.unrestored, "sample", "samples"))
		}
		return why
	}
	if l.sqlN == 0 {
		return fmt.Sprintf("no SQL log shipping lag was measured before the first fault (%s taken before the secondary restored anything), so the secondary's lag could not be judged", plural(l.unrestored, "sample was", "samples were"))
	}
	if l.blobN == 0 {
		why := "no blob replication lag was measured before the first fault"
		if l.staleBlob > 0 {
			why += fmt.Sprintf(" (the source bucket could not be read at %s)", plural(l.staleBlob, "sample", "samples"))
		}
		return why + ", so the blob store's secondary could not be judged"
	}
	return ""
}

// figures gives each store's peak and the samples read, for every
// explanation.
func (l lagReadings) figures(clk *clock.Clock, t lagTally) string {
	figures := fmt.Sprintf("SQL lag %s, blob lag %s, over %d samples (%d of SQL, %d of blob) from service %s to %s",
		peak(clk, t.worstSQL.op, t.worstSQL.sql), peak(clk, t.worstBlob.op, t.worstBlob.blob),
		len(l.samples), l.sqlN, l.blobN, clock.Round(l.samples[0].op.Service), clock.Round(l.samples[len(l.samples)-1].op.Service))
	if l.staleBlob > 0 {
		figures += fmt.Sprintf("; the blob source could not be read at %s, not counted", plural(l.staleBlob, "sample", "samples"))
	}
	return figures
}

// lagTally is each store's worst sample and how many samples were over
// the budget, with the first such sample (nil: none).
type lagTally struct {
	worstSQL, worstBlob lagSample
	firstOver           *lagSample
	overSQL, overBlob   int
}

// tallyLag reads the samples against budget.
func tallyLag(samples []lagSample, budget time.Duration) lagTally {
	var t lagTally
	for i, s := range samples {
		if s.hasSQL && s.sql > t.worstSQL.sql {
			t.worstSQL = s
		}
		if s.hasBlob && s.blob > t.worstBlob.blob {
			t.worstBlob = s
		}
		over := false
		if s.hasSQL && s.sql > budget {
			t.overSQL++
			over = true
		}
		if s.hasBlob && s.blob > budget {
			t.overBlob++
			over = true
		}
		if over && t.firstOver == nil {
			t.firstOver = &samples[i]
		}
	}
	return t
}

// which names the stores over budget, each with its count and first
// sample over it.
func (t lagTally) which(clk *clock.Clock, samples []lagSample, budget time.Duration) []string {
	var which []string
	if t.overSQL > 0 {
		which = append(which, fmt.Sprintf("SQL in %s (first %s at service %s, sample #%d)",
			plural(t.overSQL, "sample", "samples"), clk.Format(firstOverOf(samples, budget, true).sql), clock.Round(firstOverOf(samples, budget, true).op.Service), firstOverOf(samples, budget, true).op.Index))
	}
	if t.overBlob > 0 {
		which = append(which, fmt.Sprintf("blob in %s (first %s at service %s, sample #%d)",
			plural(t.overBlob, "sample", "samples"), clk.Format(firstOverOf(samples, budget, false).blob), clock.Round(firstOverOf(samples, budget, false).op.Service), firstOverOf(samples, budget, false).op.Index))
	}
	return which
}

// peak says where a store's lag peaked, or that it stayed at 0 (no sample
// above 0: no sample to name).
func peak(clk *clock.Clock, op history.Op, lag time.Duration) string {
	if lag <= 0 {
		return "stayed at 0s"
	}
	return fmt.Sprintf("peaked at %s (service %s, sample #%d)", clk.Format(lag), clock.Round(op.Service), op.Index)
}

func firstOverOf(samples []lagSample, budget time.Duration, sql bool) lagSample {
	for _, s := range samples {
		if sql && s.hasSQL && s.sql > budget || !sql && s.hasBlob && s.blob > budget {
			return s
		}
	}
	return lagSample{}
}

func joinAnd(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	out := ""
	for i, p := range parts {
		if i == len(parts)-1 {
			out += " and " + p
		} else if i > 0 {
			out += ", " + p
		} else {
			out = p
		}
	}
	return out
}
