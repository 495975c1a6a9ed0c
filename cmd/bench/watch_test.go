package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// The outside observer starts only on a healthy target, and reports the
// first poll that fails after the target goes down, not before.
func TestWatchDownSeesTheFirstFailure(t *testing.T) {
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	down.Store(true)
	if _, err := watchDown(ctx, srv.URL); err == nil {
		t.Fatal("an observer started on a target that was already down")
	}
	down.Store(false)
	seen, err := watchDown(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	// Healthy for a while: nothing is reported.
	select {
	case w := <-seen:
		t.Fatalf("reported %v while the target was healthy", w)
	case <-time.After(200 * time.Millisecond):
	}
	wentDown := time.Now()
	down.Store(true)
	select {
	case w := <-seen:
		if w.at.Before(wentDown) || w.why != "health HTTP 503" {
			t.Fatalf("reported %v, want the first 503 after %s", w, wentDown)
		}
	case <-ctx.Done():
		t.Fatal("the observer never saw the target fail")
	}
}
