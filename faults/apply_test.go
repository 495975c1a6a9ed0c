package faults_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

// staged is a fault for Apply's tests: it acts on nothing (its targets are
// none, so the guard lets it through), and its injection and its
// observation fail or succeed as told.
type staged struct {
	injectErr, verifyErr error
	injected, recovered  int
}

func (f *staged) Name() string { return "test-staged" }
func (f *staged) Inject(context.Context, topology.Environment) error {
	f.injected++
	return f.injectErr
}
func (f *staged) Recover(context.Context, topology.Environment) error { f.recovered++; return nil }
func (f *staged) Verify(context.Context, topology.Environment) error  { return f.verifyErr }
func (f *staged) Evidence() map[string]any                            { return map[string]any{"looked": "at the wan"} }
func (f *staged) Aim(topology.Environment) ([]topology.Target, error) { return nil, nil }

var stagedDef = faults.Definition{Name: "test-staged", Class: faults.Network}

func injectedEvents(rec *history.Recorder) []history.Op {
	return rec.Ops().Events(history.EvFaultInjected)
}

// A fault observed to take effect is recorded verified, with what the
// checks read (class, region_loss, single_instance), the health before, the
// time the injection took and what Verify saw; Recover records the health
// after.
func TestApplyRecordsAVerifiedFault(t *testing.T) {
	env := fakeEnv(t)
	rec := history.NewRecorder(clock.New(20000))
	f := &staged{}
	params := map[string]string{"link": "wan"}
	a, err := faults.Apply(context.Background(), env, rec, f, stagedDef, params, nil)
	if err != nil || a == nil || !a.Verified || a.VerifyError != "" || f.injected != 1 {
		t.Fatalf("Apply: %+v, %v (injected %d)", a, err, f.injected)
	}
	evs := injectedEvents(rec)
	if len(evs) != 1 {
		t.Fatalf("fault-injected events: %+v", evs)
	}
	v := evs[0].Value
	if v["fault"] != "test-staged" || v["verified"] != true || v["class"] != "network" || v["region_loss"] != false ||
		v["single_instance"] != false || v["healthy_before"] != true || v["params"] == nil {
		t.Errorf("fault-injected: %+v", v)
	}
	if _, ok := v["verify_error"]; ok {
		t.Errorf("a verified fault carries verify_error: %+v", v)
	}
	if _, ok := v["inject_wall_s"].(float64); !ok {
		t.Errorf("no inject_wall_s: %+v", v)
	}
	if ev, _ := v["evidence"].(map[string]any); ev["looked"] != "at the wan" {
		t.Errorf("evidence: %+v", v["evidence"])
	}
	if !evs[0].Wall.Equal(a.Began) {
		t.Errorf("event at %v, injection began %v", evs[0].Wall, a.Began)
	}
	if err := a.Recover(context.Background()); err != nil || f.recovered != 1 {
		t.Fatalf("Recover: %v (recovered %d)", err, f.recovered)
	}
	recs := rec.Ops().Events(history.EvFaultRecovered)
	if len(recs) != 1 || recs[0].Value["fault"] != "test-staged" || recs[0].Value["healthy_after"] != true {
		t.Errorf("fault-recovered: %+v", recs)
	}
}

// A fault not observed to take effect is recorded unverified with what was
// looked for; so is one that cannot observe itself at all.
func TestApplyRecordsAFailedVerification(t *testing.T) {
	env := fakeEnv(t)
	rec := history.NewRecorder(clock.New(20000))
	f := &staged{verifyErr: errors.New("no request through link wan was slowed")}
	var logged []string
	logf := func(format string, args ...any) { logged = append(logged, format) }
	a, err := faults.Apply(context.Background(), env, rec, f, stagedDef, nil, logf)
	if err != nil || a == nil || a.Verified || a.VerifyError != "no request through link wan was slowed" {
		t.Fatalf("Apply: %+v, %v", a, err)
	}
	v := injectedEvents(rec)[0].Value
	if v["verified"] != false || v["verify_error"] != "no request through link wan was slowed" || v["evidence"] == nil {
		t.Errorf("fault-injected: %+v", v)
	}
	if !strings.Contains(strings.Join(logged, "\n"), "not observed") {
		t.Errorf("the failed observation was not logged: %q", logged)
	}

	noop, def, err := faults.New("noop", nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err = faults.Apply(context.Background(), env, rec, noop, def, nil, nil)
	if err != nil || a.Verified || !strings.Contains(a.VerifyError, "no way to observe") {
		t.Errorf("noop: %+v, %v", a, err)
	}
	if v := injectedEvents(rec)[1].Value; v["verified"] != false || v["class"] != "none" {
		t.Errorf("noop fault-injected: %+v", v)
	}
}

// An injection that fails may have done part of its work: it is recorded
// unverified and its handle recovers it.
func TestApplyRecordsAFailedInjection(t *testing.T) {
	env := fakeEnv(t)
	rec := history.NewRecorder(clock.New(20000))
	f := &staged{injectErr: errors.New("the proxy did not answer")}
	a, err := faults.Apply(context.Background(), env, rec, f, stagedDef, nil, nil)
	if err == nil || a == nil || !strings.Contains(err.Error(), "inject test-staged: the proxy did not answer") {
		t.Fatalf("Apply: %+v, %v", a, err)
	}
	v := injectedEvents(rec)[0].Value
	if v["verified"] != false || v["verify_error"] != "inject failed: the proxy did not answer" {
		t.Errorf("fault-injected: %+v", v)
	}
	if err := a.Recover(context.Background()); err != nil || f.recovered != 1 {
		t.Errorf("Recover: %v (recovered %d)", err, f.recovered)
	}
}

// A fault the guard refuses, or whose target the environment lacks, did
// nothing: nothing is recorded and there is nothing to recover.
func TestApplyRefusedRecordsNothing(t *testing.T) {
	type plain struct{ topology.Environment }
	base := fakeEnv(t)
	rec := history.NewRecorder(clock.New(20000))
	f := &staged{}
	a, err := faults.Apply(context.Background(), plain{base}, rec, f, stagedDef, nil, nil)
	if a != nil || !faults.IsRefused(err) || f.injected != 0 {
		t.Fatalf("Apply on an environment that keeps no record: %+v, %v (injected %d)", a, err, f.injected)
	}
	crash, def, err := faults.New("instance-crash", map[string]string{"region": "a", "instance": "99"})
	if err != nil {
		t.Fatal(err)
	}
	var fe *faults.Error
	if a, err = faults.Apply(context.Background(), base, rec, crash, def, nil, nil); a != nil || !errors.As(err, &fe) {
		t.Errorf("instance 99 of 5: %+v, %v, want a faults.Error", a, err)
	}
	if evs := injectedEvents(rec); len(evs) != 0 {
		t.Errorf("a fault that did nothing was recorded: %+v", evs)
	}
}
