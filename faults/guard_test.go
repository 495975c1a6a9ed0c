package faults_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/topology"
)

// Every fault of the catalogue, with its defaults, names its targets, and
// the environment that created them owns them: the guard lets a drill run.
func TestGuardLetsEveryFaultActOnItsOwnRun(t *testing.T) {
	env := fakeEnv(t)
	for _, d := range faults.Catalogue() {
		f, _, err := faults.New(d.Name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := faults.Guard(context.Background(), env, f); err != nil {
			t.Errorf("%s: %v", d.Name, err)
		}
	}
}

// foreignEnv is the fake environment with region a's instances replaced by
// one that names a target the run did not create and records any action.
type foreignEnv struct {
	topology.Environment
	owner  topology.Owner
	region topology.Region
}

func (e foreignEnv) Region(n topology.RegionName) topology.Region {
	if n == topology.RegionA {
		return e.region
	}
	return e.Environment.Region(n)
}

func (e foreignEnv) Owns(ctx context.Context, t topology.Target) error { return e.owner.Owns(ctx, t) }

type foreignRegion struct {
	topology.Region
	inst topology.Instance
}

func (r foreignRegion) Instances() []topology.Instance { return []topology.Instance{r.inst} }

type foreignInstance struct {
	topology.Instance
	target topology.Target
	acted  *atomic.Int32
}

func (in foreignInstance) Targets() []topology.Target   { return []topology.Target{in.target} }
func (in foreignInstance) Kill(context.Context) error   { in.acted.Add(1); return nil }
func (in foreignInstance) Freeze(context.Context) error { in.acted.Add(1); return nil }

// A fault aimed at a target the run did not create (the test process's
// parent, a container without the run's label, a proxy another run made)
// is refused before anything is done to it, with the target and the reason.
func TestGuardRefusesWhatTheRunDidNotCreate(t *testing.T) {
	base := fakeEnv(t)
	for _, tc := range []struct {
		fault  string
		target topology.Target
		want   string
	}{
		{"instance-crash", topology.ProcessTarget(os.Getppid(), "the test's parent"), "no process this run's environment started has that pid"},
		{"instance-freeze", topology.ProcessTarget(os.Getppid(), "the test's parent"), "pid"},
		{"fault-domain-loss", topology.Target{Kind: topology.TargetContainer, ID: "0123456789ab", Name: "someone's container"}, "this run did not create it"},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			var acted atomic.Int32
			in := foreignInstance{Instance: base.Region(topology.RegionA).Instances()[0], target: tc.target, acted: &acted}
			env := foreignEnv{Environment: base, owner: base.(topology.Owner), region: foreignRegion{Region: base.Region(topology.RegionA), inst: in}}
			f, _, err := faults.New(tc.fault, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = faults.Strike(context.Background(), env, f)
			var re *faults.RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("Strike: %v, want a refusal", err)
			}
			var no *topology.NotOwnedError
			if !errors.As(err, &no) || no.Target != tc.target {
				t.Fatalf("refusal %v does not name the target %v", err, tc.target)
			}
			if !strings.Contains(err.Error(), tc.target.ID) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing was done") {
				t.Errorf("refusal %q: want the target %s and %q", err, tc.target.ID, tc.want)
			}
			if n := acted.Load(); n != 0 {
				t.Errorf("the foreign target was acted on %d times", n)
			}
		})
	}
}

// A link whose proxy the run did not register is refused too.
func TestGuardRefusesAForeignProxy(t *testing.T) {
	reg := topology.NewRegistry("run-1")
	reg.Add(topology.Target{Kind: topology.TargetProxy, ID: "wan/sql-a@127.0.0.1:4000"})
	if err := reg.Owns(context.Background(), topology.Target{Kind: topology.TargetProxy, ID: "wan/sql-a@127.0.0.1:4000"}); err != nil {
		t.Fatalf("own proxy refused: %v", err)
	}
	err := reg.Owns(context.Background(), topology.Target{Kind: topology.TargetProxy, ID: "wan/sql-a@10.0.0.9:4000", Name: "link wan"})
	if err == nil || !strings.Contains(err.Error(), "run run-1") || !strings.Contains(err.Error(), "10.0.0.9:4000") {
		t.Fatalf("foreign proxy: %v", err)
	}
}

// An environment that keeps no record of what it created cannot show a
// target to be its own: every fault is refused.
func TestGuardRefusesAnEnvironmentWithoutARecord(t *testing.T) {
	type plain struct{ topology.Environment }
	env := plain{fakeEnv(t)}
	f, _, _ := faults.New("instance-crash", nil)
	if err := faults.Strike(context.Background(), env, f); !faults.IsRefused(err) || !strings.Contains(err.Error(), "does not tell what its run created") {
		t.Fatalf("Strike: %v", err)
	}
	if !env.Region(topology.RegionA).Instances()[0].Alive() {
		t.Fatal("the instance was killed")
	}
}

// A process the run started is its own; the same pid is not once another
// process holds it (here: a pid the registry never saw).
func TestRegistryProcesses(t *testing.T) {
	reg := topology.NewRegistry("")
	reg.AddProcess(os.Getpid(), "the test")
	if err := reg.Owns(context.Background(), topology.ProcessTarget(os.Getpid(), "")); err != nil {
		t.Fatal(err)
	}
	err := reg.Owns(context.Background(), topology.ProcessTarget(os.Getppid(), ""))
	if err == nil || !strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getppid())) {
		t.Fatalf("parent: %v", err)
	}
}
