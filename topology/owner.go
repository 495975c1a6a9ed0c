package topology

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/bcdr-harness/bcdr/topology/workdir"
)

// The blast-radius guard: a fault acts only on what its run created. An
// environment records every process, proxy, container and network it
// creates in a Registry and answers Owns for it; the parts a fault acts on
// (an instance, a link, a region's SQL server) name the concrete things
// they touch as Targets; package faults asks the environment about each
// target before a fault strikes (faults.Guard), so a target the run did not
// create is refused before anything is done to it.

// Kinds of target.
const (
	TargetProcess   = "process"   // ID: the pid on this host
	TargetProxy     = "proxy"     // ID: the proxy's name and where it listens
	TargetContainer = "container" // ID: the Docker container id
	TargetNetwork   = "network"   // ID: the Docker network name
	TargetServer    = "server"    // ID: an in-process server's address (fake and embedded stores)
)

// Target is one concrete thing a fault acts on.
type Target struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// Name is what the run calls it (an instance id, a link name).
	Name string `json:"name,omitempty"`
}

func (t Target) String() string {
	if t.Name == "" {
		return t.Kind + " " + t.ID
	}
	return fmt.Sprintf("%s %s (%s)", t.Kind, t.ID, t.Name)
}

// ProcessTarget names a process by pid.
func ProcessTarget(pid int, name string) Target {
	return Target{Kind: TargetProcess, ID: strconv.Itoa(pid), Name: name}
}

// Targeter is a part of the environment (an instance, a link) that names
// the concrete things acting on it touches. Empty when it holds none now
// (a process that was never started).
type Targeter interface {
	Targets() []Target
}

// Parts of a region a fault can act on (PartTargeter).
const (
	PartSQL  = "sql"  // the region's SQL server
	PartBlob = "blob" // the region's blob store
	PartAll  = "all"  // everything Stop takes down
)

// PartTargeter is a region that names the targets of its parts.
type PartTargeter interface {
	PartTargets(part string) []Target
}

// Owner is an environment that knows what its run created.
type Owner interface {
	// Owns returns nil when the run created the target, else a
	// *NotOwnedError saying why not.
	Owns(ctx context.Context, t Target) error
}

// NotOwnedError is a target its run did not create.
type NotOwnedError struct {
	Target Target
	Run    string
	Why    string
}

func (e *NotOwnedError) Error() string {
	run := "this run"
	if e.Run != "" {
		run = "run " + e.Run
	}
	return fmt.Sprintf("%s is not %s's: %s", e.Target, run, e.Why)
}

// Registry records what one run created. It is safe for concurrent use;
// the zero value is not ready (NewRegistry).
type Registry struct {
	run string

	mu     sync.Mutex
	items  map[string]string // kind/id -> name
	starts map[int]uint64    // pid -> start time when registered
	checks map[string]func(context.Context, Target) error
}

// NewRegistry returns an empty registry for the run (its id, "" when the
// run has none).
func NewRegistry(run string) *Registry {
	return &Registry{run: run, items: map[string]string{}, starts: map[int]uint64{},
		checks: map[string]func(context.Context, Target) error{}}
}

func regKey(kind, id string) string { return kind + "/" + id }

// Add records a target the run created.
func (r *Registry) Add(t Target) {
	if r == nil || t.ID == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items[regKey(t.Kind, t.ID)] = t.Name
}

// AddProcess records a process the run started, with its start time, so
// that a pid reused by another process later is not taken for it.
func (r *Registry) AddProcess(pid int, name string) {
	if r == nil || pid <= 0 {
		return
	}
	start, _ := workdir.StartTime(pid)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items[regKey(TargetProcess, strconv.Itoa(pid))] = name
	r.starts[pid] = start
}

// Verify adds a check of the run's own for every target of a kind (the
// containers provider reads a container's run label).
func (r *Registry) Verify(kind string, check func(context.Context, Target) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks[kind] = check
}

// Owns implements Owner.
func (r *Registry) Owns(ctx context.Context, t Target) error {
	if r == nil {
		return &NotOwnedError{Target: t, Why: "the environment keeps no record of what it created"}
	}
	r.mu.Lock()
	_, ok := r.items[regKey(t.Kind, t.ID)]
	check := r.checks[t.Kind]
	var start uint64
	if t.Kind == TargetProcess {
		pid, _ := strconv.Atoi(t.ID)
		start = r.starts[pid]
	}
	r.mu.Unlock()
	if !ok {
		why := "the run did not create it"
		switch t.Kind {
		case TargetProcess:
			why = "no process this run's environment started has that pid"
		case TargetProxy:
			why = "no proxy of that name and address was registered by this run"
		case TargetContainer, TargetNetwork:
			why = "this run did not create it"
		}
		return &NotOwnedError{Target: t, Run: r.run, Why: why}
	}
	if t.Kind == TargetProcess && start != 0 {
		pid, _ := strconv.Atoi(t.ID)
		if now, alive := workdir.StartTime(pid); alive && now != start {
			return &NotOwnedError{Target: t, Run: r.run,
				Why: fmt.Sprintf("the pid now belongs to another process (started at tick %d; the run's started at tick %d)", now, start)}
		}
	}
	if check != nil {
		if err := check(ctx, t); err != nil {
			return &NotOwnedError{Target: t, Run: r.run, Why: err.Error()}
		}
	}
	return nil
}
