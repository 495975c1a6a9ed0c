package search

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/harness"
)

// MinHold is the shortest hold Shrink halves a fault's hold to.
const MinHold = time.Minute

// Change is one way to make a schedule smaller.
type Change struct {
	Desc  string
	Apply func(harness.Scenario) harness.Scenario
}

// stepName names a fault step for people: "instance-crash at +2m".
func stepName(st harness.FaultStep) string {
	s := fmt.Sprintf("%s at +%s", st.Name, st.At)
	if st.After != "" {
		s = fmt.Sprintf("%s at %s +%s", st.Name, st.After, st.At)
	}
	if r := st.Params["region"]; r != "" {
		s += " (region " + r + ")"
	} else if l := st.Params["link"]; l != "" {
		s += " (link " + l + ")"
	}
	return s
}

func regionLoss(name string) bool {
	d, ok := faults.Lookup(name)
	return ok && d.RegionLoss
}

// keepOnly is sc with only the faults at the given indexes, each at its own
// time: fault times are absolute, so dropping a step moves no other.
func keepOnly(sc harness.Scenario, keep func(i int) bool) harness.Scenario {
	var fs []harness.FaultStep
	for i, st := range sc.Faults {
		if keep(i) {
			fs = append(fs, st)
		}
	}
	sc.Faults = fs
	return sc
}

// Shrinks lists the ways to make sc smaller, in the order Shrink tries
// them: keep a single fault (a region loss first when check is a region
// check, since that is what those checks judge), drop one fault, halve a
// fault's hold (down to MinHold), halve the clients, halve the rate. No
// change moves a fault in time.
func Shrinks(sc harness.Scenario, check string) []Change {
	var out []Change
	n := len(sc.Faults)
	if n > 1 {
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		if slices.Contains(assertions.RegionChecks(), check) {
			slices.SortStableFunc(order, func(a, b int) int {
				ra, rb := regionLoss(sc.Faults[a].Name), regionLoss(sc.Faults[b].Name)
				switch {
				case ra && !rb:
					return -1
				case rb && !ra:
					return 1
				}
				return 0
			})
		}
		for _, i := range order {
			var dropped []string
			for j, st := range sc.Faults {
				if j != i {
					dropped = append(dropped, stepName(st))
				}
			}
			out = append(out, Change{
				Desc:  fmt.Sprintf("keep only %s (drop %s)", stepName(sc.Faults[i]), strings.Join(dropped, ", ")),
				Apply: func(s harness.Scenario) harness.Scenario { return keepOnly(s, func(j int) bool { return j == i }) },
			})
		}
		for i := range sc.Faults {
			out = append(out, Change{
				Desc:  "drop " + stepName(sc.Faults[i]),
				Apply: func(s harness.Scenario) harness.Scenario { return keepOnly(s, func(j int) bool { return j != i }) },
			})
		}
	}
	for i, st := range sc.Faults {
		hold, ok := holdOf(sc, st)
		if !ok || hold < 2*MinHold {
			continue
		}
		half := max((hold / 2).Round(time.Second), MinHold)
		out = append(out, Change{
			Desc: fmt.Sprintf("hold of %s %s -> %s", stepName(st), hold, half),
			Apply: func(s harness.Scenario) harness.Scenario {
				s.Faults = append([]harness.FaultStep(nil), s.Faults...)
				s.Faults[i].Duration = half
				return s
			},
		})
	}
	if c := sc.Workload.Clients; c > 1 {
		out = append(out, Change{Desc: fmt.Sprintf("clients %d -> %d", c, c/2),
			Apply: func(s harness.Scenario) harness.Scenario { s.Workload.Clients = c / 2; return s }})
	}
	if r := sc.Workload.Rate; r >= 2 {
		half := math.Floor(r / 2)
		out = append(out, Change{Desc: fmt.Sprintf("rate %g -> %g writes/s", r, half),
			Apply: func(s harness.Scenario) harness.Scenario { s.Workload.Rate = half; return s }})
	}
	return out
}

// holdOf is how long a step stays injected, when the scenario decides it:
// its Duration, or the scenario's FaultHold for a fault without a span of
// its own. A region loss held until the failover (Duration 0) and a fault
// with its own span are not the shrinker's to shorten.
func holdOf(sc harness.Scenario, st harness.FaultStep) (time.Duration, bool) {
	if st.Duration > 0 {
		return st.Duration, true
	}
	if regionLoss(st.Name) {
		return 0, false
	}
	f, _, err := faults.New(st.Name, st.Params)
	if err != nil {
		return 0, false
	}
	if _, ok := f.(faults.Spanner); ok {
		return 0, false
	}
	return sc.FaultHold, true
}

// Meaningless says why sc would not be a meaningful run of the same test
// ("" when it would): it has no fault, does not validate, loses every
// region, or leaves too little traffic before its first fault (an estimate:
// the rate over the steady state must give twice the writes the validity
// check needs). The run itself must then pass its validity check too.
func Meaningless(sc harness.Scenario) string {
	if len(sc.Faults) == 0 {
		return "no fault left"
	}
	if err := harness.Validate(sc); err != nil {
		return "not a valid scenario: " + err.Error()
	}
	lost := map[string]bool{}
	for _, st := range sc.Faults {
		if regionLoss(st.Name) {
			r := st.Params["region"]
			if r == "" {
				r = "a"
			}
			lost[r] = true
		}
	}
	if lost["a"] && lost["b"] {
		return "every region lost"
	}
	first := time.Duration(-1)
	for _, st := range sc.Faults {
		if st.After == "" && (first < 0 || st.At < first) {
			first = st.At
		}
	}
	if first >= 0 {
		wall := (sc.SteadyState + first).Seconds() / sc.TimeScale()
		if need := 2 * sc.Budgets.MinWritesBeforeFault; sc.Workload.Rate*wall < float64(need) {
			return fmt.Sprintf("about %.0f writes before the first fault (rate %g over %.1fs wall), fewer than %d", sc.Workload.Rate*wall, sc.Workload.Rate, wall, need)
		}
	}
	return ""
}

// ShrinkOptions tune a shrink.
type ShrinkOptions struct {
	// Check is the check that must keep failing; "" = the first check the
	// original run fails (validity aside).
	Check string
	// Runs is the budget of drills, the original's included; 0 = 30.
	Runs int
	Run  RunFunc
	// Confirm is how many times the smallest schedule is run again at the
	// end (0: not at all); the budget includes them. A failure that does not
	// come back every time (a smaller workload can make it a matter of
	// luck) backs off the last kept change and confirms the schedule before
	// it, down to the original.
	Confirm int
	// OnTry is called after each try (a drill, or a change not run since it
	// would not be meaningful: Candidate.N 0).
	OnTry func(Candidate)
}

// Shrunk is what a shrink found.
type Shrunk struct {
	// Original is the schedule as it ran first (a random step expanded);
	// Schedule the random schedule it came from (nil when none).
	Original harness.Scenario
	Schedule *harness.Schedule
	Check    string
	First    Candidate
	// Scenario is the smallest schedule found that still fails Check;
	// Steps the changes that made it, in order.
	Scenario harness.Scenario
	Steps    []string
	Tries    []Candidate
	Runs     int // drills run, the original's included
	// Confirmed tells whether Scenario failed Check again in each of the
	// ShrinkOptions.Confirm runs; BackedOff lists the kept changes undone
	// because their failure did not come back.
	Confirmed bool
	BackedOff []string
}

// Shrink runs sc, then tries the changes of Shrinks one at a time, keeping
// each that still fails the same check in a valid run and starting over
// from the smaller schedule, until no change is left or the budget of
// drills is spent. A change that failed to reproduce is not tried again.
// It returns ErrNoFailure when the original does not fail the check.
func Shrink(ctx context.Context, sc harness.Scenario, opt ShrinkOptions) (*Shrunk, error) {
	if opt.Runs <= 0 {
		opt.Runs = 30
	}
	if opt.Run == nil {
		opt.Run = drill
	}
	exp, sched, err := harness.ExpandSchedule(sc)
	if err != nil {
		return nil, err
	}
	if err := harness.Validate(exp); err != nil {
		return nil, err
	}
	s := &Shrunk{Original: exp, Schedule: sched, Scenario: exp}
	out, err := opt.Run(ctx, exp)
	s.Runs = 1
	if out == nil {
		return s, fmt.Errorf("the original schedule did not run: %w", err)
	}
	check := opt.Check
	if check == "" {
		for _, c := range out.Result.Checks {
			if c.Name != "validity" && c.Verdict == assertions.Fail {
				check = c.Name
				break
			}
		}
	}
	if check == "" {
		s.First = judge(out, err, "validity")
		s.First.N, s.First.Change = 1, "the original"
		return s, fmt.Errorf("%w (verdict %s)", ErrNoFailure, out.Result.Verdict)
	}
	s.Check = check
	s.First = judge(out, err, check)
	s.First.N, s.First.Change = 1, "the original"
	if opt.OnTry != nil {
		opt.OnTry(s.First)
	}
	if s.First.Verdict != assertions.Fail {
		return s, fmt.Errorf("%w: %s is %s (%s)", ErrNoFailure, check, s.First.Verdict, s.First.Why)
	}
	rejected := map[string]bool{}
	cur := exp
	kept := []harness.Scenario{exp} // each schedule kept, the original first
	shrinkRuns := max(opt.Runs-opt.Confirm, 1)
	for s.Runs < shrinkRuns && ctx.Err() == nil {
		progressed := false
		for _, ch := range Shrinks(cur, check) {
			if rejected[ch.Desc] {
				continue
			}
			cand := ch.Apply(cur)
			if why := Meaningless(cand); why != "" {
				rejected[ch.Desc] = true
				c := Candidate{Change: ch.Desc, Verdict: assertions.Unknown, Why: "not run: " + why}
				s.Tries = append(s.Tries, c)
				if opt.OnTry != nil {
					opt.OnTry(c)
				}
				continue
			}
			if s.Runs >= shrinkRuns || ctx.Err() != nil {
				break
			}
			out, err := opt.Run(ctx, cand)
			s.Runs++
			c := judge(out, err, check)
			c.N, c.Change = s.Runs, ch.Desc
			c.Kept = c.Verdict == assertions.Fail
			s.Tries = append(s.Tries, c)
			if opt.OnTry != nil {
				opt.OnTry(c)
			}
			if c.Kept {
				cur = cand
				kept = append(kept, cand)
				s.Steps = append(s.Steps, ch.Desc)
				progressed = true
				break
			}
			rejected[ch.Desc] = true
		}
		if !progressed {
			break
		}
	}
	s.Scenario = cur
	s.confirm(ctx, opt, kept)
	return s, ctx.Err()
}

// confirm runs the smallest schedule opt.Confirm times more; when one run
// does not fail the check, it backs off the last kept change and confirms
// the schedule before it.
func (s *Shrunk) confirm(ctx context.Context, opt ShrinkOptions, kept []harness.Scenario) {
	if opt.Confirm <= 0 {
		return
	}
	for ctx.Err() == nil {
		cur := kept[len(kept)-1]
		ok := true
		for i := 0; i < opt.Confirm && ok; i++ {
			if s.Runs >= opt.Runs || ctx.Err() != nil {
				return // the budget is spent: not confirmed
			}
			out, err := opt.Run(ctx, cur)
			s.Runs++
			c := judge(out, err, s.Check)
			c.N, c.Change = s.Runs, fmt.Sprintf("confirm: the schedule after %d steps again", len(kept)-1)
			c.Kept = c.Verdict == assertions.Fail
			ok = c.Kept
			s.Tries = append(s.Tries, c)
			if opt.OnTry != nil {
				opt.OnTry(c)
			}
		}
		if ok {
			s.Confirmed = true
			s.Scenario = cur
			return
		}
		if len(kept) == 1 {
			return // the original itself does not fail every time
		}
		kept = kept[:len(kept)-1]
		s.BackedOff = append(s.BackedOff, s.Steps[len(s.Steps)-1])
		s.Steps = s.Steps[:len(s.Steps)-1]
		s.Scenario = kept[len(kept)-1]
	}
}

// File writes the smallest schedule as a scenario file over base: a header
// of comments with where it came from (origin, the replay command of the
// original, and its seed), the check it fails and every shrink step, then
// the scenario, whose description says the same in one line. path is where
// the file goes (for its replay line).
func (s *Shrunk) File(base harness.Scenario, origin, path string) ([]byte, error) {
	sc := s.Scenario
	if !strings.HasSuffix(sc.Name, "-shrunk") {
		sc.Name += "-shrunk"
	}
	steps := "none (no smaller schedule still failed)"
	if len(s.Steps) > 0 {
		steps = strings.Join(s.Steps, "; ")
	}
	sc.Description = fmt.Sprintf("Shrunk by bcdr shrink from %s (seed %d, %s): still fails %s with %s. Steps: %s.",
		origin, s.Original.Seed, nFaults(len(s.Original.Faults)), s.Check, nFaults(len(sc.Faults)), steps)
	body, err := harness.ScenarioFile(sc, base)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# bcdr shrink: the smallest schedule found that still fails check %s\n", s.Check)
	fmt.Fprintf(&b, "# original: %s (seed %d, %d faults, %d clients, rate %g writes/s)\n", origin, s.Original.Seed,
		len(s.Original.Faults), s.Original.Workload.Clients, s.Original.Workload.Rate)
	for _, st := range s.Original.Faults {
		fmt.Fprintf(&b, "#   %s\n", stepName(st))
	}
	fmt.Fprintf(&b, "# shrink steps (%d drills):\n", s.Runs)
	if len(s.Steps) == 0 {
		fmt.Fprintf(&b, "#   none: no smaller schedule still failed\n")
	}
	for i, st := range s.Steps {
		fmt.Fprintf(&b, "#   %d. %s\n", i+1, st)
	}
	for _, st := range s.BackedOff {
		fmt.Fprintf(&b, "#   backed off (its failure did not come back when run again): %s\n", st)
	}
	if s.Confirmed {
		fmt.Fprintf(&b, "# confirmed: it failed %s again when run again\n", s.Check)
	}
	fmt.Fprintf(&b, "# replay: bcdr drill --file %s\n", path)
	b.Write(body)
	return b.Bytes(), nil
}

// nFaults is "1 fault" or "N faults".
func nFaults(n int) string {
	if n == 1 {
		return "1 fault"
	}
	return fmt.Sprintf("%d faults", n)
}
