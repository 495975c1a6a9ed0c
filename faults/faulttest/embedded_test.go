package faulttest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/topology"
	_ "github.com/bcdr-harness/bcdr/topology/local" // the embedded provider (and the AOS stub)
	"github.com/bcdr-harness/bcdr/topology/providers/conformance"
)

// upEnv brings up a small embedded environment for the whole test.
func upEnv(t *testing.T) topology.Environment {
	t.Helper()
	spec := topology.DefaultSpec()
	spec.InstancesPerRegion = 5
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	env, err := topology.Up(ctx, spec, clock.New(200))
	if err != nil {
		t.Fatalf("bring up: %v", err)
	}
	t.Cleanup(func() { _ = env.Close(context.Background()) })
	return env
}

// TestFaultsOnEmbeddedEnvironment injects every fault of the catalogue into
// one small environment, observes its effect, recovers it and checks the
// environment is whole again.
func TestFaultsOnEmbeddedEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and a few seconds")
	}
	env := upEnv(t)
	conformance.RequireHealthy(t, env)
	stop := conformance.Writer(env)
	defer stop()

	cases := []struct {
		name   string
		params map[string]string
		check  func(t *testing.T, ev map[string]any)
	}{
		{"instance-crash", map[string]string{"region": "a", "instance": "1"}, nil},
		{"instance-freeze", map[string]string{"region": "a", "instance": "2"}, func(t *testing.T, ev map[string]any) {
			if s := fmt.Sprint(ev["instances"]); !strings.Contains(s, "state T") {
				t.Errorf("freeze evidence %s does not show a stopped process", s)
			}
		}},
		{"fault-domain-loss", map[string]string{"region": "a", "domain": "3"}, nil},
		{"fault-domains-loss", map[string]string{"region": "a", "domains": "0,4"}, nil},
		{"sql-primary-crash", map[string]string{"region": "a"}, nil},
		{"sql-standby-crash", map[string]string{"region": "b"}, nil},
		{"log-share-full", map[string]string{"region": "a"}, func(t *testing.T, ev map[string]any) {
			if s := fmt.Sprint(ev["backup_error"]); !strings.Contains(s, "archive_command failed") {
				t.Errorf("log backup failed for another reason than the full share: %s", s)
			}
		}},
		{"blob-crash", map[string]string{"region": "a"}, nil},
		{"link-latency", map[string]string{"link": "client-a", "latency": "300ms", "jitter": "20ms"}, nil},
		{"link-latency", map[string]string{"link": "aos-sql-a", "latency": "200ms", "jitter": "0s"}, nil},
		{"link-bandwidth", map[string]string{"link": "wan", "rate": "16"}, nil},
		{"link-bandwidth", map[string]string{"link": "aos-sql-b", "rate": "8"}, nil},
		{"link-reset", map[string]string{"link": "aos-sql-a"}, nil},
		{"link-blackhole", map[string]string{"link": "aos-blob-a"}, nil},
		{"link-partition", map[string]string{"link": "client-b"}, nil},
		{"link-one-way", map[string]string{"link": "wan", "direction": "upstream"}, nil},
		{"link-one-way", map[string]string{"link": "client-a", "direction": "downstream"}, nil},
		{"wan-partition", nil, nil},
		{"aos-sql-partition", map[string]string{"region": "a"}, nil},
		{"region-isolation", map[string]string{"region": "a"}, func(t *testing.T, ev map[string]any) {
			if ev["load_balancer"] != "HTTP 200" {
				t.Errorf("isolated region's data plane did not answer: %v", ev)
			}
		}},
		{"region-outage", map[string]string{"region": "a"}, nil},
		{"region-flapping", map[string]string{"region": "a", "down": "1m", "up": "2m", "cycles": "2"}, nil},
		{"replication-stall-then-loss", map[string]string{"region": "a", "stall": "3m"}, func(t *testing.T, ev map[string]any) {
			if ev["primary_last_lsn"] == ev["copied_lsn"] {
				t.Errorf("no commit stranded by the stall: %v", ev)
			}
		}},
		{"failback-fault", map[string]string{"region": "b", "target": "aos", "domain": "1"}, nil},
		{"failback-fault", map[string]string{"region": "b", "target": "sql"}, nil},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			ev := conformance.Lifecycle(t, env, tc.name, tc.params, 300*time.Millisecond)
			if tc.check != nil {
				tc.check(t, ev)
			}
		})
	}
	for _, d := range faults.Catalogue() {
		// noop touches nothing and claims no effect to verify; its
		// lifecycle runs on the fake (fake_lifecycle_test.go).
		if !covered[d.Name] && d.Class != faults.None {
			t.Errorf("fault %s has no case here", d.Name)
		}
	}
}

// TestMissingTargets: targets are checked against a running environment
// before anything is changed.
func TestMissingTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	env := upEnv(t)
	for _, tc := range []struct {
		name   string
		params map[string]string
		want   string
	}{
		{"instance-crash", map[string]string{"instance": "7"}, "region a has no instance 7"},
		{"instance-freeze", map[string]string{"region": "b", "instance": "99"}, "region b has no instance 99"},
		{"sql-primary-crash", map[string]string{"region": "b"}, "region b does not hold the SQL primary"},
		{"sql-standby-crash", map[string]string{"region": "a"}, "region a does not hold the SQL secondary"},
		{"log-share-full", map[string]string{"region": "b"}, "region b does not hold the SQL primary"},
	} {
		f, _, err := faults.New(tc.name, tc.params)
		if err != nil {
			t.Fatal(err)
		}
		err = f.(faults.Targeted).CheckTarget(env)
		var fe *faults.Error
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: want %q, got %v", tc.name, tc.params, tc.want, err)
		}
	}
	for _, in := range env.Region(topology.RegionA).Instances() {
		if !in.Alive() {
			t.Errorf("%s was touched by a rejected fault", in.ID())
		}
	}
}

// TestVerifyLooksAtTheEnvironment: each fault's check observes the
// environment, not its own state: when the effect is undone behind the
// fault's back before Verify runs, Verify fails.
func TestVerifyLooksAtTheEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	env := upEnv(t)
	ctx := context.Background()
	undoLink := func(name string) func() error {
		return func() error { l, _ := env.Links().Get(name); return l.Reset() }
	}
	for _, tc := range []struct {
		name   string
		params map[string]string
		undo   func() error
	}{
		{"link-latency", map[string]string{"link": "wan", "latency": "300ms", "jitter": "0s"}, undoLink("wan")},
		{"link-partition", map[string]string{"link": "aos-blob-b"}, undoLink("aos-blob-b")},
		{"link-blackhole", map[string]string{"link": "client-a"}, undoLink("client-a")},
		{"region-isolation", map[string]string{"region": "a"}, undoLink("client-a")},
		{"instance-crash", map[string]string{"region": "a", "instance": "3"}, func() error {
			return env.Region(topology.RegionA).Instances()[3].Restart(ctx)
		}},
		{"instance-freeze", map[string]string{"region": "b", "instance": "0"}, func() error {
			return env.Region(topology.RegionB).Instances()[0].Thaw(ctx)
		}},
		{"sql-standby-crash", map[string]string{"region": "b"}, func() error { return env.Region(topology.RegionB).StartSQL(ctx) }},
		{"blob-crash", map[string]string{"region": "b"}, func() error { return env.Region(topology.RegionB).StartBlob(ctx) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _, err := faults.New(tc.name, tc.params)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Inject(ctx, env); err != nil {
				t.Fatal(err)
			}
			if err := tc.undo(); err != nil {
				t.Fatalf("undo behind the fault's back: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
			err = f.(faults.Verifier).Verify(ctx, env)
			_ = f.Recover(ctx, env)
			if err == nil {
				t.Fatalf("%s claims to be observed although its effect was undone", tc.name)
			}
			t.Logf("%s undone: %v", tc.name, err)
			conformance.RequireHealthy(t, env)
		})
	}
}
