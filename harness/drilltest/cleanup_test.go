package drilltest_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/local"
)

// small is a short scenario for tests about the harness itself.
func small(name string) harness.Scenario {
	sc, _ := harness.Builtin(name)
	if err := sc.SetAll([]string{"instances-per-region=3", "steady-state=10m", "after=5m", "fault-hold=5m",
		"failed-over-for=10m", "decision-window=10m", "min-writes-before-fault=10"}); err != nil {
		panic(err)
	}
	return sc
}

// requireReleased fails unless every process, port and directory the
// environment held is gone.
func requireReleased(t *testing.T, env topology.Environment, atStart local.Resources) {
	t.Helper()
	le, ok := env.(*local.Env)
	if !ok {
		t.Fatalf("environment is %T, want *local.Env", env)
	}
	res := le.Resources()
	res.Pids = append(res.Pids, atStart.Pids...)
	res.Addrs = append(res.Addrs, atStart.Addrs...)
	if len(res.Pids) == 0 || len(res.Addrs) == 0 || len(res.Dirs) == 0 {
		t.Fatalf("the environment reported nothing to check: %+v", res)
	}
	for _, pid := range res.Pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone
		}
		// A reaped pid can be reused; only a process of ours matters.
		if f := strings.Fields(string(b)); len(f) > 2 && f[2] != "Z" {
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if strings.Contains(string(cmd), "postgres") || strings.Contains(string(cmd), os.Args[0]) {
				t.Errorf("process %d (%s) still running after teardown", pid, strings.ReplaceAll(string(cmd), "\x00", " "))
			}
		}
	}
	for _, a := range res.Addrs {
		if c, err := net.DialTimeout("tcp", a, 200*time.Millisecond); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after teardown", a)
		}
	}
	for _, d := range res.Dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("directory %s still exists after teardown (%v)", d, err)
		}
	}
	t.Logf("released %d processes, %d listening addresses, %d directories", len(res.Pids), len(res.Addrs), len(res.Dirs))
}

func TestNothingLeftAfterADrill(t *testing.T) {
	var env topology.Environment
	var atStart local.Resources
	onEnv := func(e topology.Environment) { env, atStart = e, e.(*local.Env).Resources() }
	sc := small("instance-crash")
	out, err := harness.Run(context.Background(), sc, harness.Options{OnEnv: onEnv})
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.Workload.AcknowledgedWrites == 0 {
		t.Fatal("the drill acknowledged no write")
	}
	requireReleased(t, env, atStart)
}

func TestNothingLeftAfterACancelledDrill(t *testing.T) {
	var env topology.Environment
	var atStart local.Resources
	onEnv := func(e topology.Environment) { env, atStart = e, e.(*local.Env).Resources() }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sc := small("region-outage")
	out, err := harness.Run(ctx, sc, harness.Options{
		OnEnv: onEnv,
		// Cancel half way: as soon as the runbook starts failing over.
		OnOp: func(op history.Op) {
			if op.Kind == history.Event && op.Key == history.EvFailoverStart {
				cancel()
			}
		},
	})
	if err == nil {
		t.Fatal("a cancelled drill reported no error")
	}
	if out == nil || out.Result.Verdict != "unknown" || len(out.History.Ops) == 0 {
		t.Fatalf("a cancelled drill must still return what it recorded with verdict unknown, got %+v", out)
	}
	requireReleased(t, env, atStart)
}

func TestNothingLeftAfterAPanic(t *testing.T) {
	var env topology.Environment
	var atStart local.Resources
	onEnv := func(e topology.Environment) { env, atStart = e, e.(*local.Env).Resources() }
	sc := small("instance-crash")
	out, err := harness.Run(context.Background(), sc, harness.Options{
		OnEnv: onEnv,
		Logf: func(format string, args ...any) {
			if strings.Contains(fmt.Sprintf(format, args...), "phase faults") {
				panic("injected panic in the runner")
			}
		},
	})
	var pe *harness.PanicError
	if !errors.As(err, &pe) || out == nil || out.Result.Verdict != "unknown" {
		t.Fatalf("a panic in the runner: %v (outcome %v), want a PanicError and verdict unknown", err, out)
	}
	requireReleased(t, env, atStart)
}
