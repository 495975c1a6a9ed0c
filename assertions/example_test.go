package assertions_test

import (
	"fmt"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/history"
)

// A check reads only a recorded history (and snapshots of the surviving
// data). Here a maintenance request is accepted by the failed-over region,
// so limited-mode fails and names the request (history index 4) between
// failover-done (0) and failback-done (5).
func Example() {
	epoch := time.Unix(1_800_000_000, 0)
	h := history.History{Scale: 200, Epoch: epoch}
	add := func(svc time.Duration, op history.Op) {
		op.Index, op.Service, op.Wall = len(h.Ops), svc, epoch.Add(svc/200)
		h.Ops = append(h.Ops, op)
	}
	event := func(svc time.Duration, name string, v map[string]any) {
		add(svc, history.Op{Process: -1, Type: history.Info, Kind: history.Event, Key: name, Value: v})
	}
	probe := func(svc time.Duration, kind history.Kind, key, region string, status int) {
		typ := history.OK
		if status >= 300 {
			typ = history.Fail
		}
		add(svc, history.Op{Process: 9, Type: history.Invoke, Kind: kind, Key: key, Value: map[string]any{"kind": "update"}})
		add(svc+time.Second, history.Op{Process: 9, Type: typ, Kind: kind, Key: key, Region: region, Inst: "aos-" + region + "-0", Status: status})
	}
	event(40*time.Minute, history.EvFailoverDone, map[string]any{"from": "a", "to": "b"})
	probe(42*time.Minute, history.Report, "report-1", "b", 423)
	probe(44*time.Minute, history.Maintenance, "maint-1", "b", 202) // accepted while failed over
	event(60*time.Minute, history.EvFailbackDone, map[string]any{"from": "b", "to": "a"})
	probe(62*time.Minute, history.Report, "report-2", "a", 200)
	probe(63*time.Minute, history.Maintenance, "maint-2", "a", 202)

	c, _ := assertions.Lookup("limited-mode")
	r := c.Check(assertions.Input{History: h, Budgets: assertions.DefaultBudgets()})
	fmt.Println(r.Verdict, r.Violations, r.Ops)
	// Output: fail 1 [0 5 4]
}
