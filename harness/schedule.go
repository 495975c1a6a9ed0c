package harness

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/topology"
)

// RandomStep is the name of the fault step that asks for a seeded random
// schedule: before the run it is replaced by the faults the schedule picks
// (from the scenario's seed). Its parameters:
//
//	window  service time over which faults are spread (default 60m)
//	count   faults to pick besides a region loss and a failback fault (default 3)
//	faults  comma-separated fault names to pick from (default: the whole catalogue)
const RandomStep = "random"

func init() {
	RegisterScenario("random", func() Scenario {
		s := DefaultScenario()
		s.Name = "random"
		s.Description = "A seeded random schedule of compatible faults (hardware, network, at most one region loss, perhaps a second fault during failback); the same seed replays the same schedule."
		s.Faults = []FaultStep{{Name: RandomStep, Params: map[string]string{"window": "60m", "count": "3"}}}
		s.SteadyState = 30 * time.Minute
		return s
	})
}

// Schedule is a seeded random choice of faults, targets and times.
type Schedule struct {
	Seed   int64         `json:"seed"`
	Window time.Duration `json:"window"`
	Pool   []string      `json:"pool"`
	Steps  []FaultStep   `json:"steps"`
	// RegionLoss tells whether a region-loss fault was picked.
	RegionLoss bool `json:"region_loss"`
}

// Checks are the checks a run of the schedule needs (DerivedChecks of its
// steps).
func (s *Schedule) Checks() []string {
	return DerivedChecks(s.Steps, false)
}

// String prints the schedule, one fault a line, in time order.
func (s *Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "random schedule: seed %d, window %s, %d faults from %d (replay: bcdr drill random --seed %d)", s.Seed, s.Window, len(s.Steps), len(s.Pool), s.Seed)
	for _, st := range s.Steps {
		b.WriteString("\n  " + stepLine(st))
	}
	return b.String()
}

func stepLine(st FaultStep) string {
	when := "+" + st.At.String()
	if st.After != "" {
		when = st.After + " " + when
	}
	hold := "for " + st.Duration.String()
	if st.Duration == 0 {
		hold = "until failed over"
		if d, ok := faults.Lookup(st.Name); ok && !d.RegionLoss {
			hold = "for its own span"
		}
	}
	var ps []string
	for k, v := range st.Params {
		ps = append(ps, k+"="+v)
	}
	sort.Strings(ps)
	return strings.TrimRight(fmt.Sprintf("%-22s %-18s %s %s", when, hold, st.Name, strings.Join(ps, " ")), " ")
}

// Event is the schedule as recorded in the history.
func (s *Schedule) Event() map[string]any {
	var lines []any
	for _, st := range s.Steps {
		lines = append(lines, stepLine(st))
	}
	return map[string]any{"seed": s.Seed, "window": s.Window.String(), "steps": lines, "region_loss": s.RegionLoss}
}

// scheduleGap keeps faults with a common claim this far apart, so that the
// environment (and the runbook's health probes) settle between them.
const scheduleGap = 5 * time.Minute

// NewSchedule picks faults from pool (nil = every fault of the catalogue
// that the spec's provider supports, faults.CheckProvider) with the
// seed: at most one region-loss fault (placed after every other), a fault
// that waits for the failback only when a region is lost, and count others
// whose windows never overlap on a common claim (faults.Claimer). The same
// seed, window, pool, count and spec give the same schedule.
func NewSchedule(seed int64, window time.Duration, pool []string, count int, spec topology.Spec) (*Schedule, error) {
	if window < 10*time.Minute {
		return nil, &faults.Error{Msg: fmt.Sprintf("random schedule: window must be at least 10m, got %s", window)}
	}
	if count < 0 || count > 20 {
		return nil, &faults.Error{Msg: fmt.Sprintf("random schedule: count must be within [0, 20], got %d", count)}
	}
	pool, byKind, err := schedulePool(pool, spec)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x62636472)) // "bcdr"
	s := &Schedule{Seed: seed, Window: window, Pool: pool}
	pick := func(d faults.Definition) faults.Params {
		if d.Pick == nil {
			return faults.Params{}
		}
		return d.Pick(rng, spec)
	}
	if len(byKind.regionLoss) > 0 && (len(byKind.others) == 0 || rng.IntN(2) == 0) {
		d := byKind.regionLoss[rng.IntN(len(byKind.regionLoss))]
		s.Steps = append(s.Steps, FaultStep{Name: d.Name, Params: pick(d), At: window})
		s.RegionLoss = true
		if len(byKind.duringFailback) > 0 && rng.IntN(2) == 0 {
			d := byKind.duringFailback[rng.IntN(len(byKind.duringFailback))]
			s.Steps = append(s.Steps, FaultStep{Name: d.Name, Params: pick(d), After: d.After,
				At: time.Duration(rng.IntN(3)) * time.Minute, Duration: time.Duration(5+rng.IntN(6)) * time.Minute})
		}
	}
	others, err := placeOthers(rng, window, count, byKind.others, pick)
	if err != nil {
		return nil, err
	}
	s.Steps = append(s.Steps, others...)
	sort.SliceStable(s.Steps, func(i, j int) bool {
		a, b := s.Steps[i], s.Steps[j]
		if (a.After == "") != (b.After == "") {
			return a.After == ""
		}
		return a.At < b.At
	})
	return s, nil
}

// poolKinds are a schedule's candidate faults by where they may go.
type poolKinds struct {
	regionLoss     []faults.Definition // at the end of the window
	duringFailback []faults.Definition // after a failover event
	others         []faults.Definition // anywhere in the window
}

// schedulePool is the pool, sorted (every fault the provider supports when
// empty), and its faults by kind.
func schedulePool(pool []string, spec topology.Spec) ([]string, poolKinds, error) {
	var k poolKinds
	if len(pool) == 0 {
		for _, d := range faults.Catalogue() {
			// Only what the provider supports: a fault it refuses would
			// refuse the whole drill.
			if d.Class != faults.None && faults.CheckProvider(d, spec.Provider) == nil {
				pool = append(pool, d.Name)
			}
		}
	}
	pool = append([]string(nil), pool...)
	sort.Strings(pool)
	for i, n := range pool {
		if i > 0 && pool[i-1] == n {
			return nil, k, &faults.Error{Msg: fmt.Sprintf("random schedule: fault %s named twice", n)}
		}
		d, ok := faults.Lookup(n)
		if !ok {
			var known []string
			for _, d := range faults.Catalogue() {
				known = append(known, d.Name)
			}
			return nil, k, &faults.Error{Msg: fmt.Sprintf("random schedule: unknown fault %q (known: %s)", n, strings.Join(known, ", "))}
		}
		switch {
		case d.RegionLoss:
			k.regionLoss = append(k.regionLoss, d)
		case failoverEvents[d.After]:
			k.duringFailback = append(k.duringFailback, d)
		default:
			k.others = append(k.others, d)
		}
	}
	return pool, k, nil
}

// placed is a fault's place in the window and what it claims.
type placed struct {
	from, to time.Duration
	claims   []string // nil = exclusive
}

// clashes tells whether two placed faults overlap (within scheduleGap) on
// something both claim, or either is exclusive.
func (a placed) clashes(b placed) bool {
	if a.to+scheduleGap <= b.from || b.to+scheduleGap <= a.from {
		return false
	}
	if a.claims == nil || b.claims == nil {
		return true
	}
	for _, x := range a.claims {
		for _, y := range b.claims {
			if x == y {
				return true
			}
		}
	}
	return false
}

// claimsOf is what the fault with these parameters claims, and its own span
// (0 = none).
func claimsOf(d faults.Definition, p faults.Params) ([]string, time.Duration, error) {
	f, _, err := faults.New(d.Name, p)
	if err != nil {
		return nil, 0, err
	}
	var span time.Duration
	if sp, ok := f.(faults.Spanner); ok {
		span = sp.Span()
	}
	if c, ok := f.(faults.Claimer); ok {
		return c.Claims(), span, nil
	}
	return nil, span, nil
}

// placeOthers places up to count faults of others in the window where they
// clash with none placed before (30 tries each).
func placeOthers(rng *rand.Rand, window time.Duration, count int, others []faults.Definition, pick func(faults.Definition) faults.Params) ([]FaultStep, error) {
	var steps []FaultStep
	var taken []placed
	for i := 0; i < count && len(others) > 0; i++ {
		for try := 0; try < 30; try++ {
			d := others[rng.IntN(len(others))]
			p := pick(d)
			claims, span, err := claimsOf(d, p)
			if err != nil {
				return nil, fmt.Errorf("random schedule: fault %s with %v: %w", d.Name, p, err)
			}
			dur := time.Duration(3+rng.IntN(13)) * time.Minute
			if span > 0 {
				dur = span
			}
			if dur > window {
				continue
			}
			at := time.Duration(rng.Int64N(int64(window-dur)/int64(time.Minute)+1)) * time.Minute
			cand := placed{from: at, to: at + dur, claims: claims}
			ok := true
			for _, t := range taken {
				ok = ok && !cand.clashes(t)
			}
			if !ok {
				continue
			}
			taken = append(taken, cand)
			st := FaultStep{Name: d.Name, Params: p, At: at, Duration: dur}
			if span > 0 {
				st.Duration = 0 // the fault's own span
			}
			steps = append(steps, st)
			break
		}
	}
	return steps, nil
}

// ScheduleFor returns the random schedule a scenario will run (nil when it
// has no RandomStep), exactly as Run prints it: the same scenario and seed
// always give the same schedule.
func ScheduleFor(sc Scenario) (*Schedule, error) {
	_, s, err := expandSchedule(sc)
	return s, err
}

// ExpandSchedule returns the scenario as Run will run it: a RandomStep
// replaced by the faults its seed picks (at their absolute times), and the
// schedule (nil when the scenario has no RandomStep). A shrinker edits the
// expanded faults, so removing one never moves the others.
func ExpandSchedule(sc Scenario) (Scenario, *Schedule, error) {
	return expandSchedule(sc)
}

// expandSchedule replaces a RandomStep of the scenario by the schedule its
// seed picks, and sets the checks the schedule needs when the scenario
// names none.
func expandSchedule(sc Scenario) (Scenario, *Schedule, error) {
	idx := -1
	for i, st := range sc.Faults {
		if st.Name == RandomStep {
			if idx >= 0 {
				return sc, nil, &faults.Error{Msg: "a scenario takes at most one random fault step"}
			}
			idx = i
		}
	}
	if idx < 0 {
		return sc, nil, nil
	}
	st := sc.Faults[idx]
	for k := range st.Params {
		if k != "window" && k != "count" && k != "faults" {
			return sc, nil, &faults.Error{Msg: fmt.Sprintf("fault %s: unknown parameter %q (window, count, faults)", RandomStep, k)}
		}
	}
	window := 60 * time.Minute
	if v, ok := st.Params["window"]; ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			return sc, nil, &faults.Error{Msg: fmt.Sprintf("fault %s: parameter window: not a duration: %q", RandomStep, v)}
		}
		window = d
	}
	count := 3
	if v, ok := st.Params["count"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return sc, nil, &faults.Error{Msg: fmt.Sprintf("fault %s: parameter count: not an integer: %q", RandomStep, v)}
		}
		count = n
	}
	var pool []string
	if v := strings.TrimSpace(st.Params["faults"]); v != "" {
		for _, n := range strings.Split(v, ",") {
			pool = append(pool, strings.TrimSpace(n))
		}
	}
	sched, err := NewSchedule(sc.Seed, window, pool, count, sc.Spec)
	if err != nil {
		return sc, nil, err
	}
	fitDecisionWindow(sched, sc.Runbook.DecisionWindow)
	steps := append([]FaultStep(nil), sc.Faults[:idx]...)
	for _, s := range sched.Steps {
		if s.After == "" {
			s.At += st.At
		}
		steps = append(steps, s)
	}
	sc.Faults = append(steps, sc.Faults[idx+1:]...)
	return sc, sched, nil
}

// fitDecisionWindow shortens the faults that make a region fail its health
// probes (claim "R/health") but are not meant to lose it, so that none lasts
// half the runbook's decision window: the runbook must see them end and
// stand down, not fail over. Shortening never creates an overlap.
func fitDecisionWindow(s *Schedule, dw time.Duration) {
	limit := (dw / 2).Truncate(time.Minute)
	if limit < time.Minute {
		limit = time.Minute
	}
	for i, st := range s.Steps {
		d, _ := faults.Lookup(st.Name)
		if d.RegionLoss {
			continue
		}
		f, _, err := faults.New(st.Name, st.Params)
		if err != nil {
			continue
		}
		c, ok := f.(faults.Claimer)
		if !ok || !healthClaim(c.Claims()) {
			continue
		}
		if st.Duration > limit {
			s.Steps[i].Duration = limit
		}
		if v, ok := st.Params["down"]; ok {
			if down, err := time.ParseDuration(v); err == nil && down > limit {
				p := map[string]string{}
				for k, v := range st.Params {
					p[k] = v
				}
				p["down"] = limit.String()
				s.Steps[i].Params = p
			}
		}
	}
}

func healthClaim(cs []string) bool {
	for _, c := range cs {
		if strings.HasSuffix(c, "/health") {
			return true
		}
	}
	return false
}
