package pgship

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// osUser is who the PostgreSQL processes run as. When the harness runs as
// root it is the "postgres" account (PostgreSQL refuses root); otherwise it
// is the harness's own user and cred is nil.
type osUser struct {
	cred     *syscall.Credential
	uid, gid int
}

func lookupOSUser() (osUser, error) {
	if os.Geteuid() != 0 {
		return osUser{uid: -1, gid: -1}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return osUser{}, fmt.Errorf("running as root, and PostgreSQL refuses root: look up OS user postgres: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return osUser{}, fmt.Errorf("OS user postgres has non-numeric ids %q/%q", u.Uid, u.Gid)
	}
	return osUser{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid: uid, gid: gid}, nil
}

// chown gives a path to the PostgreSQL OS user (no-op when not root).
func (u osUser) chown(path string) error {
	if u.cred == nil {
		return nil
	}
	if err := os.Chown(path, u.uid, u.gid); err != nil {
		return fmt.Errorf("chown %s to postgres: %w", path, err)
	}
	return nil
}

// mkdir creates a directory owned by the PostgreSQL OS user.
func (u osUser) mkdir(path string, mode os.FileMode) error {
	if err := os.MkdirAll(path, mode); err != nil {
		return err
	}
	if err := os.Chmod(path, mode); err != nil {
		return err
	}
	return u.chown(path)
}

// sysProcAttr starts a child in its own process group, killed if the
// harness dies, as the PostgreSQL OS user.
func (u osUser) sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: u.cred}
}

// ensureTraversable makes sure the PostgreSQL OS user can reach dir: every
// ancestor needs the search (x) bit for others. It adds only that bit, never
// read or write, and only when running as root.
func (u osUser) ensureTraversable(dir string, logf func(string, ...any)) error {
	if u.cred == nil {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for d := abs; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				return fmt.Errorf("make %s traversable for OS user postgres: %w", d, err)
			}
			logf("pgship: added search permission to %s so that OS user postgres can reach the work dir", d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// Pdeathsig fires when the OS *thread* that forked the child exits, not the
// process. Children are therefore forked from one goroutine locked to its
// thread for the life of the process: they die with the harness and only then.
var (
	spawnOnce sync.Once
	spawnCh   chan func()
)

func onSpawnThread(f func()) {
	spawnOnce.Do(func() {
		spawnCh = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for f := range spawnCh {
				f()
			}
		}()
	})
	done := make(chan struct{})
	spawnCh <- func() { defer close(done); f() }
	<-done
}

// startCmd starts cmd from the spawn thread.
func startCmd(cmd *exec.Cmd) (err error) {
	onSpawnThread(func() { err = cmd.Start() })
	return err
}

// runTool runs a PostgreSQL client program (initdb, pg_basebackup) to
// completion and returns its combined output in the error.
func (u osUser) runTool(ctx context.Context, dir string, env []string, bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = u.sysProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := startCmd(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(redact(args), " "), err, lastLines(out.String(), 8))
	}
	return nil
}

func redact(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.Contains(a, "password=") {
			a = "<conninfo>"
		}
		out[i] = a
	}
	return out
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// server is one postmaster run as a direct child process.
type server struct {
	name    string
	bin     string // path of the postgres binary
	dataDir string
	args    []string // command line after -D
	logPath string
	env     []string
	user    osUser

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the postmaster has been reaped
	closed  bool          // set by shutdown: never start again
	logDone chan struct{} // closed when the server's output is all in the log file
	onStart func(pid int) // told the postmaster's pid at every start
}

// logFlushed waits (briefly) until the output of an exited server is all in
// its log file.
func (s *server) logFlushed() {
	s.mu.Lock()
	done := s.logDone
	s.mu.Unlock()
	if done == nil {
		return
	}
	select {
	case <-done:
	case <-time.After(time.Second):
	}
}

// shutdown kills the server for good: later starts fail.
func (s *server) shutdown() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return s.kill()
}

// start launches the postmaster; it does not wait for it to accept
// connections (see Pair.waitReady).
func (s *server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	if s.cmd != nil {
		select {
		case <-s.done:
		default:
			return nil // already running
		}
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open server log: %w", err)
	}
	// The server writes to a pipe that filterLog copies into the log file;
	// the copy ends when the last process holding the pipe exits.
	pr, pw, err := os.Pipe()
	if err != nil {
		logf.Close()
		return err
	}
	cmd := exec.Command(s.bin, append([]string{"-D", s.dataDir}, s.args...)...)
	cmd.Dir = filepath.Dir(s.dataDir)
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = s.user.sysProcAttr()
	err = startCmd(cmd)
	pw.Close()
	if err != nil {
		pr.Close()
		logf.Close()
		return fmt.Errorf("start postgres for region %s: %w", s.name, err)
	}
	logDone := make(chan struct{})
	go func() { defer close(logDone); filterLog(pr, logf) }()
	s.logDone = logDone
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	if s.onStart != nil {
		s.onStart(cmd.Process.Pid)
	}
	return nil
}

// noisyLogLine is logged by a standby at every attempt to fetch WAL (20 a
// second with wal_retrieve_retry_interval=50ms); the log keeps the rest.
const noisyLogLine = "waiting for WAL to become available at"

// filterLog copies the server's output into its log file, without the
// standby's per-retry line.
func filterLog(r *os.File, w *os.File) {
	defer r.Close()
	defer w.Close()
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" && !strings.Contains(line, noisyLogLine) {
			_, _ = w.WriteString(line)
		}
		if err != nil {
			return
		}
	}
}

// running reports whether the postmaster process is alive.
func (s *server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// exited returns a channel closed when the current postmaster exits (nil if
// none was started).
func (s *server) exited() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

// kill crashes the server: the postmaster and every process it forked get
// SIGKILL, as a power loss would. It returns once they are all gone and the
// server's System V shared memory block is removed.
func (s *server) kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	pid := s.cmd.Process.Pid
	select {
	case <-s.done:
	default:
		victims := freezeTree(pid)
		for _, v := range victims {
			_ = syscall.Kill(v.pid, syscall.SIGKILL)
		}
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGKILL)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("postgres of region %s (pid %d) did not exit after SIGKILL", s.name, pid)
		}
		deadline := time.Now().Add(10 * time.Second)
		for _, v := range victims {
			for v.alive() {
				if time.Now().After(deadline) {
					return fmt.Errorf("postgres child %d of region %s survived SIGKILL", v.pid, s.name)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	removeSysVShm(s.dataDir)
	return nil
}

// freezeTree stops pid and every descendant with SIGSTOP and returns the
// descendants, so that they can all be killed with nothing forked in
// between. A stop is asynchronous: a process in the middle of fork() stops
// only after its child exists, and that child (the archiver's shell, then
// its cp) may appear after a scan. So the tree is scanned again until a
// scan finds nothing new and every process in it is seen stopped (or gone):
// only then can none of them fork any more.
func freezeTree(pid int) []proc {
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	root := proc{pid: pid}
	if st, err := readStat(pid); err == nil {
		root.start = st.start
	}
	var victims []proc
	deadline := time.Now().Add(2 * time.Second)
	for {
		found := descendants(pid)
		for _, v := range found {
			_ = syscall.Kill(v.pid, syscall.SIGSTOP)
		}
		merged := mergeProcs(victims, found)
		grew := len(merged) > len(victims)
		victims = merged
		if !grew && allStopped(append([]proc{root}, victims...)) || time.Now().After(deadline) {
			return victims
		}
		time.Sleep(time.Millisecond)
	}
}

// allStopped reports whether every process is stopped or gone.
func allStopped(ps []proc) bool {
	for _, p := range ps {
		st, err := readStat(p.pid)
		if err != nil || p.start != "" && st.start != p.start {
			continue // gone
		}
		switch st.state {
		case "T", "t", "Z", "X":
		default:
			return false
		}
	}
	return true
}

// postmaster returns the pid of the running postmaster (0 when none).
func (s *server) postmaster() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	select {
	case <-s.done:
		return 0
	default:
	}
	return s.cmd.Process.Pid
}

// pids returns the postmaster and its current descendants (for tests).
func (s *server) pids() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	select {
	case <-s.done:
		return nil
	default:
	}
	out := []int{s.cmd.Process.Pid}
	for _, d := range descendants(s.cmd.Process.Pid) {
		out = append(out, d.pid)
	}
	return out
}

// proc identifies a process by pid and start time, so that a reused pid is
// not mistaken for the original.
type proc struct {
	pid   int
	start string
}

func (p proc) alive() bool {
	st, err := readStat(p.pid)
	if err != nil {
		return false
	}
	return st.start == p.start && st.state != "Z" && st.state != "X"
}

type procStat struct {
	ppid  int
	state string
	start string
}

// readStat parses /proc/pid/stat (fields after the command name).
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("bad stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return procStat{}, errors.New("short stat")
	}
	ppid, _ := strconv.Atoi(f[1])
	return procStat{ppid: ppid, state: f[0], start: f[19]}, nil
}

// descendants lists every live descendant of pid, found through /proc.
func descendants(pid int) []proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]proc{}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(n)
		if err != nil {
			continue
		}
		children[st.ppid] = append(children[st.ppid], proc{pid: n, start: st.start})
	}
	var out []proc
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
	}
	return out
}

func mergeProcs(a, b []proc) []proc {
	seen := map[proc]bool{}
	var out []proc
	for _, p := range append(a, b...) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// removeSysVShm removes the small System V shared memory block a crashed
// postmaster leaves behind (its key and id are on line 7 of postmaster.pid).
func removeSysVShm(dataDir string) {
	f, err := os.Open(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for i := 1; sc.Scan(); i++ {
		if i != 7 {
			continue
		}
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 {
			if id, err := strconv.Atoi(fields[1]); err == nil && id >= 0 {
				_, _, _ = syscall.Syscall(syscall.SYS_SHMCTL, uintptr(id), 0 /* IPC_RMID */, 0)
			}
		}
		return
	}
}

// pgInterlockShmSize is the size of the System V segment a PostgreSQL
// postmaster keeps only as an interlock (its main shared memory is mmap).
const pgInterlockShmSize = 56

// sweepOrphanedShm removes the interlock segments that postmasters of the
// OS user uid left behind when they were killed without cleanup (the
// harness itself was killed): nothing is attached and their creator is
// dead, so no server uses them; PostgreSQL removes such segments itself on
// restart. It returns how many it removed.
func sweepOrphanedShm(uid int) int {
	b, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 10 {
			continue
		}
		id, err1 := strconv.Atoi(f[1])
		size, err2 := strconv.Atoi(f[3])
		cpid, err3 := strconv.Atoi(f[4])
		nattch, err4 := strconv.Atoi(f[6])
		cuid, err5 := strconv.Atoi(f[9])
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil {
			continue
		}
		if size != pgInterlockShmSize || nattch != 0 || cuid != uid {
			continue
		}
		if st, err := readStat(cpid); err == nil && st.state != "Z" && st.state != "X" {
			continue // its creator still runs
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_SHMCTL, uintptr(id), 0 /* IPC_RMID */, 0); errno == 0 {
			n++
		}
	}
	return n
}
