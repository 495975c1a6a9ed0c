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
	end := lastOp(h)
	if f, ok := h.FirstEvent(history.EvFaultInjected); ok {
		end = f
	}
	var samples []lagSample
	unrestored, staleBlob := 0, 0
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
				unrestored++
			}
		}
		if v, ok := num(op.Value["blob_lag_s"]); ok {
			s.blob, s.hasBlob = time.Duration(v*float64(time.Second)), true
		} else if stale, _ := op.Value["blob_stale"].(bool); stale {
			staleBlob++
		}
		if s.hasSQL || s.hasBlob {
			samples = append(samples, s)
		}
	}
	if len(samples) < minLagSamples {
		why := fmt.Sprintf("only %d replication lag samples before the first fault (need %d): the steady state was too short to judge", len(samples), minLagSamples)
		if unrestored > 0 {
			why += fmt.Sprintf("; %s read a SQL lag of 0 only because the secondary had restored nothing yet, and were not counted", plural(unrestored, "sample", "samples"))
		}
		return unknown(name, why)
	}
	sqlSamples, blobSamples := 0, 0
	for _, s := range samples {
		if s.hasSQL {
			sqlSamples++
		}
		if s.hasBlob {
			blobSamples++
		}
	}
	if sqlSamples == 0 {
		return unknown(name, fmt.Sprintf("no SQL log shipping lag was measured before the first fault (%s taken before the secondary restored anything), so the secondary's lag could not be judged", plural(unrestored, "sample was", "samples were")))
	}
	if blobSamples == 0 {
		why := "no blob replication lag was measured before the first fault"
		if staleBlob > 0 {
			why += fmt.Sprintf(" (the source bucket could not be read at %s)", plural(staleBlob, "sample", "samples"))
		}
		return unknown(name, why+", so the blob store's secondary could not be judged")
	}
	r := Result{Name: name, Budget: in.Budgets.RPO}
	var worstSQL, worstBlob lagSample
	var firstOver *lagSample
	overSQL, overBlob := 0, 0
	for i, s := range samples {
		if s.hasSQL && s.sql > worstSQL.sql {
			worstSQL = s
		}
		if s.hasBlob && s.blob > worstBlob.blob {
			worstBlob = s
		}
		over := false
		if s.hasSQL && s.sql > r.Budget {
			overSQL++
			over = true
		}
		if s.hasBlob && s.blob > r.Budget {
			overBlob++
			over = true
		}
		if over && firstOver == nil {
			firstOver = &samples[i]
		}
	}
	worst, store := worstSQL, lagSQL
	r.Observed = worstSQL.sql
	if worstBlob.blob > r.Observed {
		worst, store, r.Observed = worstBlob, lagBlob, worstBlob.blob
	}
	r.lagStore = store
	r.Ops = append(r.Ops, worst.op.Index)
	figures := fmt.Sprintf("SQL lag %s, blob lag %s, over %d samples (%d of SQL, %d of blob) from service %s to %s",
		peak(clk, worstSQL.op, worstSQL.sql), peak(clk, worstBlob.op, worstBlob.blob),
		len(samples), sqlSamples, blobSamples, clock.Round(samples[0].op.Service), clock.Round(samples[len(samples)-1].op.Service))
	if staleBlob > 0 {
		figures += fmt.Sprintf("; the blob source could not be read at %s, not counted", plural(staleBlob, "sample", "samples"))
	}
	if firstOver == nil {
		r.Verdict = Pass
		r.Explanation = fmt.Sprintf("in steady state both geo-secondaries stayed within the RPO budget %s: %s", clk.Format(r.Budget), figures)
		return finish(r, clk)
	}
	r.Ops = append([]int{firstOver.op.Index}, r.Ops...)
	r.Window = window(firstOver.op, worst.op)
	r.Violations = overSQL + overBlob
	var which []string
	if overSQL > 0 {
		which = append(which, fmt.Sprintf("SQL in %s (first %s at service %s, sample #%d)",
			plural(overSQL, "sample", "samples"), clk.Format(firstOverOf(samples, r.Budget, true).sql), clock.Round(firstOverOf(samples, r.Budget, true).op.Service), firstOverOf(samples, r.Budget, true).op.Index))
	}
	if overBlob > 0 {
		which = append(which, fmt.Sprintf("blob in %s (first %s at service %s, sample #%d)",
			plural(overBlob, "sample", "samples"), clk.Format(firstOverOf(samples, r.Budget, false).blob), clock.Round(firstOverOf(samples, r.Budget, false).op.Service), firstOverOf(samples, r.Budget, false).op.Index))
	}
	r.Verdict, r.overBudget = Fail, true
	r.Explanation = fmt.Sprintf("in steady state the replication lag exceeded the RPO budget %s: %s; worst was %s at %s (service %s). A region lost at that moment would lose more than the RPO: check the log backup and blob replication intervals and the WAN; %s",
		clk.Format(r.Budget), joinAnd(which), store, clk.Format(r.Observed), clock.Round(worst.op.Service), figures)
	return finish(r, clk)
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
