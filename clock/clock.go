// Package clock converts between wall time and service time.
//
// Real disaster-recovery objectives are measured in minutes and hours; a drill
// must finish in seconds. One Clock with a scale (service time = wall time x
// scale) converts every interval and budget in the harness, so a 15-minute RPO
// at scale 200 is 4.5 wall seconds, and every report shows both.
//
// What may be compressed is policy: schedules, the decision window, the
// phases. What may not is machine time: a promote or a final log backup costs
// the same wall seconds at any scale, and multiplied by 200 those seconds
// would look like broken promises. So the scale can change while the clock
// runs: Hold puts it at another scale (1 for the runbook's machine steps:
// a wall second is a service second) until released. Service time stays
// continuous; every instant and interval is still converted by this one
// clock, and the segments it ran at are kept with the history so a saved run
// converts the same way.
package clock

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Segment is a stretch of the clock at one scale, from Wall (service time
// Service) until the next segment.
type Segment struct {
	Wall    time.Time     `json:"wall"`
	Service time.Duration `json:"service_ns"`
	Scale   float64       `json:"scale"`
}

// Clock maps wall time onto service time, starting at Epoch with the base
// Scale; Hold changes the scale for a while.
type Clock struct {
	// Scale is the base scale: service seconds per wall second; 1 means
	// real time.
	Scale float64
	// Epoch is the wall instant that is service time zero.
	Epoch time.Time

	mu      sync.Mutex
	segs    []Segment // scale changes after Epoch, in wall order
	holds   []float64 // the scales of the open holds, newest last
	changed chan struct{}
}

// New returns a clock with the given scale, starting now.
func New(scale float64) *Clock {
	if scale <= 0 {
		scale = 1
	}
	return &Clock{Scale: scale, Epoch: time.Now()}
}

// Restore returns the clock a history was recorded with: its base scale,
// epoch and the segments it ran at.
func Restore(scale float64, epoch time.Time, segs []Segment) *Clock {
	if scale <= 0 {
		scale = 1
	}
	return &Clock{Scale: scale, Epoch: epoch, segs: append([]Segment(nil), segs...)}
}

// Segments returns the scale changes so far (empty when the clock always
// ran at its base scale).
func (c *Clock) Segments() []Segment {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Segment(nil), c.segs...)
}

// Current is the scale the clock runs at now.
func (c *Clock) Current() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.currentLocked()
}

func (c *Clock) currentLocked() float64 {
	if n := len(c.segs); n > 0 {
		return c.segs[n-1].Scale
	}
	return c.base()
}

func (c *Clock) base() float64 {
	if c.Scale <= 0 {
		return 1
	}
	return c.Scale
}

// Hold runs the clock at scale until the returned function is called (it
// may be called more than once). Holds nest: the newest open hold sets the
// scale, and the base scale returns when none is left open. Sleeps in
// progress follow the change.
func (c *Clock) Hold(scale float64) (release func()) {
	if scale <= 0 {
		scale = 1
	}
	c.mu.Lock()
	c.holds = append(c.holds, scale)
	c.setLocked(time.Now(), scale)
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			for i := len(c.holds) - 1; i >= 0; i-- {
				if c.holds[i] == scale {
					c.holds = append(c.holds[:i], c.holds[i+1:]...)
					break
				}
			}
			next := c.base()
			if n := len(c.holds); n > 0 {
				next = c.holds[n-1]
			}
			c.setLocked(time.Now(), next)
		})
	}
}

func (c *Clock) setLocked(now time.Time, scale float64) {
	if scale == c.currentLocked() {
		return
	}
	seg := Segment{Wall: now, Service: c.atLocked(now), Scale: scale}
	if n := len(c.segs); n > 0 && !c.segs[n-1].Wall.Before(now) {
		c.segs[n-1] = seg // two changes at one instant: the last one counts
	} else {
		c.segs = append(c.segs, seg)
	}
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// Wall converts a service-time duration into the wall duration it takes at
// the current scale.
func (c *Clock) Wall(service time.Duration) time.Duration {
	return time.Duration(float64(service) / c.Current())
}

// Service converts a wall duration into service time at the base scale.
// An interval between two recorded instants is Between, which follows every
// change of scale.
func (c *Clock) Service(wall time.Duration) time.Duration {
	return time.Duration(float64(wall) * c.base())
}

// Now is the service time elapsed since the epoch.
func (c *Clock) Now() time.Duration { return c.At(time.Now()) }

// At is the service time of a wall instant.
func (c *Clock) At(t time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.atLocked(t)
}

func (c *Clock) atLocked(t time.Time) time.Duration {
	for i := len(c.segs) - 1; i >= 0; i-- {
		if s := c.segs[i]; !t.Before(s.Wall) {
			return s.Service + time.Duration(float64(t.Sub(s.Wall))*s.Scale)
		}
	}
	return time.Duration(float64(t.Sub(c.Epoch)) * c.base())
}

// Between is the service time from one wall instant to another.
func (c *Clock) Between(from, to time.Time) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.atLocked(to) - c.atLocked(from)
}

// WallAt is the wall instant of a service time (the inverse of At).
func (c *Clock) WallAt(service time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.segs) - 1; i >= 0; i-- {
		if s := c.segs[i]; service >= s.Service {
			return s.Wall.Add(time.Duration(float64(service-s.Service) / s.Scale))
		}
	}
	return c.Epoch.Add(time.Duration(float64(service) / c.base()))
}

// WallBetween is the wall time between two service instants.
func (c *Clock) WallBetween(from, to time.Duration) time.Duration {
	return c.WallAt(to).Sub(c.WallAt(from))
}

// Sleep waits for a service-time duration, or until ctx ends.
func (c *Clock) Sleep(ctx context.Context, service time.Duration) error {
	return c.SleepUntil(ctx, c.Now()+service)
}

// SleepUntil waits until the clock reads the service instant at, or until
// ctx ends. A change of scale while it waits is followed.
func (c *Clock) SleepUntil(ctx context.Context, at time.Duration) error {
	for {
		c.mu.Lock()
		rem := at - c.atLocked(time.Now())
		scale := c.currentLocked()
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		changed := c.changed
		c.mu.Unlock()
		if rem <= 0 {
			return nil
		}
		t := time.NewTimer(time.Duration(float64(rem) / scale))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-changed:
			t.Stop()
		case <-t.C:
		}
	}
}

// Format renders a service duration with its wall equivalent at the base
// scale, e.g. "15m0s (4.5s wall)".
func (c *Clock) Format(service time.Duration) string {
	return fmt.Sprintf("%s (%s wall)", Round(service), Round(time.Duration(float64(service)/c.base())))
}

// FormatSpan renders the service time between two service instants with
// the wall time it really took (holds included), e.g. "4m59s (2.1s wall)".
func (c *Clock) FormatSpan(from, to time.Duration) string {
	return fmt.Sprintf("%s (%s wall)", Round(to-from), Round(c.WallBetween(from, to)))
}

// Round trims a duration to a readable precision.
func Round(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	default:
		return d.Round(time.Millisecond)
	}
}
