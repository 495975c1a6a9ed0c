package main

// This file holds what the commands of a long-lived environment (up,
// inject, recover, status, down; one file each) share: where the state
// file lives and how their flags are parsed and printed.

import (
	"flag"
	"io"
	"os"
)

// upChildEnv marks the detached child of `bcdr up --detach`.
const upChildEnv = "BCDR_UP_CHILD"

// defaultStateDir holds the state file of the environment `bcdr up` started.
const defaultStateDir = ".bcdr"

// upDefaultRate is the workload rate of a long-lived environment, lower than
// a drill's so that hours of history stay small.
const upDefaultRate = 10

// stateEnv overrides the default state directory.
const stateEnv = "BCDR_STATE"

func stateFlag(fs *flag.FlagSet) *string {
	def := defaultStateDir
	if d := os.Getenv(stateEnv); d != "" {
		def = d
	}
	return fs.String("state", def, "state directory of the environment (holds env.json, mode 0600; default $"+stateEnv+" or "+defaultStateDir+")")
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}
