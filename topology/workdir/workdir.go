// Package workdir makes a run's work directory in the temp dir and records
// its owner in it: the process id and the process's start time, from
// /proc/PID/stat. bcdr clean reads the record back and removes a directory
// as soon as its owner is gone, whatever its age: a process id alone could
// have been taken by another process since, the pair cannot.
package workdir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// OwnerFile is the name of the owner record inside a work directory.
const OwnerFile = ".bcdr-owner"

// Owner is the process that made a work directory.
type Owner struct {
	Pid int
	// Start is the process's start time in clock ticks after boot (field 22
	// of /proc/PID/stat); 0 when /proc could not tell.
	Start uint64
}

// Create makes a directory in the temp dir named prefix followed by a random
// part (os.MkdirTemp) and records this process as its owner.
func Create(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	if err := WriteOwner(dir, Self()); err != nil {
		_ = os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// Self is this process as an owner.
func Self() Owner {
	o := Owner{Pid: os.Getpid()}
	o.Start, _ = StartTime(o.Pid)
	return o
}

// WriteOwner records o as the owner of dir.
func WriteOwner(dir string, o Owner) error {
	data := fmt.Sprintf("pid %d\nstart %d\n", o.Pid, o.Start)
	if err := os.WriteFile(filepath.Join(dir, OwnerFile), []byte(data), 0o644); err != nil {
		return fmt.Errorf("record the owner of %s: %w", dir, err)
	}
	return nil
}

// ErrNoOwner is returned by ReadOwner for a directory without a record (made
// before records were kept, or not by bcdr).
var ErrNoOwner = errors.New("no owner record")

// ReadOwner reads the owner record of dir.
func ReadOwner(dir string) (Owner, error) {
	b, err := os.ReadFile(filepath.Join(dir, OwnerFile))
	if errors.Is(err, os.ErrNotExist) {
		return Owner{}, ErrNoOwner
	}
	if err != nil {
		return Owner{}, err
	}
	var o Owner
	seen := 0
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		switch k {
		case "pid":
			if o.Pid, err = strconv.Atoi(v); err != nil || o.Pid <= 0 {
				return Owner{}, fmt.Errorf("owner record of %s: bad pid %q", dir, v)
			}
			seen++
		case "start":
			if o.Start, err = strconv.ParseUint(v, 10, 64); err != nil {
				return Owner{}, fmt.Errorf("owner record of %s: bad start time %q", dir, v)
			}
		}
	}
	if seen == 0 {
		return Owner{}, fmt.Errorf("owner record of %s: no pid", dir)
	}
	return o, nil
}

// Alive tells whether the owner still runs: its process id is taken by a
// live (not zombie) process that started when the owner did.
func (o Owner) Alive() bool {
	if o.Pid <= 0 {
		return false
	}
	start, state, err := stat(o.Pid)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false
		}
		// No /proc to read: ask the kernel.
		err := syscall.Kill(o.Pid, 0)
		return err == nil || errors.Is(err, syscall.EPERM)
	}
	if state == 'Z' || state == 'X' {
		return false
	}
	return o.Start == 0 || start == o.Start
}

func (o Owner) String() string { return fmt.Sprintf("pid %d (start time %d)", o.Pid, o.Start) }

// StartTime reads a process's start time (clock ticks after boot).
func StartTime(pid int) (uint64, bool) {
	start, _, err := stat(pid)
	return start, err == nil
}

// stat reads the state and start time of a process from /proc/PID/stat.
func stat(pid int) (start uint64, state byte, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses, so
	// the fields are counted from the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: no command", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); the start time is field 22.
	if len(f) < 20 || len(f[0]) == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: start time %q", pid, f[19])
	}
	return start, f[0][0], nil
}
