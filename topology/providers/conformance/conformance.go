// Package conformance holds what a test needs to put a fault through its
// whole life on a running environment of any provider: a workload that
// writes through the front door, the fault's lifecycle (inject, observe,
// recover), and the check that the environment is whole again. The
// conformance test of package topology/providers runs it on every
// provider; the fault tests of package faults on the embedded one.
package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/aos"
)

// Lifecycle builds fault name with params, checks its target, injects
// it, observes its effect through the environment, holds it (hold, or 0:
// the span of a fault with a time of its own), recovers it and checks the
// environment whole again (RequireHealthy). It returns the evidence the
// fault recorded.
func Lifecycle(t testing.TB, env topology.Environment, name string, params map[string]string, hold time.Duration) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f, def, err := faults.New(name, params)
	if err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	if def.Class == "" || def.Help == "" {
		t.Fatalf("%s has no class or help", name)
	}
	if tg, ok := f.(faults.Targeted); ok {
		if err := tg.CheckTarget(env); err != nil {
			t.Fatalf("%s %v target: %v", name, params, err)
		}
	}
	if err := f.Inject(ctx, env); err != nil {
		_ = f.Recover(ctx, env)
		t.Fatalf("inject %s %v: %v", name, params, err)
	}
	v, ok := f.(faults.Verifier)
	if !ok {
		_ = f.Recover(ctx, env)
		t.Fatalf("%s cannot observe its effect", name)
	}
	verr := v.Verify(ctx, env)
	var ev map[string]any
	if e, ok := f.(faults.Evidencer); ok {
		ev = e.Evidence()
	}
	if s, ok := f.(faults.Spanner); ok && hold == 0 {
		// A fault with a time of its own runs it out before recovery.
		hold = env.Clock().Wall(s.Span())
	}
	select {
	case <-time.After(hold):
	case <-ctx.Done():
	}
	if err := f.Recover(ctx, env); err != nil {
		t.Fatalf("recover %s %v: %v", name, params, err)
	}
	if verr != nil {
		t.Errorf("%s %v was not observed to take effect: %v (evidence %v)", name, params, verr, ev)
	}
	t.Logf("%s %v: observed: %v", name, params, ev)
	RequireHealthy(t, env)
	return ev
}

var writes atomic.Int64

// post sends body to path through the front door and returns err unless
// the answer is 2xx.
func post(env topology.Environment, path string, body any) error {
	b, _ := json.Marshal(body)
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Post(env.Router().URL()+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: HTTP %d", path, resp.StatusCode)
	}
	return nil
}

// Write posts one balanced journal entry through the front door and
// returns its key.
func Write(env topology.Environment) (string, error) {
	key := fmt.Sprintf("conformance-%d-%d", time.Now().UnixNano(), writes.Add(1))
	return key, post(env, "/journal", map[string]any{"key": key,
		"lines": []map[string]any{{"account": "1100-cash", "debit": 100}, {"account": "4000-revenue", "credit": 100}}})
}

// Invoice posts one invoice with its document through the front door and
// returns its key.
func Invoice(env topology.Environment) (string, error) {
	key := fmt.Sprintf("conformance-inv-%d-%d", time.Now().UnixNano(), writes.Add(1))
	return key, post(env, "/invoices", aos.InvoiceRequest{Key: key, Amount: 1234, Document: []byte("conformance document " + key)})
}

// Retry calls f until it succeeds or ctx ends.
func Retry(ctx context.Context, f func() (string, error)) (string, error) {
	for {
		k, err := f()
		if err == nil || ctx.Err() != nil {
			return k, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Writer posts journal entries until the returned stop is called, so that
// faults which need traffic (a full log share, a stalled replication) see
// commits.
func Writer(env topology.Environment) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			_, _ = Write(env)
			select {
			case <-done:
				return
			case <-time.After(30 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// RequireHealthy fails unless the environment is whole: both regions
// answer health probes the way clients reach them, a write succeeds, log
// shipping catches up, and no link is left cut.
func RequireHealthy(t testing.TB, env topology.Environment) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		url := topology.ProbeEndpoint(env.Region(r)) + "/health"
		c := &http.Client{Timeout: 2 * time.Second}
		for {
			resp, err := c.Get(url)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
				err = errors.New(resp.Status)
			}
			if ctx.Err() != nil {
				t.Fatalf("region %s not healthy: %v", r, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if _, err := Retry(ctx, func() (string, error) { return Write(env) }); err != nil {
		t.Fatalf("no write succeeds: %v", err)
	}
	if err := topology.InitialSync(ctx, env.SQL()); err != nil {
		t.Fatalf("log shipping does not catch up: %v", err)
	}
	for _, n := range env.Links().Names() {
		if l, ok := env.Links().Get(n); ok {
			if c, ok := l.(interface{ IsCut() bool }); ok && c.IsCut() {
				t.Fatalf("link %s still cut", n)
			}
		}
	}
}
