package topology

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// This file holds what more than one provider does the same way: look a
// region up, list its instances, hold its parts, keep its up flag, wait
// for it to be healthy.

// RegionOf returns region name of a provider's regions, or a nil Region
// (not a typed nil) when there is none.
func RegionOf[R Region](regions map[RegionName]R, name RegionName) Region {
	r, ok := regions[name]
	if !ok {
		return nil
	}
	return r
}

// InstanceList returns a provider's instances as Instances.
func InstanceList[I Instance](in []I) []Instance {
	out := make([]Instance, len(in))
	for i, x := range in {
		out[i] = x
	}
	return out
}

// RegionCore is what a region of a provider that runs its own load
// balancer (local, containers) is made of: its name, its AOS instances
// (I), its load balancer (B), the address of its end of the client link
// and its up flag. Embed it for Name, Instances, Endpoint, ClientEndpoint,
// Up and SetUp.
type RegionCore[I Instance, B interface{ Addr() string }] struct {
	RegionName RegionName
	AOS        []I
	LB         B
	// ClientAddr is the region's end of its client link (the front door's path).
	ClientAddr string
	UpFlag
}

// Name is the region's name.
func (c *RegionCore[I, B]) Name() RegionName { return c.RegionName }

// Instances lists the AOS instances.
func (c *RegionCore[I, B]) Instances() []Instance { return InstanceList(c.AOS) }

// Endpoint is the load balancer's URL.
func (c *RegionCore[I, B]) Endpoint() string { return "http://" + c.LB.Addr() }

// ClientEndpoint is the region as the front door reaches it, through the
// client link (ClientEndpointer).
func (c *RegionCore[I, B]) ClientEndpoint() string { return "http://" + c.ClientAddr }

// UpFlag is a region's up flag (Region.Up); embed it.
type UpFlag struct {
	mu sync.Mutex
	up bool
}

// Up tells whether the region runs.
func (f *UpFlag) Up() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.up }

// SetUp sets the flag.
func (f *UpFlag) SetUp(up bool) { f.mu.Lock(); f.up = up; f.mu.Unlock() }

// HealthProber is a region's load balancer as WaitHealthy sees it
// (*lb.Balancer).
type HealthProber interface {
	ProbeNow(ctx context.Context)
	Healthy() []string
}

// WaitHealthy probes a region's load balancer every poll until every live
// instance passes, for at most within. diagnose, when not nil, says why
// not in the error.
func WaitHealthy(ctx context.Context, region RegionName, lb HealthProber, instances []Instance, within, poll time.Duration, diagnose func(context.Context) string) error {
	deadline := time.Now().Add(within)
	for {
		lb.ProbeNow(ctx)
		want := 0
		for _, in := range instances {
			if in.Alive() {
				want++
			}
		}
		got := len(lb.Healthy())
		if got >= want {
			return nil
		}
		if time.Now().After(deadline) {
			why := ""
			if diagnose != nil {
				why = " (" + diagnose(ctx) + ")"
			}
			return fmt.Errorf("region %s: %d of %d instances healthy after %s%s", region, got, want, within, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}
