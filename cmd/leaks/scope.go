package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/bcdr-harness/bcdr/topology/proc"
)

// What the campaign looks for: on this machine, and what the provider
// lists of its own (topology.ProviderDef.LeftoverKinds), before the work
// dirs (setKinds).
var kinds = []string{"processes", "listening ports", "SysV shared memory", "POSIX shared memory", "work dirs"}

// setKinds adds the provider's own kinds of leftovers to kinds.
func setKinds(provider []string) {
	n := len(kinds)
	kinds = append(append(kinds[:n-1:n-1], provider...), kinds[n-1])
}

// leftovers lists what was found, by kind.
type leftovers map[string][]string

func (l leftovers) total() int {
	n := 0
	for _, v := range l {
		n += len(v)
	}
	return n
}

func (l leftovers) summary() string {
	var parts []string
	for _, k := range kinds {
		if n := len(l[k]); n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// scope is what belongs to the campaign: its binary, its temp dir, its
// runs' ids, and the shared memory that existed before it started.
type scope struct {
	bin, tmp string
	// provider lists what the provider's runs left outside this machine's
	// processes and work dirs (nil = nothing there).
	provider  func(ctx context.Context, runID string) (map[string][]string, error)
	runKinds  []string
	runIDs    []string
	shmBefore map[string]bool
}

// find looks for what the campaign's drills left; full adds the shared
// memory and Docker (slower) to the processes, ports and work dirs.
func (s *scope) find(full bool) leftovers {
	l := leftovers{}
	pids := s.processes(l)
	l["listening ports"] = listening(pids)
	if ents, err := os.ReadDir(s.tmp); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "bcdr-") {
				l["work dirs"] = append(l["work dirs"], filepath.Join(s.tmp, e.Name()))
			}
		}
	}
	if !full {
		return l
	}
	mapped := mappedShm()
	for name, nattch := range sharedMemory() {
		if s.shmBefore[name] {
			continue
		}
		if strings.HasPrefix(name, "sysv ") {
			if nattch == "0" {
				l["SysV shared memory"] = append(l["SysV shared memory"], name)
			}
		} else if !mapped[name] {
			l["POSIX shared memory"] = append(l["POSIX shared memory"], name)
		}
	}
	if s.provider != nil {
		for _, id := range s.runIDs {
			got, err := s.provider(context.Background(), id)
			if err != nil {
				// Not looked at is not nothing: counted as left.
				l[s.runKinds[0]] = append(l[s.runKinds[0]], "list what run "+id+" left: "+err.Error())
			}
			for k, v := range got {
				l[k] = append(l[k], v...)
			}
		}
	}
	return l
}

// processes lists (into l) and returns the campaign's live processes: the
// bcdr binary it built (drills and the AOS stubs they re-execute) and
// PostgreSQL processes working in its temp dir.
func (s *scope) processes(l leftovers) []int {
	var pids []int
	proc.Walk(proc.Root, func(e proc.Entry) {
		argv, _ := e.Argv()
		what := ""
		switch {
		case strings.TrimSuffix(e.Exe(), " (deleted)") == s.bin:
			what = "bcdr"
		case strings.HasPrefix(e.Cwd(), s.tmp+"/") || strings.Contains(strings.Join(argv, "\x00"), s.tmp+"/"):
			what = "postgres"
		default:
			return
		}
		if e.Stat().State == 'Z' {
			return // a zombie holds nothing
		}
		pids = append(pids, e.Pid)
		cmd := strings.Join(argv, " ")
		if len(cmd) > 80 {
			cmd = cmd[:80] + "..."
		}
		l["processes"] = append(l["processes"], fmt.Sprintf("%d %s: %s", e.Pid, what, cmd))
	})
	return pids
}

// listening lists the TCP ports the processes listen on.
func listening(pids []int) []string {
	if len(pids) == 0 {
		return nil
	}
	inodes := map[string]int{}
	for _, pid := range pids {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			t, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if in, ok := strings.CutPrefix(t, "socket:["); ok {
				inodes[strings.TrimSuffix(in, "]")] = pid
			}
		}
	}
	var out []string
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != "0A" { // 0A: LISTEN
				continue
			}
			if pid, ok := inodes[fs[9]]; ok {
				port, _ := strconv.ParseInt(fs[1][strings.LastIndexByte(fs[1], ':')+1:], 16, 32)
				out = append(out, fmt.Sprintf("port %d (pid %d)", port, pid))
			}
		}
	}
	sort.Strings(out)
	return out
}

// sharedMemory maps each System V segment ("sysv KEY/ID" to its attach
// count) and PostgreSQL's POSIX segments ("/dev/shm/NAME").
func sharedMemory() map[string]string {
	out := map[string]string{}
	b, _ := os.ReadFile("/proc/sysvipc/shm")
	for _, line := range strings.Split(string(b), "\n")[1:] {
		fs := strings.Fields(line)
		if len(fs) >= 7 {
			out["sysv "+fs[0]+"/"+fs[1]] = fs[6]
		}
	}
	ents, _ := os.ReadDir("/dev/shm")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "PostgreSQL.") {
			out["/dev/shm/"+e.Name()] = ""
		}
	}
	return out
}

// mappedShm is the set of /dev/shm files some live process maps.
func mappedShm() map[string]bool {
	out := map[string]bool{}
	proc.Walk(proc.Root, func(e proc.Entry) {
		b, _ := e.File("maps")
		for _, line := range strings.Split(string(b), "\n") {
			if i := strings.Index(line, "/dev/shm/"); i >= 0 {
				out[strings.TrimSuffix(line[i:], " (deleted)")] = true
			}
		}
	})
	return out
}
