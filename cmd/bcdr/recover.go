package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/bcdr-harness/bcdr/control"
)

func cmdRecover(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("recover", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := stateFlag(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, `Usage: bcdr recover [ID | FAULT | all] [--state DIR]

Recovers faults injected with bcdr inject, newest first: the one with the id,
every one with the fault's name, or all of them (the default).

Flags:
`)
			printFlags(stdout, fs)
			return errHelp
		}
		return usagef("recover: %v", err)
	}
	if len(pos) > 1 {
		return usagef("recover: unexpected argument %q (one id, fault name or all)", pos[1])
	}
	target := "all"
	if len(pos) == 1 {
		target = pos[0]
	}
	c, err := control.Dial(*dir)
	if err != nil {
		return err
	}
	done, err := c.Recover(ctx, target)
	for _, af := range done {
		fmt.Fprintf(stdout, "recovered fault %d: %s %s\n", af.ID, af.Name, formatParams(af.Params))
	}
	if err == nil && len(done) == 0 {
		fmt.Fprintln(stdout, "no fault was injected; nothing to recover")
	}
	return err
}
