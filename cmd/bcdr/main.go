// Command bcdr runs disaster-recovery drills against a two-region model of a
// finance-and-operations environment and reports whether every business
// continuity promise held.
//
//	bcdr drill region-outage --seed 7 --set rpo=15m --out runs/x
//	bcdr drill --file nightly.yaml
//	bcdr up --detach; bcdr inject wan-partition; bcdr status; bcdr recover; bcdr down
//	bcdr scenarios | faults | report DIR | trend DIR... | check DIR | clean
//
// Exit codes: 0 every check passed, 1 a check failed, 2 the run could not
// tell (unknown, or interrupted), 254 bad arguments or scenario, 255 an
// internal error.
//
// A drill runs in this process: harness.Run with a progress display
// (progress.go) fed by the harness's log lines and the recorded operations,
// then harness.Outcome.Save into the output folder, also after Ctrl-C.
//
// A long-lived environment (bcdr up) is one process that owns it: it brings
// the environment up, runs a light workload (and, with --runbook, the DR
// runbook), and serves the control API of package control on a loopback port
// with a random bearer token. The address, the token and the environment's
// credentials go to a state file (default ./.bcdr/env.json, or $BCDR_STATE)
// with mode 0600 in a 0700 directory. inject, recover, status and down read
// that file and call the API; nothing else can, since the port is on
// loopback and the token is only in the file. --detach starts the same
// process again in its own session with its output in .bcdr/up.log and
// returns once the state file names it. The owner removes the state file
// before it tears down, so no command acts on an environment going away,
// and saves the session's history as a run folder (upsave.go) before the
// environment is closed, on every way out (down, Ctrl-C, the API stopping).
// Its child processes die with it (Pdeathsig); bcdr clean removes what a
// SIGKILL leaves (work directories, the state file, orphans, containers).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/bcdr-harness/bcdr/control"
	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/harness"
	_ "github.com/bcdr-harness/bcdr/topology/providers" // every provider (--set provider=NAME)
)

// Exit codes.
const (
	exitPass     = 0
	exitFail     = 1
	exitUnknown  = 2
	exitUsage    = 254
	exitInternal = 255
)

// errHelp ends a command that printed its help.
var errHelp = errors.New("help")

// usageError is a bad command line; it exits 254.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

const topUsage = `bcdr: disaster-recovery drills for a two-region finance environment

Usage:
  bcdr drill NAME [flags]         run a drill (bcdr drill --help lists every knob)
  bcdr drill --file S.yaml        run a drill described by a scenario file (YAML or JSON)
  bcdr search [--figure F]        find the moment of the region loss that makes a figure worst (rpo by default)
  bcdr shrink NAME|--file S.yaml  shrink a failing schedule to the fewest faults that still fail the same check
  bcdr scenarios                  list the built-in scenarios
  bcdr faults                     list the fault catalogue
  bcdr up [--detach] [--out DIR]  stand the environment up and keep it running (history saved at teardown)
  bcdr inject FAULT [p=v ...]     inject a fault into the environment up started
  bcdr recover [ID|FAULT|all]     recover injected faults (default: all)
  bcdr status [--json]            regions, roles, limited mode, lag, instances, faults
  bcdr down                       tear the environment down
  bcdr report DIR                 render junit.xml and report.html again from a saved run
  bcdr validate [--provider P]    the BCDR plan validation: every promise, its runs, one report
  bcdr trend DIR...               compare saved runs (or validate folders) side by side
  bcdr check DIR                  judge a saved run again from its files and compare the verdicts
  bcdr clean                      remove what killed runs left behind

Every command takes --help.

Exit codes: 0 pass, 1 a check failed, 2 could not tell, 254 bad arguments, 255 internal error.
`

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel() // the command stops, tears down and writes what it has
		<-sigs
		fmt.Fprintln(os.Stderr, "bcdr: second interrupt: exiting now (child processes die with bcdr; bcdr clean removes anything left)")
		os.Exit(exitUnknown)
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	signal.Stop(sigs)
	cancel()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	// A panic outside a drill's own guard (harness.PanicError) still ends
	// with one clear line and exit 255; bcdr clean removes anything left.
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(stderr, "bcdr: internal error: panic: %v (bcdr clean removes anything left)\n%s", p, debug.Stack())
			code = exitInternal
		}
	}()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, topUsage)
		if len(args) == 0 {
			return exitUsage
		}
		return exitPass
	}
	var err error
	code = exitPass
	switch args[0] {
	case "drill":
		code, err = cmdDrill(ctx, args[1:], stdout, stderr)
	case "search":
		code, err = cmdSearch(ctx, args[1:], stdout, stderr)
	case "shrink":
		code, err = cmdShrink(ctx, args[1:], stdout, stderr)
	case "scenarios":
		err = cmdScenarios(args[1:], stdout)
	case "faults":
		err = cmdFaults(args[1:], stdout)
	case "report":
		err = cmdReport(args[1:], stdout)
	case "validate":
		code, err = cmdValidate(ctx, args[1:], stdout, stderr)
	case "trend":
		err = cmdTrend(args[1:], stdout)
	case "check":
		code, err = cmdCheck(args[1:], stdout)
	case "up":
		code, err = cmdUp(ctx, args[1:], stdout, stderr)
	case "inject":
		err = cmdInject(ctx, args[1:], stdout)
	case "recover":
		err = cmdRecover(ctx, args[1:], stdout)
	case "status":
		err = cmdStatus(ctx, args[1:], stdout)
	case "down":
		err = cmdDown(ctx, args[1:], stdout, stderr)
	case "clean":
		err = cmdClean(ctx, args[1:], stdout, stderr)
	default:
		err = usagef("unknown command %q (bcdr --help lists them)", args[0])
	}
	if err == nil {
		return code
	}
	if errors.Is(err, errHelp) {
		return exitPass
	}
	fmt.Fprintln(stderr, "bcdr:", err)
	var ue *usageError
	var ke *harness.KnobError
	var fe *faults.Error
	var sfe *harness.ScenarioFileError
	var re *control.RequestError
	if errors.As(err, &ue) || errors.As(err, &ke) || errors.As(err, &fe) || errors.As(err, &sfe) || errors.As(err, &re) ||
		errors.Is(err, control.ErrNoState) {
		return exitUsage
	}
	if code != exitPass {
		return code
	}
	return exitInternal
}
