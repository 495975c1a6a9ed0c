package harness

import (
	"sort"
	"time"
)

// builtins are the named drills `bcdr drill NAME` runs.
var builtins = map[string]func() Scenario{
	"region-outage": DefaultScenario,
	"instance-crash": func() Scenario {
		s := DefaultScenario()
		s.Name = "instance-crash"
		s.Description = "One AOS instance crashes; the load balancer routes around it and clients retry: no acknowledged write lost, no failover."
		s.Faults = []FaultStep{{Name: "instance-crash", Params: map[string]string{"region": "a", "instance": "0"}}}
		s.SteadyState = 20 * time.Minute
		return s
	},
	"fault-domain-loss": func() Scenario {
		s := DefaultScenario()
		s.Name = "fault-domain-loss"
		s.Description = "Every instance of one fault domain is lost; the other four carry the load: customers barely notice."
		s.Faults = []FaultStep{{Name: "fault-domain-loss", Params: map[string]string{"region": "a", "domain": "0"}}}
		s.SteadyState = 20 * time.Minute
		return s
	},
}

// RegisterScenario adds a built-in scenario (suites and later packages use it).
func RegisterScenario(name string, f func() Scenario) { builtins[name] = f }

// Builtin returns a copy of a built-in scenario.
func Builtin(name string) (Scenario, bool) {
	f, ok := builtins[name]
	if !ok {
		return Scenario{}, false
	}
	return f(), true
}

// Builtins lists the built-in scenarios by name.
func Builtins() []Scenario {
	var names []string
	for n := range builtins {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Scenario, len(names))
	for i, n := range names {
		out[i] = builtins[n]()
	}
	return out
}
