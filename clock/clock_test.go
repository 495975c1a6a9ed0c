package clock

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestScaleConvertsBothWays(t *testing.T) {
	c := &Clock{Scale: 200}
	if got := c.Wall(15 * time.Minute); got != 4500*time.Millisecond {
		t.Errorf("15m of service time at scale 200 is %s wall, want 4.5s", got)
	}
	if got := c.Service(4500 * time.Millisecond); got != 15*time.Minute {
		t.Errorf("4.5s wall at scale 200 is %s of service time, want 15m", got)
	}
	if got := c.Format(15 * time.Minute); got != "15m0s (4.5s wall)" {
		t.Errorf("Format: %q", got)
	}
}

func TestAtIsRelativeToEpoch(t *testing.T) {
	e := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &Clock{Scale: 60, Epoch: e}
	if got := c.At(e.Add(time.Second)); got != time.Minute {
		t.Errorf("one wall second after the epoch at scale 60 is %s, want 1m", got)
	}
}

func TestHoldRunsAtItsScaleAndBack(t *testing.T) {
	e := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := Restore(200, e, []Segment{
		{Wall: e.Add(time.Second), Service: 200 * time.Second, Scale: 1},
		{Wall: e.Add(3 * time.Second), Service: 202 * time.Second, Scale: 200},
	})
	cases := []struct {
		wall time.Duration
		want time.Duration
	}{
		{500 * time.Millisecond, 100 * time.Second},
		{2 * time.Second, 201 * time.Second}, // inside the hold: a wall second is a service second
		{4 * time.Second, 402 * time.Second},
	}
	for _, tc := range cases {
		if got := c.At(e.Add(tc.wall)); got != tc.want {
			t.Errorf("At(epoch+%s) = %s, want %s", tc.wall, got, tc.want)
		}
		if got := c.WallAt(tc.want); !got.Equal(e.Add(tc.wall)) {
			t.Errorf("WallAt(%s) = epoch+%s, want epoch+%s", tc.want, got.Sub(e), tc.wall)
		}
	}
	if got := c.Between(e.Add(500*time.Millisecond), e.Add(4*time.Second)); got != 302*time.Second {
		t.Errorf("Between across the hold = %s, want 5m2s", got)
	}
	if got := c.WallBetween(100*time.Second, 402*time.Second); got != 3500*time.Millisecond {
		t.Errorf("WallBetween across the hold = %s, want 3.5s", got)
	}
}

func TestHoldNestsAndRecordsSegments(t *testing.T) {
	c := New(200)
	if c.Current() != 200 {
		t.Fatalf("a new clock runs at %g, want 200", c.Current())
	}
	outer := c.Hold(1)
	inner := c.Hold(10)
	if c.Current() != 10 {
		t.Errorf("the newest hold sets the scale: %g, want 10", c.Current())
	}
	inner()
	inner() // a second release is a no-op
	if c.Current() != 1 {
		t.Errorf("after the inner release: %g, want 1", c.Current())
	}
	outer()
	if c.Current() != 200 {
		t.Errorf("after every release: %g, want the base 200", c.Current())
	}
	var scales []float64
	for _, s := range c.Segments() {
		scales = append(scales, s.Scale)
	}
	if fmt.Sprint(scales) != "[1 10 1 200]" {
		t.Errorf("segments at scales %v, want [1 10 1 200]", scales)
	}
	// Service time never goes back.
	var last time.Duration
	for _, s := range c.Segments() {
		if s.Service < last {
			t.Errorf("service time went back at %+v", s)
		}
		last = s.Service
	}
}

func TestSleepFollowsAHold(t *testing.T) {
	c := New(1000)
	done := make(chan error, 1)
	go func() { done <- c.Sleep(context.Background(), 100*time.Second) }() // 100 ms wall at 1000
	release := c.Hold(1)                                                   // now 100 s of service would take 100 s
	select {
	case err := <-done:
		t.Fatalf("the sleep ended during the hold (%v): it must follow the slower scale", err)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the sleep did not end after the hold was released")
	}
}
