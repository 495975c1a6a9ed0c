package drilltest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

// unobservable is a fault built to test the harness: it really acts (it
// adds a toxic that slows the WAN) but its check looks for an effect that
// never comes, as a fault whose injection silently failed would.
type unobservable struct{ added bool }

func (f *unobservable) Name() string { return "test-unobservable" }
func (f *unobservable) Inject(ctx context.Context, env topology.Environment) error {
	l, _ := env.Links().Get(topology.LinkWAN)
	f.added = true
	return l.AddToxic("test-unobservable", "latency", "downstream", 1, map[string]any{"latency": 1})
}
func (f *unobservable) Recover(ctx context.Context, env topology.Environment) error {
	l, _ := env.Links().Get(topology.LinkWAN)
	return l.RemoveToxic("test-unobservable")
}
func (f *unobservable) Verify(ctx context.Context, env topology.Environment) error {
	return errors.New("no request through link wan was slowed by 5s")
}

func init() {
	faults.Register(faults.Definition{Name: "test-unobservable", Class: faults.Network,
		Help:  "test only: a fault whose effect is never observed",
		Build: func(faults.Params) (faults.Fault, error) { return &unobservable{}, nil }})
}

// TestUnobservedFaultMakesTheRunUnknown: a fault whose effect is never
// observed makes the run unknown, and the reason names the fault and what
// was looked for.
func TestUnobservedFaultMakesTheRunUnknown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a drill")
	}
	sc := small("instance-crash")
	sc.Name = "unobservable"
	sc.Faults = []harness.FaultStep{{Name: "test-unobservable", Duration: 2 * time.Minute}}
	out, err := harness.Run(context.Background(), sc, harness.Options{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if out.Result.Verdict != assertions.Unknown {
		t.Fatalf("verdict %s, want unknown (the fault was never observed)", out.Result.Verdict)
	}
	v, _ := out.Check("validity")
	for _, want := range []string{"fault test-unobservable", "never observed to take effect", "no request through link wan was slowed by 5s"} {
		if !strings.Contains(v.Explanation, want) || !strings.Contains(out.Result.Reason, want) {
			t.Errorf("validity explanation %q / reason %q lacks %q", v.Explanation, out.Result.Reason, want)
		}
	}
	t.Logf("verdict %s: %s", out.Result.Verdict, out.Result.Reason)
}

// TestRandomScheduleRuns: a random schedule (hardware and network faults
// only, so it is short) runs with the same schedule its seed prints, every
// fault observed and recovered, and the run valid.
func TestRandomScheduleRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a drill")
	}
	sc := small("random")
	sc.Seed = 11
	pool := "instance-freeze,link-latency,blob-crash,link-blackhole,sql-standby-crash"
	sc.Faults = []harness.FaultStep{{Name: harness.RandomStep, Params: map[string]string{"window": "20m", "count": "2", "faults": pool}}}
	want, err := harness.ScheduleFor(sc)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := harness.ScheduleFor(sc); again.String() != want.String() {
		t.Fatalf("seed 11 gave two schedules:\n%s\n---\n%s", want, again)
	}
	var logs []string
	out, err := harness.Run(context.Background(), sc, harness.Options{Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(logs) == 0 || logs[0] != want.String() {
		t.Fatalf("the run did not print its schedule first; want\n%s\ngot %q", want, logs[:min(len(logs), 2)])
	}
	t.Logf("%s", want)
	injected := out.History.Events(history.EvFaultInjected)
	recovered := out.History.Events(history.EvFaultRecovered)
	if len(injected) != len(want.Steps) || len(recovered) != len(want.Steps) {
		t.Fatalf("%d faults scheduled, %d injected, %d recovered", len(want.Steps), len(injected), len(recovered))
	}
	for _, op := range injected {
		if v, _ := op.Value["verified"].(bool); !v {
			t.Errorf("fault %v not observed: %v", op.Value["fault"], op.Value["verify_error"])
		}
		t.Logf("%v observed: %v", op.Value["fault"], op.Value["evidence"])
	}
	for _, op := range recovered {
		if v, _ := op.Value["healthy_after"].(bool); !v {
			t.Errorf("environment not healthy after recovering %v: %v", op.Value["fault"], op.Value["health_after_error"])
		}
	}
	requirePass(t, out)
}

// TestStallThenLossWithAFailbackFault runs the region faults through the
// whole runbook: replication stalls, then region a is lost, so the runbook
// must ask for sign-off (the secondary lacks committed data); it fails over,
// and while it fails back a fault domain of region b is lost. Every fault is
// observed, struck when it should, and the checks still hold.
func TestStallThenLossWithAFailbackFault(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a drill")
	}
	sc := small("region-outage")
	sc.Name = "stall-then-loss"
	sc.Faults = []harness.FaultStep{
		{Name: "replication-stall-then-loss", Params: map[string]string{"region": "a", "stall": "4m"}},
		{Name: "failback-fault", Params: map[string]string{"region": "b", "target": "aos", "domain": "1"}, Duration: 5 * time.Minute},
	}
	out, err := harness.Run(context.Background(), sc, harness.Options{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	h := out.History
	if _, ok := h.FirstEvent(history.EvSignOffRequested); !ok {
		t.Errorf("the runbook failed over without asking for sign-off after a replication stall")
	}
	fb, ok := h.FirstEvent(history.EvFailbackStart)
	if !ok {
		t.Fatalf("no failback: %s", out.Result.Reason)
	}
	for _, op := range h.Events(history.EvFaultInjected) {
		if v, _ := op.Value["verified"].(bool); !v {
			t.Errorf("fault %v not observed: %v", op.Value["fault"], op.Value["verify_error"])
		}
		if op.Value["fault"] == "failback-fault" && op.Wall.Before(fb.Wall) {
			t.Errorf("failback fault struck at %s, before the failback started at %s", op.Wall, fb.Wall)
		}
		t.Logf("%v at service %s: %v", op.Value["fault"], op.Service, op.Value["evidence"])
	}
	if n := len(h.Events(history.EvFaultInjected)); n != 2 {
		t.Errorf("%d faults injected, want 2", n)
	}
	for _, c := range out.Result.Checks {
		t.Logf("%s: %s (%s)", c.Name, c.Verdict, c.Explanation)
	}
	requirePass(t, out)
}

// TestStallThenLossSignOffRefused: with the customer refusing sign-off,
// the region-loss fault does not wait for a failover that will never come:
// the region returns after the fault hold, the runbook stands down, and the
// run finishes with nothing lost.
func TestStallThenLossSignOffRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a drill")
	}
	sc := small("region-outage")
	sc.Name = "stall-then-loss-refused"
	sc.Runbook.SignOff = "refuse"
	sc.Faults = []harness.FaultStep{{Name: "replication-stall-then-loss", Params: map[string]string{"region": "a", "stall": "4m"}}}
	// No failover, so nothing fails back and no customer is told of a
	// move: the failback, limited-mode and notice checks are dropped, on
	// the record.
	sc.SkipChecks = []string{"customer-notice", "failback-loss", "failback-interruption", "batch-outage", "limited-mode", "restored-after-failback", "secondary-capacity", "cutover-fingerprint"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := harness.Run(ctx, sc, harness.Options{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	h := out.History
	for _, ev := range []string{history.EvSignOffRequested, history.EvSignOffRefused, history.EvFailoverAborted, history.EvFaultRecovered} {
		if _, ok := h.FirstEvent(ev); !ok {
			t.Errorf("no %s event", ev)
		}
	}
	if _, ok := h.FirstEvent(history.EvFailoverStart); ok {
		t.Errorf("failed over although sign-off was refused")
	}
	requirePass(t, out)
}

// Aim names the WAN link's proxies, which the fault's toxic acts on.
func (f *unobservable) Aim(env topology.Environment) ([]topology.Target, error) {
	l, ok := env.Links().Get(topology.LinkWAN)
	if !ok {
		return nil, errors.New("no link wan")
	}
	t, ok := l.(topology.Targeter)
	if !ok {
		return nil, fmt.Errorf("link wan (%T) does not name its proxies", l)
	}
	return t.Targets(), nil
}
