package harness

import (
	"fmt"

	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

// EvDefect records a defect the harness built into the environment before
// the steady state (value: defect, and its settings).
const EvDefect = "defect"

// underProvision applies the secondary-link-latency-ms defect: region b's
// client link answers latencyMS wall milliseconds late for the whole run,
// so the secondary cannot carry the workload at steady-state latency once
// it is failed over to. It is a property of the environment, not a fault:
// no fault-injected is recorded, and nothing recovers it.
func underProvision(env topology.Environment, rec *history.Recorder, latencyMS int) error {
	if latencyMS <= 0 {
		return nil
	}
	name := topology.LinkName(topology.LinkClient, topology.RegionB)
	l, ok := env.Links().Get(name)
	if !ok {
		return fmt.Errorf("defect secondary-link-latency-ms: the environment has no link %s", name)
	}
	if err := l.AddToxic("defect-secondary-latency", "latency", "downstream", 1, map[string]any{"latency": latencyMS}); err != nil {
		return fmt.Errorf("defect secondary-link-latency-ms: %w", err)
	}
	rec.Event(EvDefect, map[string]any{"defect": "secondary-link-latency-ms", "link": name, "latency_ms": latencyMS})
	return nil
}
