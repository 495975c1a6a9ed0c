// Package report writes what a drill found, for machines and for people:
// result.json (the verdict and every check), history.jsonl (every operation),
// evidence.json (what the checks read besides the history: budgets, checks,
// data snapshots; with history.jsonl enough to judge the run again),
// junit.xml (one test case per check, for CI) and report.html (one
// self-contained page with inline SVG charts).
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/history"
)

// Workload sums up the client operations of a run.
type Workload struct {
	AcknowledgedWrites int `json:"acknowledged_writes"`
	Failed             int `json:"failed"`
	Unknown            int `json:"unknown"`
	Invoked            int `json:"invoked"`
}

// WriteCounts counts the business writes of a history by outcome.
func WriteCounts(h history.History) Workload {
	var w Workload
	for _, c := range h.Completions() {
		if !c.Invoke.Kind.IsWrite() {
			continue
		}
		w.Invoked++
		switch c.Result.Type {
		case history.OK:
			w.AcknowledgedWrites++
		case history.Fail:
			w.Failed++
		default:
			w.Unknown++
		}
	}
	return w
}

// Result is the machine-readable outcome of one run (result.json).
type Result struct {
	Scenario  string `json:"scenario"`
	Seed      int64  `json:"seed"`
	Provider  string `json:"provider"`
	SQLEngine string `json:"sql_engine"`
	// BlobEngine is what kept the buckets in sync (minio, s3).
	BlobEngine string             `json:"blob_engine,omitempty"`
	TimeScale  float64            `json:"time_scale"`
	Verdict    assertions.Verdict `json:"verdict"`
	// Reason explains an unknown verdict or an aborted run.
	Reason   string              `json:"reason,omitempty"`
	Workload Workload            `json:"workload"`
	Checks   []assertions.Result `json:"checks"`
	// SkippedChecks are checks the faults called for that the scenario
	// dropped (skip-checks): the run was not judged by them.
	SkippedChecks []string `json:"skipped_checks,omitempty"`
	Faults        []string `json:"faults"`
	// Knobs are the settings the run used, as name=value text.
	Knobs   map[string]string `json:"knobs"`
	Replay  string            `json:"replay"`
	Started time.Time         `json:"started"`
	Ended   time.Time         `json:"ended"`
	WallS   float64           `json:"wall_s"`
	// ServiceS is the run's length in service seconds.
	ServiceS float64 `json:"service_s"`
	// Noise is the harness's own timing noise over the run (wall time);
	// each check's share of it is on the check (noise_service_s).
	Noise *assertions.Noise `json:"noise,omitempty"`
	// MachineScale is the scale of the runbook's machine steps (the planned
	// switch of a failback), when the clock ran at it.
	MachineScale float64 `json:"machine_scale,omitempty"`
}

// WriteResult writes result.json into dir.
func WriteResult(dir string, r Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "result.json"), append(b, '\n'), 0o644)
}

// ReadResult reads dir/result.json.
func ReadResult(dir string) (Result, error) {
	var r Result
	b, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		return r, fmt.Errorf("read result: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("read result %s: %w", filepath.Join(dir, "result.json"), err)
	}
	return r, nil
}
