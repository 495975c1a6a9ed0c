package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/workdir"
)

// sweepHelp is the provider's part of bcdr clean --help.
func sweepHelp() string {
	return fmt.Sprintf(`  - AOS stub and PostgreSQL processes of bcdr runs whose bcdr process is gone
    (with --all: every one, running drills and environments included),
  - %s* work directories under %s whose owner (the pid and
    start time recorded inside) is gone, whatever their age; one without
    that record when no live process uses it and it is older than --min-age
    (with --all: every one); each directory kept is listed with the reason,
`, WorkDirPrefix, os.TempDir())
}

// sweep is the provider's part of bcdr clean (topology.ProviderDef.Sweep):
// the processes of runs whose bcdr process is gone, then the work
// directories whose owner is gone.
func sweep(_ context.Context, o topology.CleanOptions) error {
	n, err := sweepProcesses(o)
	if n > 0 {
		// Let the kernel reap them before looking at directories in use.
		time.Sleep(200 * time.Millisecond)
	}
	return errors.Join(err, workdir.Sweep(WorkDirPrefix, o.MinAge, o.All, o.DryRun,
		func(d string) { o.Report("directory " + d) },
		func(d, why string) { o.Keep("directory "+d, why) }))
}

// sweepProcesses kills the orphaned processes of runs (with o.All: every
// one of ours) and returns how many it found.
func sweepProcesses(o topology.CleanOptions) (int, error) {
	procs := findOurProcesses()
	ours := map[int]bool{}
	for _, p := range procs {
		ours[p.pid] = true
	}
	var errs []error
	n := 0
	killedGroups := map[int]bool{}
	for _, p := range procs {
		if ours[p.ppid] || !(o.All || orphaned(p, ours)) {
			continue
		}
		o.Report(fmt.Sprintf("process %d: %s", p.pid, p.what))
		n++
		if o.DryRun {
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
	return n, errors.Join(errs...)
}

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
				if kv == RoleEnv+"=aos" {
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
