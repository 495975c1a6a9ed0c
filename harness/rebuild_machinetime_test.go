package harness

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/fake"
)

// rebuildingEnv wraps the fake environment: its log shipping reports no
// shipping until rebuilt is set, as the old primary's rebuild after a
// failback does.
type rebuildingEnv struct {
	topology.Environment
	sql *rebuildingSQL
}

func (e *rebuildingEnv) SQL() topology.LogShipping { return e.sql }

type rebuildingSQL struct {
	topology.LogShipping
	rebuilt atomic.Bool
	polled  atomic.Int32
}

func (s *rebuildingSQL) Status(ctx context.Context) (topology.ShippingStatus, error) {
	st, err := s.LogShipping.Status(ctx)
	st.Shipping = s.rebuilt.Load()
	s.polled.Add(1)
	return st, err
}

func rebuildingRunbook(t *testing.T) (*Runbook, *rebuildingEnv, *clock.Clock, *history.Recorder) {
	t.Helper()
	base, clk := quietFakeEnv(t)
	env := &rebuildingEnv{Environment: base, sql: &rebuildingSQL{LogShipping: base.SQL()}}
	rec := history.NewRecorder(clk)
	return NewRunbook(RunbookConfig{DetectAfter: 1, SignOff: "approve"}, env, rec), env, clk, rec
}

// quietFakeEnv brings up a small fake environment at scale 100 whose log
// shipping and blob replication jobs never run on their own (an hour
// apart); it is closed when the test ends.
func quietFakeEnv(t *testing.T) (topology.Environment, *clock.Clock) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec := topology.DefaultSpec()
	spec.Provider = fake.Name
	spec.InstancesPerRegion, spec.FaultDomains = 2, 2
	spec.LogBackupInterval, spec.LogCopyInterval, spec.LogRestoreInterval, spec.BlobReplInterval = time.Hour, time.Hour, time.Hour, time.Hour
	clk := clock.New(100)
	base, err := fake.Up(ctx, spec, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { base.Close(context.Background()) })
	return base, clk
}

// waitFor polls cond (an observable condition, not a fixed sleep) until
// it holds or a minute has passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after a minute", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The old primary's rebuild after a failback is machine work: the clock
// runs at MachineScale until the standby is rebuilt, the history marks the
// stretch (machine-time) around standby-rebuilt, and the drill's scale
// comes back after it.
func TestStandbyRebuildRunsAtMachineScale(t *testing.T) {
	rb, env, clk, rec := rebuildingRunbook(t)
	done := make(chan struct{})
	go func() { defer close(done); rb.awaitStandby(context.Background(), topology.RegionB) }()
	waitFor(t, "the runbook polling the standby", func() bool { return env.sql.polled.Load() >= 2 })
	if got := clk.Current(); got != MachineScale {
		t.Errorf("clock scale %g while the standby is rebuilt, want %d", got, MachineScale)
	}
	env.sql.rebuilt.Store(true)
	<-done
	if got := clk.Current(); got != 100 {
		t.Errorf("clock scale %g after the rebuild, want the drill's 100", got)
	}
	var keys []string
	for _, op := range rec.Ops().Ops {
		if op.Kind == history.Event && (op.Key == history.EvMachineTime || op.Key == history.EvStandbyRebuilt) {
			keys = append(keys, op.Key)
		}
	}
	want := []string{history.EvMachineTime, history.EvStandbyRebuilt, history.EvMachineTime}
	if len(keys) != 3 || keys[0] != want[0] || keys[1] != want[1] || keys[2] != want[2] {
		t.Fatalf("events %v, want %v", keys, want)
	}
	if b, _ := rec.Ops().Events(history.EvMachineTime)[0].Value["begin"].(bool); !b {
		t.Errorf("the first machine-time event does not begin the stretch: %v", rec.Ops().Events(history.EvMachineTime)[0].Value)
	}
}

// A rebuild that outlasts RebuildMachineTime (a fault in the way) gives
// the clock back to the drill's scale while the runbook still waits for
// the standby: the rest of the run is not slowed to wall time.
func TestStandbyRebuildMachineTimeIsBounded(t *testing.T) {
	defer func(d time.Duration) { RebuildMachineTime = d }(RebuildMachineTime)
	RebuildMachineTime = 100 * time.Millisecond
	rb, env, clk, rec := rebuildingRunbook(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); rb.awaitStandby(ctx, topology.RegionB) }()
	waitFor(t, "the machine-time stretch to end", func() bool { return len(rec.Ops().Events(history.EvMachineTime)) == 2 })
	if got := clk.Current(); got != 100 {
		t.Errorf("clock scale %g once the bound passed, want the drill's 100", got)
	}
	if _, ok := rec.Ops().FirstEvent(history.EvStandbyRebuilt); ok {
		t.Fatal("standby-rebuilt recorded for a standby never rebuilt")
	}
	n := env.sql.polled.Load()
	waitFor(t, "the runbook to go on polling the standby", func() bool { return env.sql.polled.Load() > n })
	cancel()
	<-done
	if got := len(rec.Ops().Events(history.EvMachineTime)); got != 2 {
		t.Errorf("%d machine-time events, want one stretch (2)", got)
	}
}
