package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bcdr-harness/bcdr/control"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/local"
	"github.com/bcdr-harness/bcdr/topology/workdir"
)

// ourProcess is a process a bcdr run started.
type ourProcess struct {
	pid, ppid, pgid int
	what            string
}

// findOurProcesses lists the AOS stubs and PostgreSQL servers of bcdr runs
// on this machine, from /proc.
func findOurProcesses() []ourProcess {
	ents, _ := os.ReadDir("/proc")
	var out []ourProcess
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(cmd) == 0 {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")
		what := ""
		switch {
		case strings.Contains(string(cmd), "cluster_name=bcdr-"):
			what = "postgres server"
		case strings.HasPrefix(argv[0], "postgres: bcdr-"):
			what = "postgres process"
		default:
			env, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
			for _, kv := range strings.Split(string(env), "\x00") {
				if kv == "BCDR_ROLE=aos" {
					what = "AOS stub"
				}
			}
		}
		if what == "" {
			continue
		}
		ppid, pgid := statFields(pid)
		out = append(out, ourProcess{pid: pid, ppid: ppid, pgid: pgid, what: what + " " + shortCmd(argv)})
	}
	return out
}

func shortCmd(argv []string) string {
	s := strings.Join(argv, " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return "(" + s + ")"
}

// statFields reads the parent pid and process group from /proc/PID/stat.
func statFields(pid int) (ppid, pgid int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0
	}
	f := strings.Fields(s[i+1:]) // state ppid pgrp ...
	if len(f) < 3 {
		return 0, 0
	}
	ppid, _ = strconv.Atoi(f[1])
	pgid, _ = strconv.Atoi(f[2])
	return ppid, pgid
}

// orphaned tells whether a process lost the bcdr process that started it:
// its parent is gone (re-parented to init or a subreaper that is not ours).
func orphaned(p ourProcess, ours map[int]bool) bool {
	if p.ppid <= 1 {
		return true
	}
	if ours[p.ppid] {
		return false // a postgres backend under its postmaster: judged with the postmaster
	}
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.ppid))
	if err != nil {
		return true
	}
	// Parents that adopt orphans.
	name := filepath.Base(strings.SplitN(string(cmd), "\x00", 2)[0])
	switch name {
	case "init", "systemd", "tini", "dumb-init", "docker-init":
		return true
	}
	return false
}

func cmdClean(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("clean", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := stateFlag(fs)
	all := fs.Bool("all", false, "also stop running environments and drills of bcdr (every process of ours, every temp dir)")
	runID := fs.String("run-id", "", "containers: clean only this run's containers (default: every bcdr run's)")
	docker := fs.Bool("containers", true, "also run each provider's own clean-up (containers: bcdr containers, networks and volumes, when Docker answers)")
	dry := fs.Bool("dry-run", false, "list what would be removed, remove nothing")
	minAge := fs.Duration("min-age", time.Minute, "leave work directories without an owner record younger than this (a run may be starting there)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, `Usage: bcdr clean [--all] [--dry-run] [--state DIR] [--min-age D] [--run-id ID] [--containers=false]

Removes what runs that were killed left behind, so the machine is as before:
  - AOS stub and PostgreSQL processes of bcdr runs whose bcdr process is gone
    (with --all: every one, running drills and environments included),
  - bcdr-run-* work directories under %s whose owner (the pid and
    start time recorded inside) is gone, whatever their age; one without
    that record when no live process uses it and it is older than --min-age
    (with --all: every one); each directory kept is listed with the reason,
  - the state file under --state when its process is gone,
  - what each provider's own clean-up removes (--containers=false: none):
%s
Flags:
`, os.TempDir(), providerCleanHelp())
			printFlags(stdout, fs)
			return errHelp
		}
		return usagef("clean: %v", err)
	}
	if fs.NArg() > 0 {
		return usagef("clean: unexpected argument %q", fs.Arg(0))
	}
	act := func(format string, args ...any) {
		prefix := "removed "
		if *dry {
			prefix = "would remove "
		}
		fmt.Fprintf(stdout, prefix+format+"\n", args...)
	}
	var errs []error
	n := 0

	// 1. The environment of bcdr up, when its process is gone (or --all).
	if st, err := control.ReadState(*dir); err == nil {
		switch {
		case !control.Alive(st.Pid):
			act("the state file of a gone environment (pid %d)", st.Pid)
			if !*dry {
				errs = append(errs, control.RemoveState(*dir))
			}
			n++
		case *all:
			act("the running environment of pid %d (bcdr down)", st.Pid)
			if !*dry {
				errs = append(errs, cmdDown(ctx, []string{"--state", *dir}, io.Discard, stderr))
			}
			n++
		default:
			fmt.Fprintf(stdout, "kept the running environment under %s (pid %d; bcdr down, or clean --all)\n", *dir, st.Pid)
		}
	}

	// 2. Processes.
	procs := findOurProcesses()
	ours := map[int]bool{}
	for _, p := range procs {
		ours[p.pid] = true
	}
	killedGroups := map[int]bool{}
	for _, p := range procs {
		if ours[p.ppid] || !(*all || orphaned(p, ours)) {
			continue
		}
		act("process %d: %s", p.pid, p.what)
		n++
		if *dry {
			continue
		}
		// Each child of a run leads its own process group (postmaster and
		// its backends together).
		if p.pgid == p.pid && !killedGroups[p.pgid] {
			killedGroups[p.pgid] = true
			_ = syscall.Kill(-p.pgid, syscall.SIGKILL)
		}
		if err := syscall.Kill(p.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("kill %d: %w", p.pid, err))
		}
	}
	if len(killedGroups) > 0 || n > 0 {
		// Let the kernel reap them before looking at directories in use.
		time.Sleep(200 * time.Millisecond)
	}

	// 3. Work directories: removed as soon as the owner recorded inside
	// (pid and start time) is gone, whatever their age; one without a
	// record (an older bcdr's) when no live process uses it and it is older
	// than --min-age. Every one kept is listed with the reason.
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), local.WorkDirPrefix+"*"))
	inUse := dirsInUse()
	for _, d := range dirs {
		if keep := keepWorkDir(d, inUse, *minAge); keep != "" && !*all {
			fmt.Fprintf(stdout, "kept directory %s: %s\n", d, keep)
			continue
		}
		act("directory %s", d)
		n++
		if !*dry {
			if err := os.RemoveAll(d); err != nil {
				errs = append(errs, err)
			}
		}
	}

	// 4. What each provider left outside this machine's processes and
	// work directories (containers: Docker containers, networks, volumes).
	if *docker {
		for _, d := range topology.ProviderDefs() {
			if d.Clean == nil {
				continue
			}
			lines, err := d.Clean(ctx, topology.CleanOptions{RunID: *runID, DryRun: *dry})
			if err != nil {
				errs = append(errs, fmt.Errorf("%s provider: %w", d.Name, err))
			}
			for _, l := range lines {
				act("%s", l)
				n++
			}
		}
	}
	if n == 0 {
		fmt.Fprintln(stdout, "nothing to clean")
	}
	return errors.Join(errs...)
}

// providerCleanHelp lists what each registered provider's clean-up removes.
func providerCleanHelp() string {
	var b strings.Builder
	for _, d := range topology.ProviderDefs() {
		if d.Clean != nil {
			fmt.Fprintf(&b, "      %s: %s\n", d.Name, d.CleanHelp)
		}
	}
	return b.String()
}

// keepWorkDir tells why a work directory must stay ("" = it may go).
func keepWorkDir(d string, inUse func(string) bool, minAge time.Duration) string {
	owner, err := workdir.ReadOwner(d)
	switch {
	case err == nil && owner.Alive():
		return fmt.Sprintf("its owner, %s, is running", owner)
	case inUse(d):
		return "a live process uses it"
	case err == nil:
		return "" // its owner is gone
	}
	why := "no owner record"
	if !errors.Is(err, workdir.ErrNoOwner) {
		why = err.Error()
	}
	if fi, serr := os.Stat(d); serr == nil && time.Since(fi.ModTime()) < minAge {
		return fmt.Sprintf("%s, and younger than --min-age %s (a run may be starting there)", why, minAge)
	}
	return ""
}

// dirsInUse returns a test for whether a live process names a directory in
// its command line or has it as its working directory.
func dirsInUse() func(string) bool {
	var cmdlines, cwds []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil {
			cmdlines = append(cmdlines, string(b))
		}
		if c, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err == nil {
			cwds = append(cwds, c)
		}
	}
	return func(d string) bool {
		for _, c := range cmdlines {
			if strings.Contains(c, d) {
				return true
			}
		}
		for _, c := range cwds {
			if c == d || strings.HasPrefix(c, d+"/") {
				return true
			}
		}
		return false
	}
}
