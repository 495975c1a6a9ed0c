package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/control"
	"github.com/bcdr-harness/bcdr/topology"
)

func cmdClean(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("clean", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := stateFlag(fs)
	all := fs.Bool("all", false, "also stop running environments and drills of bcdr (every process of ours, every temp dir)")
	runID := fs.String("run-id", "", "clean only this run's resources, where a provider's clean-up tells runs apart (default: every bcdr run's)")
	dry := fs.Bool("dry-run", false, "list what would be removed, remove nothing")
	minAge := fs.Duration("min-age", time.Minute, "leave work directories without an owner record younger than this (a run may be starting there)")
	// One switch per provider with a clean-up of its own, named after it.
	own := map[string]*bool{}
	for _, d := range topology.ProviderDefs() {
		if d.Clean != nil {
			own[d.Name] = fs.Bool(d.Name, true, "also run the "+d.Name+" provider's own clean-up (listed above)")
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCleanHelp(stdout, fs)
			return errHelp
		}
		return usagef("clean: %v", err)
	}
	if fs.NArg() > 0 {
		return usagef("clean: unexpected argument %q", fs.Arg(0))
	}
	prefix := "removed "
	if *dry {
		prefix = "would remove "
	}
	n := 0
	o := topology.CleanOptions{RunID: *runID, DryRun: *dry, All: *all, MinAge: *minAge,
		Removed: func(what string) { fmt.Fprintln(stdout, prefix+what); n++ },
		Kept:    func(what, why string) { fmt.Fprintf(stdout, "kept %s: %s\n", what, why) },
	}
	// The environment of bcdr up first, then what each provider left on
	// this machine (processes, work directories), then elsewhere.
	errs := []error{cleanState(ctx, *dir, o, stdout, stderr)}
	for _, d := range topology.ProviderDefs() {
		if d.Sweep != nil {
			errs = append(errs, providerErr(d.Name, d.Sweep(ctx, o)))
		}
	}
	for _, d := range topology.ProviderDefs() {
		if d.Clean != nil && *own[d.Name] {
			errs = append(errs, providerErr(d.Name, d.Clean(ctx, o)))
		}
	}
	if n == 0 {
		fmt.Fprintln(stdout, "nothing to clean")
	}
	return errors.Join(errs...)
}

// cleanState removes the state file of bcdr up when its process is gone;
// with o.All it stops the running environment (bcdr down).
func cleanState(ctx context.Context, dir string, o topology.CleanOptions, stdout, stderr io.Writer) error {
	st, err := control.ReadState(dir)
	if err != nil {
		return nil
	}
	switch {
	case !control.Alive(st.Pid):
		o.Report(fmt.Sprintf("the state file of a gone environment (pid %d)", st.Pid))
		if !o.DryRun {
			return control.RemoveState(dir)
		}
	case o.All:
		o.Report(fmt.Sprintf("the running environment of pid %d (bcdr down)", st.Pid))
		if !o.DryRun {
			return cmdDown(ctx, []string{"--state", dir}, io.Discard, stderr)
		}
	default:
		fmt.Fprintf(stdout, "kept the running environment under %s (pid %d; bcdr down, or clean --all)\n", dir, st.Pid)
	}
	return nil
}

func providerErr(name string, err error) error {
	if err != nil {
		return fmt.Errorf("%s provider: %w", name, err)
	}
	return nil
}

// printCleanHelp prints bcdr clean --help: what it removes, from each
// registered provider's clean-up.
func printCleanHelp(w io.Writer, fs *flag.FlagSet) {
	var usage, sweeps, cleans strings.Builder
	usage.WriteString("Usage: bcdr clean [--all] [--dry-run] [--state DIR] [--min-age D] [--run-id ID]")
	for _, d := range topology.ProviderDefs() {
		sweeps.WriteString(d.SweepHelp)
		if d.Clean != nil {
			fmt.Fprintf(&usage, " [--%s=false]", d.Name)
			fmt.Fprintf(&cleans, "      %s (--%s=false: not): %s\n", d.Name, d.Name, d.CleanHelp)
		}
	}
	fmt.Fprintf(w, `%s

Removes what runs that were killed left behind, so the machine is as before:
%s  - the state file under --state when its process is gone,
  - what each provider's own clean-up removes:
%s
Flags:
`, usage.String(), sweeps.String(), cleans.String())
	printFlags(w, fs)
}
