package harness_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/containers"
	"github.com/bcdr-harness/bcdr/topology/fake"
	_ "github.com/bcdr-harness/bcdr/topology/providers" // every provider, as bcdr has them
)

// TestUnsupportedFaultIsRefusedBeforeAnythingStarts: a drill that asks a
// provider for a fault it does not declare (log-share-full on containers,
// whose engines cannot fill their log share) is refused by Run with one
// clear error and no outcome: nothing was brought up. The same drill on a
// provider that supports it passes validation.
func TestUnsupportedFaultIsRefusedBeforeAnythingStarts(t *testing.T) {
	sc := harness.DefaultScenario()
	sc.Faults = []harness.FaultStep{{Name: "log-share-full", Params: map[string]string{"region": "a"}, Duration: time.Hour}}

	sc.Spec.Provider = fake.Name
	if err := harness.Validate(sc); err != nil {
		t.Fatalf("log-share-full on fake: %v", err)
	}

	sc.Spec.Provider = containers.Name
	out, err := harness.Run(context.Background(), sc, harness.Options{})
	var fe *faults.Error
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "log-share-full is not supported by the containers provider") ||
		!strings.Contains(err.Error(), string(topology.CapLogShareFill)) {
		t.Fatalf("want a faults.Error saying containers does not support log-share-full, got %v", err)
	}
	if out != nil {
		t.Errorf("a refused drill returned an outcome: it started")
	}
}

// TestRandomScheduleDrawsOnlySupportedFaults: a random schedule's default
// pool is the faults the provider supports, so a seed never picks one the
// drill would then refuse; on a provider that supports everything the
// pool is the whole catalogue (the schedules of existing seeds unchanged).
func TestRandomScheduleDrawsOnlySupportedFaults(t *testing.T) {
	spec := topology.DefaultSpec()
	spec.Provider = containers.Name
	for seed := int64(0); seed < 50; seed++ {
		s, err := harness.NewSchedule(seed, time.Hour, nil, 5, spec)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(s.Pool, "log-share-full") {
			t.Fatalf("seed %d: the containers pool holds log-share-full: %v", seed, s.Pool)
		}
		for _, st := range s.Steps {
			d, _ := faults.Lookup(st.Name)
			if err := faults.CheckProvider(d, spec.Provider); err != nil {
				t.Fatalf("seed %d picked %s: %v", seed, st.Name, err)
			}
		}
	}
	spec.Provider = fake.Name
	s, err := harness.NewSchedule(1, time.Hour, nil, 5, spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range faults.Catalogue() {
		if d.Class != faults.None && !slices.Contains(s.Pool, d.Name) {
			t.Errorf("fake supports every fault, but its pool lacks %s", d.Name)
		}
	}
}

// TestProviderKnobReadsTheRegistry: the provider setting accepts every
// registered provider, names each in its help, and refuses any other name.
func TestProviderKnobReadsTheRegistry(t *testing.T) {
	var k harness.Knob
	for _, x := range harness.Knobs() {
		if x.Name == "provider" {
			k = x
		}
	}
	for _, d := range topology.ProviderDefs() {
		sc := harness.DefaultScenario()
		if err := sc.Set("provider", d.Name); err != nil || sc.Spec.Provider != d.Name {
			t.Errorf("provider=%s: %v", d.Name, err)
		}
		if !strings.Contains(k.Help, d.Name+": "+d.Help) {
			t.Errorf("the provider help does not describe %s: %s", d.Name, k.Help)
		}
	}
	sc := harness.DefaultScenario()
	if err := sc.Set("provider", "moon"); err == nil {
		t.Error("provider=moon was accepted")
	}
}
