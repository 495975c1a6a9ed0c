package report_test

import (
	"fmt"
	"os"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/report"
)

// A drill ends by writing its output folder; `bcdr report DIR` renders the
// pages again from it, and `bcdr trend DIR...` compares many of them.
func ExampleWriteAll() {
	rec := history.NewRecorder(clock.New(200))
	rec.Event(history.EvFaultInjected, map[string]any{"fault": "region-outage"})
	rec.Event(history.EvLag, map[string]any{"sql_lag_s": 42.0, "blob_lag_s": 61.5})
	rec.Event(history.EvFaultRecovered, map[string]any{"fault": "region-outage"})

	rpo := 15 * time.Minute
	r := report.Result{
		Scenario: "region-outage", Seed: 42, TimeScale: 200, Verdict: assertions.Pass,
		Checks: []assertions.Result{{
			Name: "rpo", Verdict: assertions.Pass, Budget: rpo, BudgetServiceS: rpo.Seconds(),
			Explanation: "no acknowledged write lost",
		}},
		Replay: "bcdr drill region-outage --seed 42",
	}
	dir, err := os.MkdirTemp("", "bcdr-run-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	if err := report.WriteAll(dir, r, rec.Ops()); err != nil {
		fmt.Println(err)
		return
	}
	if err := report.Render(dir); err != nil {
		fmt.Println(err)
		return
	}
	if err := report.Trend(os.Stdout, []string{dir}); err != nil {
		fmt.Println(err)
	}
}
