// Package providers registers every provider of the harness: importing it
// for its side effect makes each one available by name (topology.Up,
// topology.ProviderDefs), with its help text, engines, capabilities and
// clean-up. A new provider is its own package, registering itself from an
// init function, plus one import line here.
//
// Its test is the conformance test every provider runs: each fault of the
// catalogue either works on the provider (injected, observed, recovered,
// the environment whole again) or the provider does not declare what the
// fault needs and a drill asking for it is refused before anything starts.
package providers

import (
	_ "github.com/bcdr-harness/bcdr/topology/containers" // Docker
	_ "github.com/bcdr-harness/bcdr/topology/fake"       // in memory
	_ "github.com/bcdr-harness/bcdr/topology/local"      // processes on this machine (and the AOS stub)
)
