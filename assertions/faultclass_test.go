package assertions

import (
	"testing"

	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/history"
)

// A fault-injected event that records its class is judged by it; one saved
// before events did (no class) is judged by the fault catalogue.
func TestFaultClassFromEventOrCatalogue(t *testing.T) {
	for _, c := range []struct {
		name          string
		value         map[string]any
		class         faults.Class
		single, known bool
	}{
		{"recorded", map[string]any{"fault": "not-in-the-catalogue", "class": "network", "single_instance": false}, faults.Network, false, true},
		{"recorded single", map[string]any{"fault": "not-in-the-catalogue", "class": "hardware", "single_instance": true}, faults.Hardware, true, true},
		{"old history", map[string]any{"fault": "blob-crash"}, faults.Hardware, true, true},
		{"old history, unknown fault", map[string]any{"fault": "not-in-the-catalogue"}, "", false, false},
	} {
		op := history.Op{Kind: history.Event, Key: history.EvFaultInjected, Value: c.value}
		class, single, ok := faultClass(op)
		if class != c.class || single != c.single || ok != c.known {
			t.Errorf("%s: got %q, single %v, known %v; want %q, %v, %v", c.name, class, single, ok, c.class, c.single, c.known)
		}
	}
	recorded := faults.Definition{Class: faults.Hardware, SingleInstance: true, RegionLoss: false}.Injected(map[string]any{"fault": "blob-crash"})
	if class, single, ok := faultClass(history.Op{Value: recorded}); class != faults.Hardware || !single || !ok {
		t.Errorf("Definition.Injected then faultClass: got %q, %v, %v", class, single, ok)
	}
}
