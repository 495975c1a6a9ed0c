// Package clock converts between wall time and service time.
//
// Real disaster-recovery objectives are measured in minutes and hours; a drill
// must finish in seconds. One Clock with a scale (service time = wall time x
// scale) converts every interval and budget in the harness, so a 15-minute RPO
// at scale 200 is 4.5 wall seconds, and every report shows both.
package clock

import (
	"fmt"
	"time"
)

// Clock maps wall time onto service time with a fixed scale, starting at Epoch.
type Clock struct {
	// Scale is service seconds per wall second; 1 means real time.
	Scale float64
	// Epoch is the wall instant that is service time zero.
	Epoch time.Time
}

// New returns a clock with the given scale, starting now.
func New(scale float64) *Clock {
	if scale <= 0 {
		scale = 1
	}
	return &Clock{Scale: scale, Epoch: time.Now()}
}

// Wall converts a service-time duration into the wall duration it takes.
func (c *Clock) Wall(service time.Duration) time.Duration {
	return time.Duration(float64(service) / c.Scale)
}

// Service converts a wall duration into service time.
func (c *Clock) Service(wall time.Duration) time.Duration {
	return time.Duration(float64(wall) * c.Scale)
}

// Now is the service time elapsed since the epoch.
func (c *Clock) Now() time.Duration { return c.At(time.Now()) }

// At is the service time of a wall instant.
func (c *Clock) At(t time.Time) time.Duration { return c.Service(t.Sub(c.Epoch)) }

// Sleep waits for a service-time duration, or until ctx ends.
func (c *Clock) Sleep(ctx interface {
	Done() <-chan struct{}
	Err() error
}, service time.Duration) error {
	t := time.NewTimer(c.Wall(service))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Format renders a service duration with its wall equivalent, e.g. "15m0s (4.5s wall)".
func (c *Clock) Format(service time.Duration) string {
	return fmt.Sprintf("%s (%s wall)", Round(service), Round(c.Wall(service)))
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
