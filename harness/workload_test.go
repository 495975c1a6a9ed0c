package harness

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

// workloadEvent waits (on the recorder, not a timer) for the workload's
// sizing record, until ctx ends.
func workloadEvent(ctx context.Context, t *testing.T, rec *history.Recorder) history.Op {
	t.Helper()
	for {
		if ev, ok := rec.Ops().FirstEvent(history.EvWorkload); ok {
			return ev
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no workload event: %v", ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// A workload sized from latency measures its first WarmupWrites writes
// with the longest attempt the retry budget allows, then records the
// attempt it sized from them; fast answers keep the floor.
func TestWorkloadSizesItsAttemptFromTheWarmup(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer srv.Close()
	clk := clock.New(50) // a 2-minute retry budget is 2.4 s wall
	rec := history.NewRecorder(clk)
	floor := 600 * time.Millisecond
	wl := NewWorkload(WorkloadConfig{Clients: 4, Rate: 2000, InvoiceShare: 0.3}, srv.URL, rec, clk, 1, 2*time.Minute,
		topology.Attempt{Floor: floor, FromLatency: true})
	if _, ok := rec.Ops().FirstEvent(history.EvWorkload); ok {
		t.Fatal("the attempt was recorded before anything was measured")
	}
	if got := time.Duration(wl.attempt.Load()); got != 1200*time.Millisecond {
		t.Fatalf("warm-up attempt %s, want half the retry budget (1.2s)", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wctx, stop := context.WithCancel(ctx)
	wl.Run(wctx)
	ev := workloadEvent(ctx, t, rec)
	stop()
	wl.Wait()
	if ev.Value["sized_from"] != "latency" || ev.Value["warmup_writes"] != WarmupWrites || ev.Value["attempt_ms"] != 600.0 {
		t.Fatalf("workload event %v: want sized from %d writes' latency, attempt 600 ms (the floor)", ev.Value, WarmupWrites)
	}
	if p99, _ := ev.Value["warmup_p99_ms"].(float64); p99 <= 0 || p99 > ev.Value["warmup_max_ms"].(float64) {
		t.Fatalf("warm-up p99 %v against max %v", ev.Value["warmup_p99_ms"], ev.Value["warmup_max_ms"])
	}
	if got := time.Duration(wl.attempt.Load()); got != floor {
		t.Fatalf("attempt after the warm-up %s, want %s", got, floor)
	}
	if n := len(rec.Ops().Events(history.EvWorkload)); n != 1 {
		t.Fatalf("%d workload events, want 1", n)
	}
}

// Without sizing from latency the floor is recorded at once; a warm-up cut
// short by the end of the steady state sizes from what it has.
func TestWorkloadFloorAndEarlyEnd(t *testing.T) {
	clk := clock.New(100)
	rec := history.NewRecorder(clk)
	NewWorkload(WorkloadConfig{Clients: 1, Rate: 1}, "http://127.0.0.1:1", rec, clk, 1, 2*time.Minute, topology.Attempt{Floor: 600 * time.Millisecond})
	ev, ok := rec.Ops().FirstEvent(history.EvWorkload)
	if !ok || ev.Value["attempt_ms"] != 600.0 || ev.Value["sized_from"] != "floor" {
		t.Fatalf("floor workload event %v (recorded %t)", ev.Value, ok)
	}
	rec = history.NewRecorder(clk)
	wl := NewWorkload(WorkloadConfig{Clients: 1, Rate: 1}, "http://127.0.0.1:1", rec, clk, 1, 2*time.Minute, topology.Attempt{Floor: 600 * time.Millisecond, FromLatency: true})
	wl.noteWrite(100*time.Millisecond, true)
	wl.EndWarmup()
	wl.EndWarmup()
	evs := rec.Ops().Events(history.EvWorkload)
	if len(evs) != 1 || evs[0].Value["warmup_writes"] != 1 || evs[0].Value["warmup_end"] != "steady state ended" || evs[0].Value["attempt_ms"] != 600.0 {
		t.Fatalf("early end: %v", evs)
	}
}

// An unpaced workload is not held to its rate: at one write a second
// offered, its clients still send each write as soon as the last one was
// answered (the bench measures the path's capacity so). Paced, the same
// workload sends a write per token at most.
func TestUnpacedWorkloadIgnoresTheRate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer srv.Close()
	clk := clock.New(100)
	for _, unpaced := range []bool{true, false} {
		rec := history.NewRecorder(clk)
		acked := make(chan struct{}, 1<<16)
		rec.OnAppend(func(op history.Op) {
			if op.Type == history.OK && op.Kind.IsWrite() {
				acked <- struct{}{}
			}
		})
		wl := NewWorkload(WorkloadConfig{Clients: 4, Rate: 1, InvoiceShare: 0.3}, srv.URL, rec, clk, 1, 2*time.Minute,
			topology.Attempt{Floor: 600 * time.Millisecond})
		ctx, stop := context.WithCancel(context.Background())
		start := time.Now()
		if unpaced {
			wl.RunUnpaced(ctx)
		} else {
			wl.Run(ctx)
		}
		// 200 answers: 200 s at the offered rate. Paced, 2 s shows it.
		limit := 20 * time.Second
		if !unpaced {
			limit = 2 * time.Second
		}
		n, deadline := 0, time.After(limit)
	wait:
		for n < 200 {
			select {
			case <-acked:
				n++
			case <-deadline:
				break wait
			}
		}
		stop()
		wl.Wait()
		// Paced, at most one token a second of wall time was offered.
		tokens := int(time.Since(start)/time.Second) + 1
		switch {
		case unpaced && n < 200:
			t.Errorf("unpaced: %d writes answered in %s, want 200 without waiting for the rate", n, time.Since(start))
		case !unpaced && n > tokens:
			t.Errorf("paced at 1/s: %d writes answered in %s, want at most %d", n, time.Since(start), tokens)
		}
		for _, c := range rec.Ops().Completions() {
			if c.Invoke.Kind.IsWrite() && c.Result.Type != history.OK && c.Result.Error != "" && !strings.Contains(c.Result.Error, "context canceled") && !strings.Contains(c.Result.Error, "the workload stopped first") {
				t.Errorf("a write failed: %+v", c.Result)
			}
		}
	}
}
