package harness

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/history"
)

// noiseTick is the period of the lateness probe.
const noiseTick = 10 * time.Millisecond

// NoiseMeter measures how late timers fire in this process while a run
// lasts: a ticker every noiseTick, each gap beyond the period is lateness.
// A busy machine (other processes, a compile, a CI neighbour) shows here
// as it shows in every schedule of the harness.
type NoiseMeter struct {
	mu   sync.Mutex
	late []time.Duration
}

// StartNoiseMeter starts measuring until ctx ends.
func StartNoiseMeter(ctx context.Context) *NoiseMeter {
	m := &NoiseMeter{}
	goSafe(ctx, "the noise meter", func() {
		t := time.NewTicker(noiseTick)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				late := lateBy(&last, noiseTick)
				m.mu.Lock()
				m.late = append(m.late, late)
				m.mu.Unlock()
			}
		}
	})
	return m
}

// lateBy is how much more than period has passed since *last (0 if not
// more), measured when the caller runs: a tick's own timestamp would hide
// a late wake-up. It moves *last to now.
func lateBy(last *time.Time, period time.Duration) time.Duration {
	now := time.Now()
	late := now.Sub(*last) - period
	*last = now
	return max(late, 0)
}

// Figures returns the worst, 99th and 50th percentile lateness so far and
// the number of ticks.
func (m *NoiseMeter) Figures() (worst, p99, p50 time.Duration, n int) {
	m.mu.Lock()
	l := append([]time.Duration(nil), m.late...)
	m.mu.Unlock()
	if len(l) == 0 {
		return 0, 0, 0, 0
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	at := func(q float64) time.Duration { return l[min(len(l)-1, int(q*float64(len(l))))] }
	return l[len(l)-1], at(0.99), at(0.5), len(l)
}

// Record writes the figures as an history.EvTimingNoise event, with the
// workload's pacing lateness (nil: none) and the lag sampler's period.
func (m *NoiseMeter) Record(rec *history.Recorder, wl *Workload, samplerEvery time.Duration) {
	worst, p99, p50, n := m.Figures()
	v := map[string]any{
		"timer_late_max_ms": ms(worst), "timer_late_p99_ms": ms(p99), "timer_late_p50_ms": ms(p50),
		"timer_ticks": n, "timer_period_ms": ms(noiseTick), "sampler_every_ms": ms(samplerEvery),
	}
	if wl != nil {
		v["pacing_late_max_ms"] = ms(wl.PacingLate())
	}
	rec.Event(history.EvTimingNoise, v)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
