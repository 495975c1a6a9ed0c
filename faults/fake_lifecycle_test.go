package faults_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/fake"
)

// fakeEnv is a small environment of the in-memory provider. The clock runs
// fast so that faults with service-time phases (flapping, a stall) take
// milliseconds.
func fakeEnv(t *testing.T) topology.Environment {
	t.Helper()
	spec := topology.DefaultSpec()
	spec.Provider = fake.Name
	spec.InstancesPerRegion, spec.FaultDomains = 5, 5
	env, err := topology.Up(context.Background(), spec, clock.New(20000))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Close(context.Background()) })
	return env
}

// healthy asks region r's load balancer for /health until it answers 200.
func healthy(t *testing.T, env topology.Environment, r topology.RegionName) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(env.Region(r).Endpoint() + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("region %s not healthy after recovery: %v", r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// trickle posts journal entries through the front door until stopped, so
// that faults which need traffic (a stalled replication) see commits.
func trickle(url string) (committed <-chan struct{}, stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	first := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(finished)
		c := &http.Client{Timeout: 500 * time.Millisecond}
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			body := fmt.Sprintf(`{"key":"je-trickle-%d","lines":[{"account":"1100-cash","debit":1},{"account":"4000-revenue","credit":1}]}`, i)
			if resp, err := c.Post(url+"/journal", "application/json", strings.NewReader(body)); err == nil {
				if resp.StatusCode/100 == 2 {
					once.Do(func() { close(first) })
				}
				resp.Body.Close()
			}
		}
	}()
	return first, func() { close(done); <-finished }
}

// TestCatalogueLifecycleOnFake injects, verifies and recovers every fault
// of the catalogue that does not wait for a failover, each on a fresh fake
// environment, and checks that the environment is healthy afterwards.
func TestCatalogueLifecycleOnFake(t *testing.T) {
	ran := 0
	for _, d := range faults.Catalogue() {
		if d.After != "" {
			continue // waits for a failover: exercised by the harness drills
		}
		t.Run(d.Name, func(t *testing.T) {
			env := fakeEnv(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			committed, stop := trickle(env.Router().URL())
			defer stop()
			// Inject only once the workload commits: a fault whose proof is
			// the primary committing past the secondary has nothing to show
			// on a loaded machine that has not run the first write yet.
			select {
			case <-committed:
			case <-ctx.Done():
				t.Fatal("the trickle committed nothing in 30 s")
			}
			var params map[string]string
			if d.Name == "replication-stall-then-loss" {
				// A stall of about a wall second at this scale (the default
				// 5 minutes is 15 ms): time for the trickle to commit during
				// it however loaded the machine.
				params = map[string]string{"stall": "6h"}
			}
			f, _, err := faults.New(d.Name, params)
			if err != nil {
				t.Fatal(err)
			}
			if tg, ok := f.(faults.Targeted); ok {
				if err := tg.CheckTarget(env); err != nil {
					t.Fatalf("check target: %v", err)
				}
			}
			if err := f.Inject(ctx, env); err != nil {
				t.Fatalf("inject: %v", err)
			}
			if v, ok := f.(faults.Verifier); ok {
				if err := v.Verify(ctx, env); err != nil {
					t.Errorf("verify: %v", err)
				}
			}
			if err := f.Recover(ctx, env); err != nil {
				t.Fatalf("recover: %v", err)
			}
			for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
				healthy(t, env, r)
			}
		})
		ran++
	}
	if ran == 0 {
		t.Fatal("the catalogue has no fault to run")
	}
}

// TestNoopIsNeverRandom: the no-op fault is in the catalogue but never in a
// random schedule's default pool.
func TestNoopIsNeverRandom(t *testing.T) {
	d, ok := faults.Lookup("noop")
	if !ok || d.Class != faults.None {
		t.Fatalf("noop: %+v, %t", d, ok)
	}
}
