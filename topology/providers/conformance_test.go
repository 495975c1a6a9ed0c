package providers_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/aos"
	_ "github.com/bcdr-harness/bcdr/topology/providers"
	"github.com/bcdr-harness/bcdr/topology/providers/conformance"
)

// TestConformance is the test every provider runs. For each fault of the
// catalogue the provider either supports it (it declares what the fault
// needs) and the fault works there, injected, observed through the
// environment, recovered, the environment whole again; or it does not,
// and a drill asking for it is refused before anything starts. Each SQL
// and blob engine the provider declares runs (a write reaches the other
// region), and an engine it does not declare is refused.
//
// A provider runs here when it can on this machine (ProviderDef.Available:
// local needs the PostgreSQL binaries, containers Docker and its images,
// BCDR_LOCAL_IMAGES=1 for the locally built ones) and, with -short, only
// when it is Light (fake).
func TestConformance(t *testing.T) {
	defs := topology.ProviderDefs()
	for _, want := range []string{"fake", "local", "containers"} {
		if !slices.ContainsFunc(defs, func(d topology.ProviderDef) bool { return d.Name == want }) {
			t.Errorf("provider %s is not registered by package providers", want)
		}
	}
	for _, d := range defs {
		t.Run(d.Name, func(t *testing.T) {
			if d.Available == nil {
				t.Fatal("the provider does not say whether it can run here (ProviderDef.Available)")
			}
			if testing.Short() && !d.Light {
				t.Skip("brings up real servers: skipped with -short")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := d.Available(ctx)
			cancel()
			if err != nil {
				t.Skipf("cannot run on this machine: %v", err)
			}
			env := up(t, d, topology.DefaultSpec())
			t.Run("engines", func(t *testing.T) { engines(t, d, env) })
			t.Run("capabilities", func(t *testing.T) { capabilities(t, d, env) })
			t.Run("faults", func(t *testing.T) { catalogue(t, d, env) })
		})
	}
}

// scale is the time scale of the test's environments: the provider's, or
// a fast one for a light provider (faults with service-time phases then
// take milliseconds).
func scale(d topology.ProviderDef) float64 {
	if d.Light {
		return 20000
	}
	return topology.ProviderScale(d.Name)
}

// up brings up a small environment of the provider for the whole test.
func up(t *testing.T, d topology.ProviderDef, spec topology.Spec) topology.Environment {
	t.Helper()
	spec.Provider = d.Name
	spec.InstancesPerRegion, spec.FaultDomains = 5, 5
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	env, err := topology.Up(ctx, spec, clock.New(scale(d)))
	if errors.Is(err, topology.ErrEngineUnavailable) {
		t.Skipf("%s: %v", d.Name, err)
	}
	if err != nil {
		t.Fatalf("bring up %s (%s, %s): %v", d.Name, spec.SQLEngine, spec.BlobEngine, err)
	}
	t.Cleanup(func() { _ = env.Close(context.Background()) })
	return env
}

// engines: the default engines carry a write to the other region; every
// other declared engine comes up and does too; an engine the provider
// does not declare is refused before anything starts.
func engines(t *testing.T, d topology.ProviderDef, env topology.Environment) {
	reaches(t, env)
	blobs := d.BlobEngines
	if len(blobs) == 0 {
		blobs = []string{topology.BlobEngineS3}
	}
	var others []topology.Spec
	for _, e := range d.SQLEngines[1:] {
		s := topology.DefaultSpec()
		s.SQLEngine = e
		others = append(others, s)
	}
	for _, b := range blobs[1:] {
		s := topology.DefaultSpec()
		s.BlobEngine = b
		others = append(others, s)
	}
	for _, s := range others {
		t.Run(s.SQLEngine+"+"+s.BlobEngine, func(t *testing.T) {
			if testing.Short() {
				t.Skip("another environment: skipped with -short")
			}
			reaches(t, up(t, d, s))
		})
	}
	// Every engine some provider runs and this one does not declare.
	type engine struct{ kind, name string }
	var undeclared []engine
	for _, e := range topology.SQLEngines() {
		if !slices.Contains(d.SQLEngines, e) {
			undeclared = append(undeclared, engine{"SQL", e})
		}
	}
	for _, b := range []string{topology.BlobEngineMinIO, topology.BlobEngineS3} {
		if !slices.Contains(blobs, b) {
			undeclared = append(undeclared, engine{"blob", b})
		}
	}
	for _, e := range undeclared {
		s := topology.DefaultSpec()
		s.Provider = d.Name
		if e.kind == "SQL" {
			s.SQLEngine = e.name
		} else {
			s.BlobEngine = e.name
		}
		_, err := topology.Up(context.Background(), s, clock.New(scale(d)))
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%s engine %q", e.kind, e.name)) {
			t.Errorf("%s engine %s, which %s does not declare: want it refused, got %v", e.kind, e.name, d.Name, err)
		}
	}
}

// reaches writes a journal entry and an invoice through the front door and
// finds both in the other region once log shipping and blob replication
// ran.
func reaches(t *testing.T, env topology.Environment) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key, err := conformance.Retry(ctx, func() (string, error) { return conformance.Write(env) })
	if err != nil {
		t.Fatalf("journal entry: %v", err)
	}
	inv, err := conformance.Retry(ctx, func() (string, error) { return conformance.Invoice(env) })
	if err != nil {
		t.Fatalf("invoice: %v", err)
	}
	if err := topology.InitialSync(ctx, env.SQL()); err != nil {
		t.Fatalf("log shipping: %v", err)
	}
	if err := env.Blob().SyncNow(ctx); err != nil {
		t.Fatalf("blob replication: %v", err)
	}
	other := env.Router().Active().Other()
	for {
		s, err := env.Snapshot(ctx, other)
		if err == nil && s.Has(key) && s.Has(inv) && s.Objects[aos.ObjectKey(inv)] != "" {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("region %s lacks the writes (%s, %s) after shipping and replication: %v", other, key, inv, err)
		}
		_ = env.Blob().SyncNow(ctx)
		time.Sleep(50 * time.Millisecond)
	}
}

// capabilities: what the provider declares is there.
func capabilities(t *testing.T, d topology.ProviderDef, env topology.Environment) {
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		_, ok := env.Region(r).(topology.ClientEndpointer)
		if d.Offers(topology.CapClientPath) && !ok {
			t.Errorf("%s declares %s but region %s has no client endpoint", d.Name, topology.CapClientPath, r)
		}
	}
	if _, ok := env.SQL().(faults.LogShareFiller); d.Offers(topology.CapLogShareFill) && !ok {
		t.Errorf("%s declares %s but its SQL engine cannot fill its log share", d.Name, topology.CapLogShareFill)
	}
}

// catalogue runs every fault: supported ones through their lifecycle on
// env, the others through the refusals.
func catalogue(t *testing.T, d topology.ProviderDef, env topology.Environment) {
	stop := conformance.Writer(env)
	defer stop()
	conformance.RequireHealthy(t, env)
	for _, def := range faults.Catalogue() {
		if def.Class == faults.None {
			continue // noop touches nothing and claims no effect (faults/fake_lifecycle_test.go)
		}
		t.Run(def.Name, func(t *testing.T) {
			if err := faults.CheckProvider(def, d.Name); err != nil {
				refused(t, d, env, def)
				return
			}
			for _, p := range paramsFor(def.Name, env) {
				conformance.Lifecycle(t, env, def.Name, p, 0)
			}
		})
	}
}

// paramsFor are the parameters each fault runs with (nil = its defaults):
// a region fault's service-time phases about a wall second long, and both
// targets of the failback fault.
func paramsFor(name string, env topology.Environment) []map[string]string {
	second := min(max(time.Duration(env.Clock().Scale)*time.Second, time.Minute), 24*time.Hour).Round(time.Second)
	switch name {
	case "region-flapping":
		phase := min(second, 4*time.Hour).String() // the longest phase the fault takes
		return []map[string]string{{"down": phase, "up": phase, "cycles": "2"}}
	case "replication-stall-then-loss":
		// Time for the writer to commit during the stall however loaded
		// the machine.
		return []map[string]string{{"stall": second.String()}}
	case "failback-fault":
		return []map[string]string{{"target": "aos", "domain": "1"}, {"target": "sql"}}
	}
	return []map[string]string{nil}
}

// refused: a fault the provider does not support is refused with one
// clear error by drill validation (before anything starts) and by Apply
// on a running environment (nothing done, nothing recorded).
func refused(t *testing.T, d topology.ProviderDef, env topology.Environment, def faults.Definition) {
	want := fmt.Sprintf("fault %s is not supported by the %s provider", def.Name, d.Name)
	sc := harness.DefaultScenario()
	sc.Spec.Provider = d.Name
	sc.Faults = []harness.FaultStep{{Name: def.Name, Duration: time.Hour}}
	err := harness.Validate(sc)
	var fe *faults.Error
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), want) {
		t.Errorf("drill with %s on %s: want %q, got %v", def.Name, d.Name, want, err)
	}
	f, _, err := faults.New(def.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := history.NewRecorder(env.Clock())
	a, err := faults.Apply(context.Background(), env, rec, f, def, nil, t.Logf)
	if a != nil || !errors.As(err, &fe) || !strings.Contains(err.Error(), want) {
		t.Errorf("apply %s on %s: want nothing done and %q, got %v, %v", def.Name, d.Name, want, a, err)
	}
	if n := len(rec.Ops().Ops); n != 0 {
		t.Errorf("a refused fault recorded %d operations", n)
	}
	t.Logf("not supported, refused: %v", err)
}
