package faults

import (
	"context"
	"errors"
	"fmt"

	"github.com/bcdr-harness/bcdr/topology"
)

func init() {
	Register(Definition{Name: "region-outage", Class: Region, RegionLoss: true,
		Help:   "every process of a region down at once and its links cut (a region-wide disaster); powered back on at recovery",
		Params: []Param{{"region", "a", "region to lose"}},
		Build: func(p Params) (Fault, error) {
			r, err := p.Region("region")
			if err != nil {
				return nil, err
			}
			return &regionOutage{region: r}, nil
		}})
}

// regionLinks are the links that end in a region.
func regionLinks(r topology.RegionName) []string {
	return []string{topology.LinkName(topology.LinkClient, r), topology.LinkName(topology.LinkAOSSQL, r),
		topology.LinkName(topology.LinkAOSBlob, r), topology.LinkWAN}
}

type regionOutage struct{ region topology.RegionName }

func (f *regionOutage) Name() string { return "region-outage" }

func (f *regionOutage) Inject(ctx context.Context, env topology.Environment) error {
	var errs []error
	for _, n := range regionLinks(f.region) {
		if l, ok := env.Links().Get(n); ok {
			errs = append(errs, l.Cut())
		}
	}
	errs = append(errs, env.Region(f.region).Stop(ctx))
	return errors.Join(errs...)
}

func (f *regionOutage) Recover(ctx context.Context, env topology.Environment) error {
	for _, n := range regionLinks(f.region) {
		if l, ok := env.Links().Get(n); ok {
			if err := l.Restore(); err != nil {
				return err
			}
		}
	}
	return env.Region(f.region).Start(ctx)
}

func (f *regionOutage) Verify(ctx context.Context, env topology.Environment) error {
	if env.Region(f.region).Up() {
		return fmt.Errorf("region %s still up", f.region)
	}
	for _, in := range env.Region(f.region).Instances() {
		if in.Alive() {
			return fmt.Errorf("region %s: %s still alive", f.region, in.ID())
		}
	}
	return nil
}
