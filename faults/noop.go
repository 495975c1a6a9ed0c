package faults

import (
	"context"

	"github.com/bcdr-harness/bcdr/topology"
)

func init() {
	Register(Definition{Name: "noop", Class: None, Targets: "nothing",
		Help:  "does nothing: a control that runs the fault lifecycle (inject, verify, recover) without touching the environment; never drawn into a random schedule",
		Build: func(Params) (Fault, error) { return noop{}, nil }})
}

// noop is the fault that does nothing. Its claims are empty, so it clashes
// with no other fault.
type noop struct{}

func (noop) Name() string                                        { return "noop" }
func (noop) Claims() []string                                    { return []string{} }
func (noop) Inject(context.Context, topology.Environment) error  { return nil }
func (noop) Recover(context.Context, topology.Environment) error { return nil }
