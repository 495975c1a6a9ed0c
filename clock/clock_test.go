package clock

import (
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
