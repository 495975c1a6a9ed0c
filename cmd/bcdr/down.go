package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/bcdr-harness/bcdr/control"
)

func cmdDown(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := stateFlag(fs)
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for the teardown before killing the process")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, `Usage: bcdr down [--state DIR] [--wait D]

Tears down the environment bcdr up started: every process, port, container
and directory it holds; then removes the state file. A process that does not
answer is stopped with SIGTERM, then SIGKILL after --wait. Before the
environment goes, bcdr up saves the session's history in its run folder
(bcdr up --out), whose path is printed here.

Flags:
`)
			printFlags(stdout, fs)
			return errHelp
		}
		return usagef("down: %v", err)
	}
	if len(pos) > 0 {
		return usagef("down: unexpected argument %q", pos[0])
	}
	start := time.Now()
	c, err := control.Dial(*dir)
	var un *control.Unreachable
	switch {
	case errors.As(err, &un):
		_ = control.RemoveState(*dir)
		fmt.Fprintf(stdout, "the environment under %s was already gone (pid %d); removed its state file (bcdr clean removes anything left)\n", *dir, c.State.Pid)
		return nil
	case errors.Is(err, control.ErrNoState):
		// Taking down what is not up is done already (scripts may run it twice).
		fmt.Fprintf(stderr, "bcdr: nothing to take down: %v\n", err)
		return nil
	case err != nil:
		return err
	}
	pid := c.State.Pid
	killed := false
	if err := c.Down(ctx); err != nil {
		fmt.Fprintf(stderr, "bcdr: the control API did not take the request (%v); sending SIGTERM to %d\n", err, pid)
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	if !waitGone(ctx, pid, *wait) {
		fmt.Fprintf(stderr, "bcdr: process %d still there after %s; killing it (bcdr clean removes what it leaves)\n", pid, *wait)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		if !waitGone(ctx, pid, 10*time.Second) {
			return fmt.Errorf("down: process %d survived SIGKILL", pid)
		}
		_ = control.RemoveState(*dir)
		killed = true
	}
	fmt.Fprintf(stdout, "environment down (%.1fs)\n", time.Since(start).Seconds())
	switch {
	case savedRun(c.State):
		fmt.Fprintln(stdout, savedLine(c.State.Out))
	case c.State.Out != "" && killed:
		fmt.Fprintf(stderr, "bcdr: the process was killed; its history may be incomplete or missing in %s\n", c.State.Out)
	case c.State.Out != "":
		fmt.Fprintf(stderr, "bcdr: the history was not saved in %s (the session's log says why)\n", c.State.Out)
	}
	return nil
}

func waitGone(ctx context.Context, pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !control.Alive(pid) {
			return true
		}
		select {
		case <-ctx.Done():
			return !control.Alive(pid)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return !control.Alive(pid)
}
