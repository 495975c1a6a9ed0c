package report_test

import (
	"fmt"
	"os"
	"strings"
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
	files, err := os.ReadDir(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range files {
		fmt.Println(f.Name())
	}
	var trend strings.Builder
	if err := report.Trend(&trend, []string{dir}); err != nil {
		fmt.Println(err)
		return
	}
	// The folder is a temporary one: name it the same on every run.
	fmt.Print(strings.ReplaceAll(trend.String(), dir, "runs/region-outage-42"))
	// Output:
	// history.jsonl
	// junit.xml
	// report.html
	// result.json
	// check  #1 region-outage seed=42
	// (run)  pass
	// rpo    pass 0s
	// #1 runs/region-outage-42
}
