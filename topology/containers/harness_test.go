package containers_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/topology/containers"
)

// runDrill runs a built-in scenario of the harness on the containers
// provider and requires every check to pass, or, with expect, the named
// checks to reach the given verdicts.
func runDrill(t *testing.T, name string, expect map[string]assertions.Verdict, set ...string) {
	if os.Getenv("BCDR_PROVIDER") != containers.Name {
		t.Skip("harness drills on containers run with BCDR_PROVIDER=containers (and the local images: BCDR_LOCAL_IMAGES=1 scripts/build-images.sh)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := containers.DockerAvailable(ctx); err != nil {
		t.Skipf("Docker is not reachable (%v); the containers provider needs a Docker engine", err)
	}
	if os.Getenv("BCDR_LOCAL_IMAGES") == "" {
		t.Setenv("BCDR_LOCAL_IMAGES", "1")
	}
	if miss := containers.MissingImages(ctx, containers.ImagesFromEnv()); len(miss) > 0 {
		t.Skipf("images %v are not present; build them with: BCDR_LOCAL_IMAGES=1 scripts/build-images.sh", miss)
	}
	sc, ok := harness.Builtin(name)
	if !ok {
		t.Skipf("scenario %s is not in the harness catalogue yet", name)
	}
	sc.Spec.Provider = containers.Name
	runID := fmt.Sprintf("bcdr-drill-%s-%d", name, time.Now().UnixNano())
	t.Setenv("BCDR_RUN_ID", runID)
	if err := sc.SetAll(set); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	opts := harness.Options{Logf: func(f string, a ...any) {
		t.Logf("+%5.1fs "+f, append([]any{time.Since(start).Seconds()}, a...)...)
	}}
	out, err := harness.Run(context.Background(), sc, opts)
	if err == nil {
		if scale, why := out.DecidingScale(); scale > 0 {
			// Too close to call: the same drill at a finer scale decides.
			t.Logf("%s: %s; deciding at scale %g", name, why, scale)
			sc.Scale = scale
			out, err = harness.Run(context.Background(), sc, opts)
		}
	}
	if out != nil {
		for _, name := range []string{"snapshot-error", "runbook-failed", "runbook-error", harness.EvFailoverRetry, "failback-retry", harness.EvOldPrimaryFenced} {
			for _, op := range out.History.Events(name) {
				t.Logf("event %s: %v", name, op.Value)
			}
		}
		t.Logf("%s: verdict %s, %d acknowledged writes, %d failed, %d unknown", name, out.Result.Verdict,
			out.Result.Workload.AcknowledgedWrites, out.Result.Workload.Failed, out.Result.Workload.Unknown)
		for _, c := range out.Result.Checks {
			t.Logf("  %-20s %-7s observed %8.1fs budget %8.1fs lost %d: %s", c.Name, c.Verdict, c.ObservedServiceS, c.BudgetServiceS, c.LostCount, c.Explanation)
			want, named := expect[c.Name]
			if expect == nil {
				want, named = assertions.Pass, true
			}
			if named && c.Verdict != want {
				t.Errorf("check %s: want %s, got %s", c.Name, want, c.Verdict)
			}
		}
	}
	if err != nil {
		t.Fatalf("%s on containers: %v", name, err)
	}
	c, n, v, err := containers.Leftovers(context.Background(), runID)
	if err != nil || c+n+v != 0 {
		t.Errorf("after the drill: %d containers, %d networks, %d volumes of run %s left (%v)", c, n, v, runID, err)
	}
}

func TestDrillRegionOutageOnContainers(t *testing.T) { runDrill(t, "region-outage", nil) }

func TestDrillFaultDomainLossOnContainers(t *testing.T) { runDrill(t, "fault-domain-loss", nil) }

// The negative control: failback without the tail-log backup loses the
// writes made in region B since its last log backup, and the check says so.
func TestDrillFailbackWithoutFinalLogBackupOnContainers(t *testing.T) {
	runDrill(t, "region-outage", map[string]assertions.Verdict{"failback-loss": assertions.Fail}, "skip-final-log-backup=true")
}

func TestDrillWANPartitionOnContainers(t *testing.T) {
	harness.RegisterScenario("wan-partition", func() harness.Scenario {
		sc := harness.DefaultScenario()
		sc.Name = "wan-partition"
		sc.Description = "The WAN is cut for a while: shipping and replication stall, the primary keeps serving, both catch up; nothing is lost."
		sc.Faults = []harness.FaultStep{{Name: "wan-partition"}}
		return sc
	})
	runDrill(t, "wan-partition", nil)
}
