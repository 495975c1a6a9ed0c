package faults

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

// Applied is a fault that Apply struck (or tried to): what was recorded of
// it, and the handle that recovers it.
type Applied struct {
	Name   string
	Params map[string]string
	Def    Definition
	Fault  Fault
	// Began is the wall time the injection began: the fault-injected
	// event's instant (the RPO and RTO are measured from the first blow,
	// not the last).
	Began time.Time
	// Verified tells whether the fault was observed to take effect;
	// VerifyError says why not.
	Verified    bool
	VerifyError string

	env  topology.Environment
	rec  *history.Recorder
	logf func(string, ...any)
}

// RecoverHealthWait bounds the health probe of the active region after a
// recovery.
const RecoverHealthWait = 10 * time.Second

// Apply is the one way a fault strikes, in a drill and in a bcdr up session
// alike. It checks the fault's target against env (Targeted), lets a fault
// that loses a region record its moments of loss (RecordLoss), probes the
// active region's health, guards the blast radius and injects (Strike),
// observes whether the fault took effect (Verifier, Evidencer), and records
// the fault-injected event, stamped with the moment the injection began:
// fault, params, verified (with verify_error when not), healthy_before
// (with health_before_error), inject_wall_s, evidence, and what the checks
// read of the catalogue (Definition.Injected).
//
// A fault the provider does not support (CheckProvider), whose target is
// missing or that the guard refused did nothing:
// nothing is recorded, the Applied is nil. A failed injection is recorded
// as unverified and returned with its Applied and the error, since part of
// it may have been done: Recover undoes it. logf may be nil.
func Apply(ctx context.Context, env topology.Environment, rec *history.Recorder, f Fault, def Definition, params map[string]string, logf func(string, ...any)) (*Applied, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := CheckProvider(def, env.Spec().Provider); err != nil {
		return nil, err
	}
	if t, ok := f.(Targeted); ok {
		if err := t.CheckTarget(env); err != nil {
			return nil, err
		}
	}
	a := &Applied{Name: def.Name, Params: params, Def: def, Fault: f, env: env, rec: rec, logf: logf}
	healthyBefore := activeHealthy(ctx, env, 0)
	// The moment of loss, as the fault knows it (a composite fault loses
	// the region after its own first steps).
	RecordLoss(f, rec, logf)
	logf("inject %s %v", a.Name, params)
	// The fault begins when its injection begins: killing a region's
	// containers can take seconds.
	a.Began = time.Now()
	injected := func(v map[string]any) {
		rec.Append(history.Op{Process: -1, Type: history.Info, Kind: history.Event, Key: history.EvFaultInjected, Wall: a.Began, Value: def.Injected(v)})
	}
	if err := Strike(ctx, env, f); IsRefused(err) {
		return nil, err
	} else if err != nil {
		a.VerifyError = "inject failed: " + err.Error()
		injected(map[string]any{"fault": a.Name, "params": params, "verified": false, "verify_error": a.VerifyError})
		return a, fmt.Errorf("inject %s: %w", a.Name, err)
	}
	ev := map[string]any{"fault": a.Name, "params": params, "healthy_before": healthyBefore == nil,
		"inject_wall_s": time.Since(a.Began).Seconds()}
	if healthyBefore != nil {
		ev["health_before_error"] = healthyBefore.Error()
	}
	a.Verified = true
	if v, ok := f.(Verifier); ok {
		if err := v.Verify(ctx, env); err != nil {
			a.Verified, a.VerifyError = false, err.Error()
			logf("fault %s was not observed to take effect: %v", a.Name, err)
		}
	} else {
		// A fault never observed is not confirmed.
		a.Verified, a.VerifyError = false, "the fault has no way to observe its effect"
	}
	ev["verified"] = a.Verified
	if !a.Verified {
		ev["verify_error"] = a.VerifyError
	}
	if e, ok := f.(Evidencer); ok {
		ev["evidence"] = e.Evidence()
	}
	injected(ev)
	return a, nil
}

// Recover undoes the fault and records fault-recovered: with the error
// when the recovery failed, else with whether the active region answers
// healthy within RecoverHealthWait (healthy_after, health_after_error).
func (a *Applied) Recover(ctx context.Context) error {
	a.logf("recover %s", a.Name)
	if err := a.Fault.Recover(ctx, a.env); err != nil {
		a.rec.Event(history.EvFaultRecovered, map[string]any{"fault": a.Name, "error": err.Error()})
		return fmt.Errorf("recover %s: %w", a.Name, err)
	}
	rv := map[string]any{"fault": a.Name}
	if err := activeHealthy(ctx, a.env, RecoverHealthWait); err != nil {
		rv["healthy_after"], rv["health_after_error"] = false, err.Error()
	} else {
		rv["healthy_after"] = true
	}
	a.rec.Event(history.EvFaultRecovered, rv)
	return nil
}

// activeHealthy probes the active region's load balancer until it answers
// healthy or within is over (0 = one probe).
func activeHealthy(ctx context.Context, env topology.Environment, within time.Duration) error {
	r := env.Router().Active()
	reg := env.Region(r)
	if reg == nil {
		return fmt.Errorf("the environment has no region %s", r)
	}
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.Endpoint()+"/health", nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("region %s: health HTTP %d", r, resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
