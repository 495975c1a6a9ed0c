// Package faults is the fault catalogue. A fault is small: a name, Inject and
// Recover. Optional abilities are separate small interfaces found by type
// assertion: Targeted (is the target there, checked before anything
// changes), Verifier (did the fault take effect, observed through the
// environment, never from the fault's own state), Claimer (which parts of the
// environment it acts on, so a random schedule never runs two faults on the
// same part at once) and Evidencer (what Verify saw, for the record).
// Composite faults (a region outage, replication stalled then the region
// lost) are built from primitive ones. Every fault works on any provider
// through the topology interfaces; where a fault needs more (the proxy
// addresses of a link, a way to fill the log share) it asks for a small
// optional interface and says so in one clear error when it is missing.
package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

// Fault is one injectable failure.
type Fault interface {
	Name() string
	Inject(ctx context.Context, env topology.Environment) error
	Recover(ctx context.Context, env topology.Environment) error
}

// Verifier is a fault that can observe whether it took effect.
type Verifier interface {
	Verify(ctx context.Context, env topology.Environment) error
}

// Class groups faults as the BCDR article names their causes (faulty
// hardware, network outage, region-wide outage).
type Class string

// Fault classes.
const (
	Hardware Class = "hardware"
	Network  Class = "network"
	Region   Class = "region"
	// None is a fault that does nothing (noop): a control for the harness
	// itself, never drawn into a random schedule.
	None Class = "none"
)

// Param describes one parameter of a fault.
type Param struct {
	Name    string `json:"name"`
	Default string `json:"default"`
	Help    string `json:"help"`
}

// Definition is a catalogue entry.
type Definition struct {
	Name   string  `json:"name"`
	Class  Class   `json:"class"`
	Help   string  `json:"help"`
	Params []Param `json:"params"`
	// RegionLoss marks faults that take a whole region away, so the runbook
	// is expected to fail over.
	RegionLoss bool `json:"region_loss"`
	// SingleInstance marks a hardware fault that takes what the model runs
	// only one of per region (its SQL primary, its blob store): customers
	// notice while it is down, so what is promised is no loss (rpo), not
	// availability (fault-domain-availability does not judge its window).
	SingleInstance bool `json:"single_instance,omitempty"`
	// Targets says what the fault acts on, for the catalogue listing.
	Targets string `json:"targets,omitempty"`
	// After names a recorded event (history.EvFailbackStart, say) that the
	// fault waits for before its At offset counts, unless the scenario's
	// step names another. "" = the start of the fault phase.
	After string `json:"after,omitempty"`
	// Needs are what the fault needs of a provider beyond the topology
	// interfaces (nil = any provider can run it). A provider that does
	// not declare one of them refuses the fault (CheckProvider).
	Needs []topology.Capability `json:"needs,omitempty"`
	// Build makes the fault from complete parameters (defaults filled in).
	Build func(p Params) (Fault, error) `json:"-"`
	// Pick chooses parameters at random for a seeded schedule (nil = the
	// defaults). It must use only rng so that a seed replays.
	Pick func(rng *rand.Rand, spec topology.Spec) Params `json:"-"`
}

// Injected completes the value of a fault-injected event with what the
// checks read of the catalogue (region_loss, class, single_instance), so
// that a saved history is judged without the catalogue. It returns v.
func (d Definition) Injected(v map[string]any) map[string]any {
	v["region_loss"], v["class"], v["single_instance"] = d.RegionLoss, string(d.Class), d.SingleInstance
	return v
}

// Params are a fault's parameters as text, validated by the fault.
type Params map[string]string

// Region reads a region parameter.
func (p Params) Region(name string) (topology.RegionName, error) {
	switch v := p[name]; v {
	case "a", "b":
		return topology.RegionName(v), nil
	default:
		return "", fmt.Errorf("parameter %s: region must be a or b, got %q", name, v)
	}
}

// Int reads an integer parameter within [min, max].
func (p Params) Int(name string, min, max int) (int, error) {
	n, err := strconv.Atoi(p[name])
	if err != nil {
		return 0, fmt.Errorf("parameter %s: not an integer: %q", name, p[name])
	}
	if n < min || n > max {
		return 0, fmt.Errorf("parameter %s: %d out of range [%d, %d]", name, n, min, max)
	}
	return n, nil
}

// Duration reads a duration parameter within [min, max].
func (p Params) Duration(name string, min, max time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(p[name])
	if err != nil {
		return 0, fmt.Errorf("parameter %s: not a duration (want e.g. 200ms, 10m): %q", name, p[name])
	}
	if d < min || d > max {
		return 0, fmt.Errorf("parameter %s: %s out of range [%s, %s]", name, d, min, max)
	}
	return d, nil
}

// OneOf reads a parameter that must be one of choices.
func (p Params) OneOf(name string, choices ...string) (string, error) {
	v := p[name]
	for _, c := range choices {
		if v == c {
			return v, nil
		}
	}
	return "", fmt.Errorf("parameter %s: must be one of %s, got %q", name, strings.Join(choices, ", "), v)
}

// Link reads a link name: one of the named links every provider has.
func (p Params) Link(name string) (string, error) {
	return p.OneOf(name, LinkNames()...)
}

// IntList reads a comma-separated list of distinct integers in [min, max]
// with between minLen and maxLen entries.
func (p Params) IntList(name string, min, max, minLen, maxLen int) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for _, f := range strings.Split(p[name], ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("parameter %s: not a list of integers: %q", name, p[name])
		}
		if n < min || n > max {
			return nil, fmt.Errorf("parameter %s: %d out of range [%d, %d]", name, n, min, max)
		}
		if seen[n] {
			return nil, fmt.Errorf("parameter %s: %d given twice", name, n)
		}
		seen[n] = true
		out = append(out, n)
	}
	if len(out) < minLen || len(out) > maxLen {
		return nil, fmt.Errorf("parameter %s: want %d to %d entries, got %d", name, minLen, maxLen, len(out))
	}
	return out, nil
}

// LinkNames lists the named links of every environment.
func LinkNames() []string {
	var out []string
	for _, k := range []string{topology.LinkClient, topology.LinkAOSSQL, topology.LinkAOSBlob} {
		for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
			out = append(out, topology.LinkName(k, r))
		}
	}
	return append(out, topology.LinkWAN)
}

var registry = map[string]Definition{}

// Register adds a definition to the catalogue (from init functions).
func Register(d Definition) {
	if _, dup := registry[d.Name]; dup {
		panic("faults: duplicate fault " + d.Name)
	}
	registry[d.Name] = d
}

// Catalogue lists every definition, by class then name.
func Catalogue() []Definition {
	out := make([]Definition, 0, len(registry))
	for _, d := range registry {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Class != out[j].Class {
			return out[i].Class < out[j].Class
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Lookup finds a definition.
func Lookup(name string) (Definition, bool) { d, ok := registry[name]; return d, ok }

// Error is a bad fault request (unknown name, bad parameter); the CLI exits 254.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// New builds a fault by name with the given parameters over the defaults.
// It checks everything that can be checked without an environment.
func New(name string, params map[string]string) (Fault, Definition, error) {
	d, ok := registry[name]
	if !ok {
		var names []string
		for n := range registry {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, d, &Error{fmt.Sprintf("unknown fault %q (known: %s)", name, strings.Join(names, ", "))}
	}
	full := Params{}
	for _, p := range d.Params {
		full[p.Name] = p.Default
	}
	for k, v := range params {
		known := false
		for _, p := range d.Params {
			known = known || p.Name == k
		}
		if !known {
			return nil, d, &Error{fmt.Sprintf("fault %s: unknown parameter %q", name, k)}
		}
		full[k] = v
	}
	f, err := d.Build(full)
	if err != nil {
		return nil, d, &Error{fmt.Sprintf("fault %s: %v", name, err)}
	}
	return f, d, nil
}

// CheckProvider refuses a fault the named provider cannot run: one that
// needs a capability the provider does not declare. A provider that is not
// registered is not judged here (bringing it up fails).
func CheckProvider(d Definition, provider string) error {
	p, ok := topology.LookupProvider(provider)
	if !ok {
		return nil
	}
	if miss := p.Missing(d.Needs); len(miss) > 0 {
		var names []string
		for _, c := range miss {
			names = append(names, string(c))
		}
		return &Error{fmt.Sprintf("fault %s is not supported by the %s provider: it needs %s, which %s does not offer", d.Name, provider, strings.Join(names, ", "), provider)}
	}
	return nil
}

// Targeted is a fault whose target can be checked against a running
// environment before anything is changed.
type Targeted interface {
	CheckTarget(env topology.Environment) error
}

// Claimer names the parts of the environment a fault acts on: "a/aos",
// "a/sql", "a/blob", "a/client", "wan", and "a/health" for a fault that
// makes region a fail its health probes. A random schedule never lets two
// faults with a common claim overlap. A fault that is not a Claimer is
// exclusive: nothing runs with it.
type Claimer interface {
	Claims() []string
}

// Spanner is a fault that runs for a time of its own (a flapping region's
// cycles): unless the scenario gives the step a duration, the runner holds
// it that long (service time) before recovering it.
type Spanner interface {
	Span() time.Duration
}

// LossHook is told the moments a fault takes a region's data away (lost
// true) and gives it back (lost false).
type LossHook func(region topology.RegionName, lost bool, at time.Time)

// RegionLoser is a fault that takes a region's data away, whole or at
// moments of its own (a stall then the loss, a flapping region): the runner
// gives it a hook to call at the moment the region is lost and the moment
// it is back, so the checks measure to the moment of loss, not to the
// start of the fault's injection.
type RegionLoser interface {
	OnRegionLoss(LossHook)
}

// RecordLoss makes a fault that can lose a region (RegionLoser) record the
// moments of loss and return in rec as region-lost and region-back events,
// stamped with the moment itself. Other faults are left alone.
func RecordLoss(f Fault, rec *history.Recorder, logf func(string, ...any)) {
	l, ok := f.(RegionLoser)
	if !ok {
		return
	}
	name := f.Name()
	l.OnRegionLoss(func(r topology.RegionName, lost bool, at time.Time) {
		ev := history.EvRegionBack
		if lost {
			ev = history.EvRegionLost
		}
		if logf != nil {
			logf("%s: region %s (%s)", ev, r, name)
		}
		rec.Append(history.Op{Process: -1, Type: history.Info, Kind: history.Event, Key: ev, Wall: at,
			Value: map[string]any{"region": string(r), "fault": name}})
	})
}

// Evidencer reports what Verify observed (figures, errors seen through the
// environment), recorded with the fault-injected event.
type Evidencer interface {
	Evidence() map[string]any
}

// regionClaims are the claims of a fault that acts on the whole region.
func regionClaims(r topology.RegionName) []string {
	s := string(r)
	return []string{s + "/aos", s + "/sql", s + "/blob", s + "/client", s + "/health", topology.LinkWAN}
}

// linkClaims are the claims of a fault on one named link.
func linkClaims(link string) []string {
	if link == topology.LinkWAN {
		return []string{topology.LinkWAN}
	}
	i := strings.LastIndex(link, "-")
	kind, r := link[:i], link[i+1:]
	switch kind {
	case topology.LinkClient:
		return []string{r + "/client", r + "/health"}
	case topology.LinkAOSSQL:
		return []string{r + "/sql", r + "/health"}
	default:
		return []string{r + "/blob"}
	}
}

// checkRegion fails when the environment has no such region.
func checkRegion(env topology.Environment, fault string, r topology.RegionName) error {
	if env.Region(r) == nil {
		return &Error{fmt.Sprintf("fault %s: the environment has no region %s", fault, r)}
	}
	return nil
}

// sleepCtx waits d (wall time) or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pickRegion picks a or b; a is the primary and more interesting, so it
// comes up three times in four.
func pickRegion(rng *rand.Rand) string {
	if rng.IntN(4) == 3 {
		return "b"
	}
	return "a"
}
