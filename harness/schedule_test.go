package harness

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/topology"
)

func TestScheduleSameSeedSameSchedule(t *testing.T) {
	spec := topology.DefaultSpec()
	a, err := NewSchedule(7, time.Hour, nil, 4, spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSchedule(7, time.Hour, nil, 4, spec)
	if err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Fatalf("seed 7 gave two schedules:\n%s\n---\n%s", a, b)
	}
	t.Logf("%s", a)
	differ := 0
	for seed := int64(8); seed < 18; seed++ {
		c, err := NewSchedule(seed, time.Hour, nil, 4, spec)
		if err != nil {
			t.Fatal(err)
		}
		if c.String()[strings.Index(c.String(), "\n")+1:] != a.String()[strings.Index(a.String(), "\n")+1:] {
			differ++
		}
	}
	if differ < 9 {
		t.Fatalf("only %d of 10 other seeds gave a schedule different from seed 7's", differ)
	}
}

func TestScheduleCompatibility(t *testing.T) {
	spec := topology.DefaultSpec()
	sawLoss, sawFailback := 0, 0
	for seed := int64(0); seed < 200; seed++ {
		s, err := NewSchedule(seed, time.Hour, nil, 5, spec)
		if err != nil {
			t.Fatal(err)
		}
		loss := 0
		type win struct {
			from, to time.Duration
			claims   []string
			name     string
		}
		var wins []win
		for _, st := range s.Steps {
			d, _ := faults.Lookup(st.Name)
			f, _, err := faults.New(st.Name, st.Params)
			if err != nil {
				t.Fatalf("seed %d: picked an unbuildable fault %s %v: %v", seed, st.Name, st.Params, err)
			}
			if d.RegionLoss {
				loss++
				for _, o := range s.Steps {
					if od, _ := faults.Lookup(o.Name); !od.RegionLoss && o.After == "" && o.At+o.Duration > st.At {
						t.Fatalf("seed %d: %s runs past the region loss at %s:\n%s", seed, o.Name, st.At, s)
					}
				}
				continue
			}
			if st.After != "" {
				sawFailback++
				continue
			}
			dur := st.Duration
			if sp, ok := f.(faults.Spanner); ok && dur == 0 {
				dur = sp.Span()
			}
			var cl []string
			if c, ok := f.(faults.Claimer); ok {
				cl = c.Claims()
			}
			wins = append(wins, win{st.At, st.At + dur, cl, st.Name})
		}
		if loss > 1 {
			t.Fatalf("seed %d: %d region-loss faults:\n%s", seed, loss, s)
		}
		if loss == 1 {
			sawLoss++
		} else if s.RegionLoss {
			t.Fatalf("seed %d: schedule claims a region loss it does not have", seed)
		}
		for i := range wins {
			for j := i + 1; j < len(wins); j++ {
				a, b := wins[i], wins[j]
				if a.to+scheduleGap <= b.from || b.to+scheduleGap <= a.from {
					continue
				}
				for _, x := range a.claims {
					for _, y := range b.claims {
						if x == y {
							t.Fatalf("seed %d: %s and %s overlap on %s:\n%s", seed, a.name, b.name, x, s)
						}
					}
				}
			}
		}
	}
	if sawLoss == 0 || sawLoss == 200 || sawFailback == 0 {
		t.Fatalf("200 seeds: %d with a region loss, %d with a failback fault: the choice is not random", sawLoss, sawFailback)
	}
}

func TestScheduleBadRequests(t *testing.T) {
	spec := topology.DefaultSpec()
	for _, tc := range []struct {
		pool   []string
		window time.Duration
		want   string
	}{
		{[]string{"no-such-fault"}, time.Hour, `unknown fault "no-such-fault"`},
		{[]string{"instance-crash"}, time.Minute, "window must be at least 10m"},
		{[]string{"instance-crash", "instance-crash"}, time.Hour, "named twice"},
	} {
		_, err := NewSchedule(1, tc.window, tc.pool, 2, spec)
		var fe *faults.Error
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("pool %v window %s: want a faults.Error with %q, got %v", tc.pool, tc.window, tc.want, err)
		}
	}
}

func TestRandomScenarioExpands(t *testing.T) {
	sc, ok := Builtin("random")
	if !ok {
		t.Fatal("no built-in scenario random")
	}
	for seed := int64(1); seed <= 20; seed++ {
		sc.Seed = seed
		got, sched, err := expandSchedule(sc)
		if err != nil {
			t.Fatal(err)
		}
		if sched == nil || len(got.Faults) != len(sched.Steps) {
			t.Fatalf("seed %d: random step not replaced: %+v", seed, got.Faults)
		}
		// The run is judged by the checks its picked faults call for.
		run, skipped := got.ChecksToRun(false)
		want := strings.Join(DerivedChecks(sched.Steps, false), ",")
		if strings.Join(run, ",") != want || len(skipped) != 0 {
			t.Fatalf("seed %d: checks %v (skipped %v), want %s", seed, run, skipped, want)
		}
		if sched.RegionLoss && !strings.Contains(want, "failback-loss") || !strings.Contains(want, "ledger") {
			t.Fatalf("seed %d: derived checks %s miss the region or the data checks", seed, want)
		}
		if err := Validate(sc); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}

// TestScheduleFitsTheDecisionWindow: faults that make a region look down
// (without meaning to lose it) are shortened below half the decision
// window, so the runbook stands down instead of failing over.
func TestScheduleFitsTheDecisionWindow(t *testing.T) {
	sc, _ := Builtin("random")
	sc.Runbook.DecisionWindow = 6 * time.Minute
	for seed := int64(0); seed < 100; seed++ {
		sc.Seed = seed
		got, _, err := expandSchedule(sc)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range got.Faults {
			f, def, err := faults.New(st.Name, st.Params)
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			c, ok := f.(faults.Claimer)
			if def.RegionLoss || !ok || !healthClaim(c.Claims()) {
				continue
			}
			if st.Duration > 3*time.Minute {
				t.Fatalf("seed %d: %s lasts %s with a 6m decision window", seed, st.Name, st.Duration)
			}
			if d, err := time.ParseDuration(st.Params["down"]); err == nil && d > 3*time.Minute {
				t.Fatalf("seed %d: %s is down %s at a time with a 6m decision window", seed, st.Name, d)
			}
		}
	}
}
