package proc

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Root is where the kernel shows this machine's processes.
const Root = "/proc"

// Entry is one process under a /proc root. Its files are read when asked
// for: a process may be gone by then, and the readers then return their
// zero value (or an error).
type Entry struct {
	Pid int
	dir string
}

// Walk calls f with every process under root (Root on a live machine) but
// the caller's own, in the directory's order.
func Walk(root string, f func(Entry)) {
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		f(At(root, pid))
	}
}

// At is the process pid under root.
func At(root string, pid int) Entry {
	return Entry{Pid: pid, dir: filepath.Join(root, strconv.Itoa(pid))}
}

// File reads the process's file name (maps, status, ...).
func (e Entry) File(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(e.dir, name))
}

// Argv is the process's command line, nil when it is empty (a kernel
// thread, a zombie); an error when it cannot be read (the process is gone).
func (e Entry) Argv() ([]string, error) {
	b, err := e.File("cmdline")
	if err != nil || len(b) == 0 {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), nil
}

// Environ is the process's environment as KEY=value strings (nil when it
// cannot be read: another user's process, or one that is gone).
func (e Entry) Environ() []string {
	b, err := e.File("environ")
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// Exe is the path of the process's executable ("" when it cannot be read);
// a binary replaced or removed since it started ends in " (deleted)".
func (e Entry) Exe() string {
	s, _ := os.Readlink(filepath.Join(e.dir, "exe"))
	return s
}

// Cwd is the process's working directory ("" when it cannot be read).
func (e Entry) Cwd() string {
	s, _ := os.Readlink(filepath.Join(e.dir, "cwd"))
	return s
}

// Stat is what a process's stat file says of its place among the others.
type Stat struct {
	State      byte // R, S, D, Z (a zombie), T, ...
	PPid, Pgid int
}

// Stat reads the process's state, parent and process group (zero when
// the file cannot be read or parsed). The command name in the file may
// hold spaces and parentheses: the fields are read after its last ')'.
func (e Entry) Stat() Stat {
	b, err := e.File("stat")
	if err != nil {
		return Stat{}
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Stat{}
	}
	f := strings.Fields(s[i+1:]) // state ppid pgrp ...
	if len(f) < 3 {
		return Stat{}
	}
	st := Stat{State: f[0][0]}
	st.PPid, _ = strconv.Atoi(f[1])
	st.Pgid, _ = strconv.Atoi(f[2])
	return st
}
