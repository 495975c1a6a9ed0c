package harness

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

// resumeEnv wraps the fake environment: its blob switchover fails a number
// of times, and it counts SQL switchovers and the front door's switches.
type resumeEnv struct {
	topology.Environment
	sql    *countingSQL
	blob   *flakyBlob
	router *routerSpy
}

func (e *resumeEnv) SQL() topology.LogShipping  { return e.sql }
func (e *resumeEnv) Blob() topology.Replication { return e.blob }
func (e *resumeEnv) Router() topology.Router    { return e.router }

type countingSQL struct {
	topology.LogShipping
	switchovers int
}

func (c *countingSQL) Switchover(ctx context.Context, o topology.SwitchoverOptions) error {
	c.switchovers++
	return c.LogShipping.Switchover(ctx, o)
}

type flakyBlob struct {
	topology.Replication
	fails, switchovers int
}

func (f *flakyBlob) Switchover(ctx context.Context) error {
	f.switchovers++
	if f.fails > 0 {
		f.fails--
		return errors.New("final sync: 104 objects not replicated")
	}
	return f.Replication.Switchover(ctx)
}

type routerSpy struct {
	topology.Router
	mu       sync.Mutex
	switches []topology.RegionName
}

func (r *routerSpy) SwitchTo(to topology.RegionName) error {
	r.mu.Lock()
	r.switches = append(r.switches, to)
	r.mu.Unlock()
	return r.Router.SwitchTo(to)
}

// A failback attempt that fails after the SQL switchover (here the blob
// store's final sync) is resumed, not repeated: SQL is switched once, the
// front door never goes back to the region whose database is no longer
// primary, and the retry finishes the blob switch.
func TestFailbackResumesAfterAPartialSwitch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base, clk := quietFakeEnv(t)
	env := &resumeEnv{Environment: base, sql: &countingSQL{LogShipping: base.SQL()},
		blob: &flakyBlob{Replication: base.Blob(), fails: 1}, router: &routerSpy{Router: base.Router()}}
	rec := history.NewRecorder(clk)
	rb := NewRunbook(RunbookConfig{DetectAfter: 1, SignOff: "approve"}, env, rec)
	if err := rb.failover(ctx); err != nil {
		t.Fatalf("failover: %v", err)
	}
	env.router.switches = nil
	if err := rb.failback(ctx); err != nil {
		t.Fatalf("failback: %v", err)
	}
	if env.sql.switchovers != 1 {
		t.Errorf("SQL switched over %d times, want once: a retry must not move the primary back", env.sql.switchovers)
	}
	if env.blob.switchovers != 2 {
		t.Errorf("blob switchover ran %d times, want 2 (one failure, one retry)", env.blob.switchovers)
	}
	for _, r := range env.router.switches {
		if r == topology.RegionB {
			t.Errorf("front door switched back to b after SQL had moved to a: %v", env.router.switches)
		}
	}
	if st, err := base.SQL().Status(ctx); err != nil || st.Primary != topology.RegionA {
		t.Errorf("SQL primary after failback: %v (%v), want a", st.Primary, err)
	}
	if st, err := base.Blob().Status(ctx); err != nil || st.Source != topology.RegionA {
		t.Errorf("blob source after failback: %v (%v), want a", st.Source, err)
	}
	retries := rec.Ops().Events("failback-retry")
	if len(retries) != 1 || retries[0].Value["sql_moved"] != true {
		t.Errorf("failback-retry events: %v, want one with sql_moved", retries)
	}
}
