package report

import (
	"fmt"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
)

// The synthetic drill below runs 60 wall seconds at scale 100 (100 service
// minutes): four clients write every 100 ms; a WAN partition from 5 s to 12 s
// wall lets replication lag grow; the primary region fails at 20 s, the
// outage is detected at 22 s, failover runs from 25 s to 30 s, the region
// comes back at 40 s and failback runs from 45 s to 48 s.
const (
	drillScale   = 100.0
	drillClients = 4
	drillWall    = 60 * time.Second
	drillTick    = 100 * time.Millisecond
)

var drillEpoch = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// drillEvents are the harness and runbook events of the drill, at wall offsets.
var drillEvents = []struct {
	at    time.Duration
	name  string
	fault string
}{
	{5 * time.Second, history.EvFaultInjected, "wan-partition"},
	{12 * time.Second, history.EvFaultRecovered, "wan-partition"},
	{20 * time.Second, history.EvFaultInjected, "region-outage"},
	{22 * time.Second, history.EvOutageDetected, ""},
	{23 * time.Second, history.EvSignOffGranted, ""},
	{25 * time.Second, history.EvFailoverStart, ""},
	{30 * time.Second, history.EvFailoverDone, ""},
	{40 * time.Second, history.EvFaultRecovered, "region-outage"},
	{45 * time.Second, history.EvFailbackStart, ""},
	{48 * time.Second, history.EvFailbackDone, ""},
}

// drillHistory records the synthetic drill. In the failing variant
// replication falls further behind during the outage, past the RPO budget.
func drillHistory(failing bool) history.History {
	clk := &clock.Clock{Scale: drillScale, Epoch: drillEpoch}
	rec := history.NewRecorder(clk)
	pending := make([]*history.Op, drillClients)
	next := 0
	seq := 0
	for at := time.Duration(0); at <= drillWall; at += drillTick {
		wall := drillEpoch.Add(at)
		for ; next < len(drillEvents) && drillEvents[next].at <= at; next++ {
			e := drillEvents[next]
			var v map[string]any
			if e.fault != "" {
				v = map[string]any{"fault": e.fault}
			}
			rec.Append(history.Op{Process: -1, Type: history.Info, Kind: history.Event, Key: e.name, Wall: wall, Value: v})
		}
		if at%time.Second == 0 {
			sql, blob := drillLag(at, failing)
			rec.Append(history.Op{Process: -1, Type: history.Info, Kind: history.Event, Key: history.EvLag, Wall: wall,
				Value: map[string]any{"sql_lag_s": sql, "blob_lag_s": blob}})
		}
		for p := range drillClients {
			wall := wall.Add(time.Duration(p) * 25 * time.Millisecond) // clients are out of step
			if op := pending[p]; op != nil {
				done := *op
				done.Type, done.Wall, done.Tries = drillOutcome(at, p), wall, 1
				if done.Type == history.OK {
					done.Status = 200
				} else {
					done.Status, done.Error = 503, "service unavailable"
				}
				rec.Append(done)
			}
			if at == drillWall {
				continue // the clients stop with the run
			}
			seq++
			kind := history.JournalEntry
			if p%2 == 1 {
				kind = history.Invoice
			}
			region := "west"
			if at >= 30*time.Second && at < 48*time.Second {
				region = "east"
			}
			op := rec.Append(history.Op{Process: p, Type: history.Invoke, Kind: kind, Key: fmt.Sprintf("w-%d-%d", p, seq),
				Wall: wall, Region: region, Inst: fmt.Sprintf("app-%s-%d", region, p%2)})
			pending[p] = &op
		}
	}
	return rec.Ops()
}

// drillOutcome is what a write completing at wall offset at saw.
func drillOutcome(at time.Duration, p int) history.Type {
	switch {
	case at > 20*time.Second && at <= 20*time.Second+drillTick:
		return history.Unknown // in flight when the region failed
	case at > 20*time.Second && at < 30*time.Second:
		return history.Fail
	case at >= 45*time.Second && at < 48*time.Second && p%2 == 0:
		return history.Fail
	}
	return history.OK
}

// drillLag is the replication lag sampled at wall offset at, in service seconds.
func drillLag(at time.Duration, failing bool) (sql, blob float64) {
	s := at.Seconds()
	sql = 3
	switch {
	case s >= 5 && s < 12:
		sql += (s - 5) * drillScale
	case s >= 20 && s < 30:
		sql += (s - 20) * drillScale * 0.6
		if failing {
			sql = 3 + (s-20)*drillScale*1.4
		}
	}
	return sql, sql*1.1 + 5
}

// drillResult is the result of the synthetic drill, passing or failing.
func drillResult(h history.History, failing bool) Result {
	checks := []assertions.Result{
		objective("rpo", assertions.Pass, 90*time.Second, 15*time.Minute, "no acknowledged write lost; loss window 1m30s within the 15m budget"),
		objective("rto", assertions.Pass, 1000*time.Second, 4*time.Hour, "writes succeeded again in east 16m40s after region-outage was injected, and stayed successful"),
		objective("failback", assertions.Pass, 300*time.Second, 5*time.Minute, "no acknowledged write lost across failback; interruption 5m0s"),
		{Name: "fault-domains", Verdict: assertions.Pass, Explanation: "no fault domain was lost in this scenario"},
		{Name: "ledger", Verdict: assertions.Pass, Explanation: "1842 journal entries, all balanced, none partial, none duplicated"},
		{Name: "cross-store", Verdict: assertions.Pass, Explanation: "every invoice document exists in east"},
		{Name: "limited-mode", Verdict: assertions.Pass, Explanation: "maintenance refused and reports unavailable while failed over"},
		{Name: "validity", Verdict: assertions.Pass, Explanation: "800 writes before the fault; the fault took effect; health checked before and after"},
	}
	verdict := assertions.Pass
	if failing {
		lost := []assertions.LostWrite{
			{Key: "w-0-761", Kind: "journal-entry", Region: "west", Instance: "app-west-0", AckWall: drillEpoch.Add(19800 * time.Millisecond), AckSvc: 1980 * time.Second},
			{Key: "w-1-762", Kind: "invoice", Region: "west", Instance: "app-west-1", AckWall: drillEpoch.Add(19900 * time.Millisecond), AckSvc: 1990 * time.Second},
		}
		checks[0] = objective("rpo", assertions.Fail, 1260*time.Second, 15*time.Minute,
			`2 acknowledged writes lost after failover (w-0-761, w-1-762); loss window 21m0s exceeds the 15m budget; fault "region-outage" at 33m20s service`)
		checks[0].Lost, checks[0].LostCount, checks[0].Ops = lost, len(lost), []int{3041, 3046}
		checks[4] = assertions.Result{Name: "ledger", Verdict: assertions.Fail, LostCount: 1,
			Explanation: "journal entry w-2-759 is partial: 1 of 2 lines survived <debit only>"}
		checks[7] = assertions.Result{Name: "validity", Verdict: assertions.Unknown,
			Explanation: "health after the run could not be checked: probe timed out"}
		verdict = assertions.Fail
	}
	return Result{
		Scenario: "region-outage", Seed: 42, Provider: "local", SQLEngine: "postgres", TimeScale: drillScale,
		Verdict: verdict, Workload: WriteCounts(h), Checks: checks, Faults: []string{"wan-partition", "region-outage"},
		Knobs:   map[string]string{"clients": "4", "write_interval": "100ms", "replication": "async"},
		Replay:  "bcdr drill region-outage --seed 42 --time-scale 100",
		Started: drillEpoch, Ended: drillEpoch.Add(drillWall),
		WallS: drillWall.Seconds(), ServiceS: drillWall.Seconds() * drillScale,
	}
}

// objective is a check with an observed figure and a budget, in service time.
func objective(name string, v assertions.Verdict, observed, budget time.Duration, why string) assertions.Result {
	return assertions.Result{
		Name: name, Verdict: v, Observed: observed, Budget: budget,
		ObservedServiceS: observed.Seconds(), BudgetServiceS: budget.Seconds(),
		ObservedWallS: observed.Seconds() / drillScale, BudgetWallS: budget.Seconds() / drillScale,
		Explanation: why,
	}
}
