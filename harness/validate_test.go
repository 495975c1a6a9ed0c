package harness_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
)

// TestFailbackFaultNeedsARegionLoss: a fault that waits for the failback in
// a scenario that loses no region is refused before anything starts.
func TestFailbackFaultNeedsARegionLoss(t *testing.T) {
	sc, _ := harness.Builtin("instance-crash")
	sc.Faults = append(sc.Faults, harness.FaultStep{Name: "failback-fault"})
	err := harness.Validate(sc)
	var fe *faults.Error
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "waits for failback-start") {
		t.Fatalf("want a faults.Error about failback-start, got %v", err)
	}
	sc.Faults = []harness.FaultStep{{Name: "region-outage"}, {Name: "instance-crash", After: history.EvFailbackStart}}
	if err := harness.Validate(sc); err != nil {
		t.Fatalf("a step may wait for failback-start after a region loss: %v", err)
	}
}
