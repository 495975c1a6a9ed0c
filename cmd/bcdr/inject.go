package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/bcdr-harness/bcdr/control"
	"github.com/bcdr-harness/bcdr/faults"
)

func cmdInject(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("inject", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := stateFlag(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, `Usage: bcdr inject FAULT [param=value ...] [--state DIR]

Injects a fault from the catalogue (bcdr faults lists them with their
parameters and defaults) into the environment bcdr up started, checks that it
took effect, and prints its id. It stays until bcdr recover.

Flags:
`)
			printFlags(stdout, fs)
			return errHelp
		}
		return usagef("inject: %v", err)
	}
	if len(pos) == 0 {
		return usagef("inject: name a fault (bcdr faults lists them)")
	}
	name := pos[0]
	params := map[string]string{}
	for _, kv := range pos[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usagef("inject: parameter %q: want name=value", kv)
		}
		params[k] = v
	}
	// Check what can be checked here, before touching the environment.
	if _, _, err := faults.New(name, params); err != nil {
		return err
	}
	c, err := control.Dial(*dir)
	if err != nil {
		return err
	}
	af, err := c.Inject(ctx, name, params)
	if err != nil {
		return err
	}
	effect := "took effect"
	if !af.Verified {
		effect = "NOT confirmed: " + af.VerifyError
	}
	fmt.Fprintf(stdout, "injected fault %d: %s %s (%s)\n", af.ID, af.Name, formatParams(af.Params), effect)
	return nil
}

func formatParams(p map[string]string) string {
	var kv []string
	for k, v := range p {
		kv = append(kv, k+"="+v)
	}
	sort.Strings(kv)
	if len(kv) == 0 {
		return "(defaults)"
	}
	return strings.Join(kv, " ")
}
