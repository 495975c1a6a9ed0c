// Package proc starts and signals the child processes of the embedded
// provider. Every child gets its own process group and dies with the
// harness (Pdeathsig), so nothing outlives a run, even one killed with -9.
// Walk lists this machine's processes from /proc, for the clean-up and the
// leak campaign that look for the ones of ours.
package proc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// Process is a child process that can be crashed, frozen and restarted.
type Process struct {
	name string
	argv []string
	env  []string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	frozen  bool
	onStart func(pid int)
}

// OnStart sets a function told the pid of every start (the environment
// records its processes for the blast-radius guard).
func (p *Process) OnStart(f func(pid int)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.onStart = f
}

// New describes a process; Start runs it.
func New(name string, argv, env []string) *Process {
	return &Process{name: name, argv: argv, env: env}
}

// Start runs the process (again, after a Kill).
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return nil // already running
		}
	}
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if os.Getenv("BCDR_CHILD_OUTPUT") != "" {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done, p.frozen = cmd, done, false
	if p.onStart != nil {
		p.onStart(cmd.Process.Pid)
	}
	return nil
}

// Pid returns the process id (0 when never started).
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Alive tells whether the process runs and is not frozen.
func (p *Process) Alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running() && !p.frozen
}

func (p *Process) running() bool {
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *Process) signal(sig syscall.Signal) error {
	if !p.running() {
		return nil
	}
	// The whole group: the process and anything it started.
	if err := syscall.Kill(-p.cmd.Process.Pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal %s to %s: %w", sig, p.name, err)
	}
	return nil
}

// Kill crashes the process (SIGKILL) and waits until it is gone.
func (p *Process) Kill() error {
	p.mu.Lock()
	if !p.running() {
		p.mu.Unlock()
		return nil
	}
	err := p.signal(syscall.SIGKILL)
	done := p.done
	p.frozen = false
	p.mu.Unlock()
	if err != nil {
		return err
	}
	<-done
	return nil
}

// Freeze stops the process (SIGSTOP): its sockets stay open and hang.
func (p *Process) Freeze() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running() {
		return fmt.Errorf("freeze %s: not running", p.name)
	}
	if err := p.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	p.frozen = true
	return nil
}

// Thaw resumes a frozen process (SIGCONT).
func (p *Process) Thaw() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.signal(syscall.SIGCONT); err != nil {
		return err
	}
	p.frozen = false
	return nil
}
