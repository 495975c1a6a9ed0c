// Package faults is the fault catalogue. A fault is small: a name, Inject and
// Recover. Optional abilities are separate small interfaces found by type
// assertion: Verifier (did the fault take effect?), Compatible (which other
// faults it can run with). Composite faults (a region outage) are built from
// primitive ones. Every fault works on any provider through the topology
// interfaces.
package faults

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

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

// Class groups faults as the seed names them.
type Class string

// Fault classes.
const (
	Hardware Class = "hardware"
	Network  Class = "network"
	Region   Class = "region"
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
	// Build makes the fault from complete parameters (defaults filled in).
	Build func(p Params) (Fault, error) `json:"-"`
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

// Targeted is a fault whose target can be checked against a running
// environment before anything is changed.
type Targeted interface {
	CheckTarget(env topology.Environment) error
}
