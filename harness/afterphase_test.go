package harness

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
)

// ackWrite records a write acknowledged now.
func ackWrite(rec *history.Recorder, key string) {
	rec.Append(history.Op{Process: 8, Type: history.Invoke, Kind: history.JournalEntry, Key: key})
	rec.Append(history.Op{Process: 8, Type: history.OK, Kind: history.JournalEntry, Key: key, Status: 201})
}

// awaitFailbackDecided waits for the observation batch-outage needs (a
// batch probe that succeeded after the failback), and no longer than the
// batch budget from failback-start plus two probe intervals. (Writes are
// acknowledged after the failback here: their own wait is TestAwaitWritesBack.)
func TestAwaitBatchBack(t *testing.T) {
	sc := DefaultScenario()
	sc.Budgets.BatchOutage = 10 * time.Minute
	sc.Workload.ProbeEvery = time.Minute
	var logged []string
	logf := func(f string, a ...any) { logged = append(logged, f) }
	failedBack := func() (*history.Recorder, *clock.Clock) {
		clk := clock.New(5000) // the budget is 120 ms of wall time
		rec := history.NewRecorder(clk)
		rec.Event(history.EvFailbackStart, nil)
		rec.Event(history.EvFailbackDone, nil)
		ackWrite(rec, "je-1")
		return rec, clk
	}

	// A probe succeeds after the wait begins: the phase ends with it.
	rec, clk := failedBack()
	go func() {
		time.Sleep(50 * time.Millisecond)
		rec.Append(history.Op{Process: 9, Type: history.Invoke, Kind: history.Batch, Key: "batch-1"})
		rec.Append(history.Op{Process: 9, Type: history.OK, Kind: history.Batch, Key: "batch-1", Status: 200})
	}()
	began := time.Now()
	if err := awaitFailbackDecided(context.Background(), sc, rec, clk, logf); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took >= clk.Wall(sc.Budgets.BatchOutage) {
		t.Errorf("returned after %s, not on the probe's success", took)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "waiting for one") {
		t.Errorf("logged %q, want the wait named", logged)
	}

	// Already back: no wait, nothing logged.
	logged = nil
	if err := awaitFailbackDecided(context.Background(), sc, rec, clk, logf); err != nil || len(logged) != 0 {
		t.Errorf("already back: err %v, logged %q", err, logged)
	}

	// Never back: the wait ends at the limit, not before.
	rec, clk = failedBack()
	rec.Append(history.Op{Process: 9, Type: history.Invoke, Kind: history.Batch, Key: "batch-1"})
	rec.Append(history.Op{Process: 9, Type: history.Fail, Kind: history.Batch, Key: "batch-1", Status: 503})
	start, _ := rec.Ops().FirstEvent(history.EvFailbackStart)
	if err := awaitFailbackDecided(context.Background(), sc, rec, clk, logf); err != nil {
		t.Fatal(err)
	}
	if now, limit := clk.Now(), start.Service+sc.Budgets.BatchOutage+2*sc.Workload.ProbeEvery; now < limit {
		t.Errorf("gave up at service %s, before the limit %s", now, limit)
	}

	// A standby rebuilt long after failback-start moves the end of the
	// failback: a probe that succeeded before it does not count, and the
	// wait runs past the budget from failback-start.
	rec, clk = failedBack()
	rec.Append(history.Op{Process: 9, Type: history.Invoke, Kind: history.Batch, Key: "batch-1"})
	rec.Append(history.Op{Process: 9, Type: history.OK, Kind: history.Batch, Key: "batch-1", Status: 200})
	start, _ = rec.Ops().FirstEvent(history.EvFailbackStart)
	if err := clk.SleepUntil(context.Background(), start.Service+sc.Budgets.BatchOutage+3*sc.Workload.ProbeEvery); err != nil {
		t.Fatal(err)
	}
	rec.Event(history.EvStandbyRebuilt, map[string]any{"region": "b"})
	logged = nil
	go func() {
		time.Sleep(20 * time.Millisecond)
		ackWrite(rec, "je-2")
		rec.Append(history.Op{Process: 9, Type: history.Invoke, Kind: history.Batch, Key: "batch-2"})
		rec.Append(history.Op{Process: 9, Type: history.OK, Kind: history.Batch, Key: "batch-2", Status: 200})
	}()
	if err := awaitFailbackDecided(context.Background(), sc, rec, clk, logf); err != nil {
		t.Fatal(err)
	}
	// Both waits are named: je-1 came before the rebuild too.
	if back, _, over, _ := assertions.BatchBackAfterFailback(rec.Ops()); !back || over.Key != history.EvStandbyRebuilt || len(logged) != 2 {
		t.Errorf("a late standby rebuild: back %v, over %s, logged %q; want back after standby-rebuilt, both waits logged", back, over.Key, logged)
	}
	if back, _, _, _ := assertions.WritesBackAfterFailback(rec.Ops()); !back {
		t.Error("a late standby rebuild: returned before je-2")
	}

	// Cancelled: it returns the context's error.
	rec, clk = failedBack()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := awaitFailbackDecided(ctx, sc, rec, clk, logf); err == nil {
		t.Error("a cancelled wait returned no error")
	}
}

// awaitFailbackDecided also waits for the observation failback-interruption
// needs: a write acknowledged after the failback was over. It ends on one,
// or, with none, once the stretch still open has outlasted the budget by
// two probe intervals (the check then calls it a failure).
func TestAwaitWritesBack(t *testing.T) {
	sc := DefaultScenario()
	sc.Budgets.BatchOutage = 10 * time.Minute
	sc.Budgets.FailbackInterruption = 5 * time.Minute
	sc.Workload.ProbeEvery = time.Minute
	var logged []string
	logf := func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }
	failedBack := func() (*history.Recorder, *clock.Clock) {
		clk := clock.New(5000)
		rec := history.NewRecorder(clk)
		ackWrite(rec, "je-0")
		rec.Event(history.EvFailbackStart, nil)
		rec.Event(history.EvFailbackDone, nil)
		rec.Append(history.Op{Process: 9, Type: history.Invoke, Kind: history.Batch, Key: "batch-1"})
		rec.Append(history.Op{Process: 9, Type: history.OK, Kind: history.Batch, Key: "batch-1", Status: 200})
		return rec, clk
	}

	// A write is acknowledged after the wait begins: the phase ends with it.
	rec, clk := failedBack()
	go func() {
		time.Sleep(30 * time.Millisecond)
		ackWrite(rec, "je-1")
	}()
	if err := awaitFailbackDecided(context.Background(), sc, rec, clk, logf); err != nil {
		t.Fatal(err)
	}
	if back, _, _, _ := assertions.WritesBackAfterFailback(rec.Ops()); !back {
		t.Error("returned before a write was acknowledged")
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "no write has been acknowledged") {
		t.Errorf("logged %q, want the wait for a write named", logged)
	}

	// Never back: the wait ends once the open stretch (from je-0) has
	// outlasted the budget by two probe intervals, not before.
	rec, clk = failedBack()
	open, _ := rec.Ops().FirstEvent(history.EvFailbackStart)
	if err := awaitFailbackDecided(context.Background(), sc, rec, clk, logf); err != nil {
		t.Fatal(err)
	}
	if now, limit := clk.Now(), open.Service+sc.Budgets.FailbackInterruption+2*sc.Workload.ProbeEvery; now < limit-time.Second {
		t.Errorf("gave up at service %s, before the limit %s", now, limit)
	}
	if back, _, _, _ := assertions.WritesBackAfterFailback(rec.Ops()); back {
		t.Error("a write counted as back")
	}
}
