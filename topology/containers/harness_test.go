package containers_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/containers"
	"github.com/bcdr-harness/bcdr/topology/miniorepl"
)

// runDrill runs a built-in scenario of the harness on the containers
// provider and requires every check to pass, or, with expect, the named
// checks to reach the given verdicts.
func runDrill(t *testing.T, name string, expect map[string]assertions.Verdict, set ...string) {
	runDrillWith(t, name, expect, nil, set...)
}

// runDrillWith is runDrill with a hook that receives the environment once
// it is up (a control that breaks something mid-run).
func runDrillWith(t *testing.T, name string, expect map[string]assertions.Verdict, onEnv func(topology.Environment), set ...string) {
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
	opts := harness.Options{OnEnv: onEnv, Logf: func(f string, a ...any) {
		t.Logf("+%5.1fs "+f, append([]any{time.Since(start).Seconds()}, a...)...)
	}}
	out, err := harness.Run(context.Background(), sc, opts)
	if err == nil {
		// A rerun at most twice as long: the five drills share one test
		// timeout.
		if scale, why := out.RerunScale(2); scale > 0 && len(undecided(out, expect)) > 0 {
			// Too close to call: the same drill at a finer scale decides.
			t.Logf("%s: %s; deciding at scale %g", name, why, scale)
			sc.Scale = scale
			out, err = harness.Run(context.Background(), sc, opts)
		}
	}
	if out != nil {
		if dir := os.Getenv("BCDR_RESULTS"); dir != "" {
			if err := out.Save(filepath.Join(dir, t.Name())); err != nil {
				t.Logf("save the run: %v", err)
			}
		}
		for _, name := range []string{history.EvSnapshotError, history.EvRunbookFailed, history.EvRunbookError, harness.EvFailoverRetry, history.EvFailbackRetry, harness.EvOldPrimaryFenced} {
			for _, op := range out.History.Events(name) {
				t.Logf("event %s: %v", name, op.Value)
			}
		}
		t.Logf("%s: verdict %s, %d acknowledged writes, %d failed, %d unknown", name, out.Result.Verdict,
			out.Result.Workload.AcknowledgedWrites, out.Result.Workload.Failed, out.Result.Workload.Unknown)
		if out.Result.Reason != "" {
			t.Logf("%s: %s", name, out.Result.Reason)
		}
		if expect == nil && out.Result.Verdict == assertions.Fail {
			t.Errorf("%s: run verdict fail: %s", name, out.Result.Reason)
		}
		for _, c := range out.Result.Checks {
			t.Logf("  %-20s %-7s observed %8.1fs budget %8.1fs lost %d: %s", c.Name, c.Verdict, c.ObservedServiceS, c.BudgetServiceS, c.LostCount, c.Explanation)
			want, named := expect[c.Name]
			if expect == nil {
				want, named = assertions.Pass, true
			}
			if named && c.Verdict != want && !(c.Verdict == assertions.Unknown && c.TooClose) {
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
	if u := undecided(out, expect); len(u) > 0 && !t.Failed() {
		t.Skipf("too close to call on this machine, not judged: %s", strings.Join(u, "; "))
	}
}

func TestDrillRegionOutageOnContainers(t *testing.T) { runDrill(t, "region-outage", nil) }

func TestDrillFaultDomainLossOnContainers(t *testing.T) { runDrill(t, "fault-domain-loss", nil) }

// The negative control: failback without the tail-log backup loses the
// writes made in region B since its last log backup, and the check says so.
func TestDrillFailbackWithoutFinalLogBackupOnContainers(t *testing.T) {
	runDrill(t, "region-outage", map[string]assertions.Verdict{"failback-loss": assertions.Fail}, "skip-final-log-backup=true")
}

// The negative control of MinIO replication: the rule is removed once MinIO
// has replicated a document, so replication silently stops and every later
// document stays in region A; when A is lost, the invoice rows region B
// restored name documents its bucket never received, and cross-store says so.
func TestDrillReplicationRuleRemovedOnContainers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	removed := make(chan time.Time, 1)
	runDrillWith(t, "region-outage", map[string]assertions.Verdict{"cross-store": assertions.Fail}, func(env topology.Environment) {
		repl, ok := env.Blob().(*miniorepl.Replication)
		if !ok {
			t.Errorf("blob replication is %T, not MinIO's", env.Blob())
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				st, err := repl.ObjectStates(ctx, topology.RegionA)
				if err == nil && st.Replicated > 0 {
					break
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
			if err := repl.RemoveRule(ctx); err != nil {
				t.Errorf("remove the replication rule: %v", err)
				return
			}
			removed <- time.Now()
		}()
		// A long steady state: the documents left behind by the removed rule
		// grow older than any machine stall could make a healthy replicator
		// (under heavy load a 45-minute steady state left the oldest at 42
		// minutes against 32 minutes of noise: too close to call).
	}, "blob-engine=minio", "steady-state=2h")
	select {
	case at := <-removed:
		t.Logf("the replication rule was removed at %s", at.Format(time.TimeOnly))
	default:
		t.Error("the replication rule was never removed: the control proved nothing")
	}
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

// undecided is what left the checks the test judges (all when expect is
// nil) too close to call.
func undecided(out *harness.Outcome, expect map[string]assertions.Verdict) []string {
	var u []string
	for _, line := range out.Undecided() {
		name, _, _ := strings.Cut(line, ":")
		if _, named := expect[name]; expect == nil || named {
			u = append(u, line)
		}
	}
	return u
}
