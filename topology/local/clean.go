package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/proc"
	"github.com/bcdr-harness/bcdr/topology/workdir"
)

// sweepHelp is the provider's part of bcdr clean --help.
func sweepHelp() string {
	return fmt.Sprintf(`  - AOS stub and PostgreSQL processes of bcdr runs whose bcdr process is gone
    (with --all: every one, running drills and environments included),
  - %s* work directories under %s whose owner (the pid and
    start time recorded inside) is gone, whatever their age; one without
    that record when no live process uses it and it is older than --min-age
    (with --all: every one); each directory kept is listed with the reason;
    with each, the System V shared memory segment a PostgreSQL server killed
    with its run left (named in the directory's postmaster.pid, nothing
    attached),
`, WorkDirPrefix, os.TempDir())
}

// sweep is the provider's part of bcdr clean (topology.ProviderDef.Sweep):
// the processes of runs whose bcdr process is gone, then the work
// directories whose owner is gone.
func sweep(_ context.Context, o topology.CleanOptions) error {
	killed, err := sweepProcesses(o)
	// The directories in use, and the shared memory a server holds, are
	// looked at once the killed processes have exited.
	waitExited(killed, 5*time.Second)
	return errors.Join(err, workdir.Sweep(WorkDirPrefix, o.MinAge, o.All, o.DryRun,
		func(d string) { o.Report("directory " + d) },
		func(d, why string) { o.Keep("directory "+d, why) }))
}

// sweepProcesses kills the orphaned processes of runs (with o.All: every
// one of ours) and returns the ones it killed.
func sweepProcesses(o topology.CleanOptions) ([]int, error) {
	procs := findOurProcesses()
	ours := map[int]bool{}
	for _, p := range procs {
		ours[p.pid] = true
	}
	var errs []error
	var killed []int
	killedGroups := map[int]bool{}
	for _, p := range procs {
		if ours[p.ppid] || !(o.All || orphaned(p, ours)) {
			continue
		}
		o.Report(fmt.Sprintf("process %d: %s", p.pid, p.what))
		if o.DryRun {
			continue
		}
		killed = append(killed, p.pid)
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
	return killed, errors.Join(errs...)
}

// waitExited waits, up to limit, until each of pids has exited (gone, or a
// zombie: its memory and attachments released).
func waitExited(pids []int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for _, pid := range pids {
		for !exited(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func exited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// ourProcess is a process a bcdr run started.
type ourProcess struct {
	pid, ppid, pgid int
	what            string
}

// findOurProcesses lists the AOS stubs and PostgreSQL servers of bcdr runs
// on this machine, from /proc.
func findOurProcesses() []ourProcess {
	var out []ourProcess
	proc.Walk(proc.Root, func(e proc.Entry) {
		argv, err := e.Argv()
		if err != nil || len(argv) == 0 {
			return
		}
		what := ""
		switch {
		case strings.Contains(strings.Join(argv, "\x00"), "cluster_name=bcdr-"):
			what = "postgres server"
		case strings.HasPrefix(argv[0], "postgres: bcdr-"):
			what = "postgres process"
		case slices.Contains(e.Environ(), RoleEnv+"=aos"):
			what = "AOS stub"
		default:
			return
		}
		st := e.Stat()
		out = append(out, ourProcess{pid: e.Pid, ppid: st.PPid, pgid: st.Pgid, what: what + " " + shortCmd(argv)})
	})
	return out
}

func shortCmd(argv []string) string {
	s := strings.Join(argv, " ")
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return "(" + s + ")"
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
	argv, err := proc.At(proc.Root, p.ppid).Argv()
	if err != nil {
		return true
	}
	// Parents that adopt orphans.
	name := ""
	if len(argv) > 0 {
		name = filepath.Base(argv[0])
	}
	switch name {
	case "init", "systemd", "tini", "dumb-init", "docker-init":
		return true
	}
	return false
}
