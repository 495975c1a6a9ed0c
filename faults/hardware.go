package faults

import (
	"context"
	"errors"
	"fmt"

	"github.com/bcdr-harness/bcdr/topology"
)

func init() {
	Register(Definition{Name: "instance-crash", Class: Hardware,
		Help:   "crash one AOS instance (SIGKILL or container kill); restarted on recovery",
		Params: []Param{{"region", "a", "region of the instance"}, {"instance", "0", "instance index in the region"}},
		Build: func(p Params) (Fault, error) {
			r, err := p.Region("region")
			if err != nil {
				return nil, err
			}
			i, err := p.Int("instance", 0, 999)
			if err != nil {
				return nil, err
			}
			return &instances{name: "instance-crash", region: r, pick: func(in topology.Instance) bool { return in.Index() == i },
				target: fmt.Sprintf("instance %d", i)}, nil
		}})
	Register(Definition{Name: "fault-domain-loss", Class: Hardware,
		Help:   "crash every AOS instance of one fault domain (a rack's power); restarted on recovery",
		Params: []Param{{"region", "a", "region"}, {"domain", "0", "fault domain (0-4)"}},
		Build: func(p Params) (Fault, error) {
			r, err := p.Region("region")
			if err != nil {
				return nil, err
			}
			d, err := p.Int("domain", 0, 4)
			if err != nil {
				return nil, err
			}
			return &instances{name: "fault-domain-loss", region: r, pick: func(in topology.Instance) bool { return in.FaultDomain() == d },
				target: fmt.Sprintf("fault domain %d", d)}, nil
		}})
}

// instances crashes the instances of a region that pick selects.
type instances struct {
	name   string
	region topology.RegionName
	pick   func(topology.Instance) bool
	target string
	hit    []topology.Instance
}

func (f *instances) Name() string { return f.name }

func (f *instances) targets(env topology.Environment) []topology.Instance {
	var out []topology.Instance
	for _, in := range env.Region(f.region).Instances() {
		if f.pick(in) {
			out = append(out, in)
		}
	}
	return out
}

// CheckTarget fails when no instance matches.
func (f *instances) CheckTarget(env topology.Environment) error {
	if len(f.targets(env)) == 0 {
		return &Error{fmt.Sprintf("fault %s: region %s has no %s", f.name, f.region, f.target)}
	}
	return nil
}

func (f *instances) Inject(ctx context.Context, env topology.Environment) error {
	f.hit = f.targets(env)
	var errs []error
	for _, in := range f.hit {
		errs = append(errs, in.Kill(ctx))
	}
	return errors.Join(errs...)
}

func (f *instances) Recover(ctx context.Context, env topology.Environment) error {
	var errs []error
	for _, in := range f.hit {
		errs = append(errs, in.Restart(ctx))
	}
	return errors.Join(errs...)
}

// Verify checks that every targeted process is gone.
func (f *instances) Verify(ctx context.Context, env topology.Environment) error {
	for _, in := range f.hit {
		if in.Alive() {
			return fmt.Errorf("%s still alive after %s", in.ID(), f.name)
		}
	}
	if len(f.hit) == 0 {
		return fmt.Errorf("%s hit no instance", f.name)
	}
	return nil
}
