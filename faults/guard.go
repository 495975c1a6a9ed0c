package faults

import (
	"context"
	"errors"
	"fmt"

	"github.com/bcdr-harness/bcdr/topology"
)

// The blast-radius guard: a fault acts only on what its run created. Every
// fault names the concrete things it will act on (Aimer: the processes,
// containers and proxies behind the instances, region parts and links it
// picks), and Guard asks the environment (topology.Owner) about each one
// before anything is done; Strike is Guard then Inject. A target the run did
// not create (a pid it did not start, a container without its run label, a
// proxy it did not register) is refused with a RefusedError naming it.

// Aimer is a fault that names the concrete targets it would act on in env
// now.
type Aimer interface {
	Aim(env topology.Environment) ([]topology.Target, error)
}

// RefusedError is a fault the guard refused: nothing was done.
type RefusedError struct {
	Fault string
	Err   error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("fault %s refused, nothing was done: %v", e.Fault, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Guard checks that every target of f in env was created by env's run.
func Guard(ctx context.Context, env topology.Environment, f Fault) error {
	refuse := func(format string, args ...any) error {
		return &RefusedError{Fault: f.Name(), Err: fmt.Errorf(format, args...)}
	}
	owner, ok := env.(topology.Owner)
	if !ok {
		return refuse("the environment (%T) does not tell what its run created, so no target can be shown to be its own", env)
	}
	a, ok := f.(Aimer)
	if !ok {
		return refuse("the fault does not name the targets it acts on")
	}
	targets, err := a.Aim(env)
	if err != nil {
		return &RefusedError{Fault: f.Name(), Err: err}
	}
	for _, t := range targets {
		if err := owner.Owns(ctx, t); err != nil {
			return &RefusedError{Fault: f.Name(), Err: err}
		}
	}
	return nil
}

// Strike guards the fault, then injects it.
func Strike(ctx context.Context, env topology.Environment, f Fault) error {
	if err := Guard(ctx, env, f); err != nil {
		return err
	}
	return f.Inject(ctx, env)
}

// IsRefused tells whether err is (or wraps) a refusal of the guard.
func IsRefused(err error) bool {
	var re *RefusedError
	return errors.As(err, &re)
}

// targetsOf asks a part of the environment for its targets.
func targetsOf(part any, what string) ([]topology.Target, error) {
	t, ok := part.(topology.Targeter)
	if !ok {
		return nil, fmt.Errorf("%s (%T) does not name the process, container or proxy it is, so it cannot be shown to be this run's", what, part)
	}
	return t.Targets(), nil
}

// linkTargets are the proxies of a named link.
func linkTargets(env topology.Environment, link string) ([]topology.Target, error) {
	l, ok := env.Links().Get(link)
	if !ok {
		return nil, fmt.Errorf("the environment has no link %s", link)
	}
	return targetsOf(l, "link "+link)
}

// partTargets are what a region's part runs as.
func partTargets(env topology.Environment, r topology.RegionName, part string) ([]topology.Target, error) {
	reg := env.Region(r)
	if reg == nil {
		return nil, fmt.Errorf("the environment has no region %s", r)
	}
	pt, ok := reg.(topology.PartTargeter)
	if !ok {
		return nil, fmt.Errorf("region %s (%T) does not name what its %s runs as, so it cannot be shown to be this run's", r, reg, part)
	}
	return pt.PartTargets(part), nil
}

func (f *instances) Aim(env topology.Environment) ([]topology.Target, error) {
	var out []topology.Target
	for _, in := range f.targets(env) {
		ts, err := targetsOf(in, "instance "+in.ID())
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
	}
	return out, nil
}

func (f *sqlCrash) Aim(env topology.Environment) ([]topology.Target, error) {
	return partTargets(env, f.region, topology.PartSQL)
}

func (f *logShareFull) Aim(env topology.Environment) ([]topology.Target, error) {
	return partTargets(env, f.region, topology.PartSQL)
}

func (f *blobCrash) Aim(env topology.Environment) ([]topology.Target, error) {
	return partTargets(env, f.region, topology.PartBlob)
}

func (f *linkFault) Aim(env topology.Environment) ([]topology.Target, error) {
	return linkTargets(env, f.link)
}

func (f *regionOutage) Aim(env topology.Environment) ([]topology.Target, error) {
	out, err := partTargets(env, f.region, topology.PartAll)
	if err != nil {
		return nil, err
	}
	for _, n := range regionLinks(f.region) {
		if _, ok := env.Links().Get(n); !ok {
			continue // Inject skips it too
		}
		ts, err := linkTargets(env, n)
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
	}
	return out, nil
}

func (f *isolation) Aim(env topology.Environment) ([]topology.Target, error) {
	return linkTargets(env, f.link())
}

func (f *flapping) Aim(env topology.Environment) ([]topology.Target, error) {
	return f.outage.Aim(env)
}

func (f *stallThenLoss) Aim(env topology.Environment) ([]topology.Target, error) {
	out, err := f.outage.Aim(env)
	if err != nil {
		return nil, err
	}
	wan, err := linkTargets(env, topology.LinkWAN)
	return append(out, wan...), err
}

func (f *failbackFault) Aim(env topology.Environment) ([]topology.Target, error) {
	a, ok := f.Fault.(Aimer)
	if !ok {
		return nil, fmt.Errorf("the fault does not name the targets it acts on")
	}
	return a.Aim(env)
}

func (noop) Aim(topology.Environment) ([]topology.Target, error) { return nil, nil }
