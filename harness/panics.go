package harness

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// The panic guard: a panic anywhere in a drill (the runner, the workload,
// the runbook, a fault) stops the drill, and Run still releases everything
// (processes, work directory, containers) and returns a *PanicError, so the
// command exits non-zero with one clear message instead of dying with
// its environment left behind. A goroutine of the run is started with
// goSafe, which hands its panic to the run (found in its context).

// PanicError is a panic caught inside a drill.
type PanicError struct {
	Where string // the runner, the workload, the runbook, a fault
	Value any
	Stack string
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("panic in %s: %v (the environment was torn down)", e.Where, e.Value)
}

// panicTrap collects the first panic of a run's goroutines and stops the run.
type panicTrap struct {
	stop context.CancelFunc
	once sync.Once
	mu   sync.Mutex
	err  *PanicError
}

type panicTrapKey struct{}

// withPanicTrap returns a context that goSafe reports panics to, and the
// trap; a panic cancels the returned context.
func withPanicTrap(ctx context.Context) (context.Context, *panicTrap, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	t := &panicTrap{stop: cancel}
	return context.WithValue(ctx, panicTrapKey{}, t), t, cancel
}

func (t *panicTrap) catch(where string, p any) {
	t.once.Do(func() {
		t.mu.Lock()
		t.err = &PanicError{Where: where, Value: p, Stack: string(debug.Stack())}
		t.mu.Unlock()
		t.stop()
	})
}

// Err is the first panic caught (nil when none).
func (t *panicTrap) Err() *PanicError {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// goSafe runs f in a goroutine; a panic in it is handed to the run whose
// context ctx is (and re-raised when ctx belongs to no run).
func goSafe(ctx context.Context, where string, f func()) {
	go func() {
		defer recoverTo(ctx, where)
		f()
	}()
}

// recoverTo hands a panic of the current goroutine to the run of ctx.
func recoverTo(ctx context.Context, where string) {
	p := recover()
	if p == nil {
		return
	}
	t, ok := ctx.Value(panicTrapKey{}).(*panicTrap)
	if !ok {
		panic(p)
	}
	t.catch(where, p)
}

// TestPanicEnv makes a drill panic on purpose, for tests of the panic guard
// only (the leak campaign, cmd/leaks): "DURATION" (wall time after the
// drill starts) panics in a goroutine of the run, "main:DURATION" in the
// runner itself at its next step after that time. Never set it otherwise.
const TestPanicEnv = "BCDR_TEST_PANIC_AT"

// testPanic is the injected panic's schedule from TestPanicEnv.
type testPanic struct {
	at   time.Time
	main bool
}

func readTestPanic(start time.Time) *testPanic {
	v := os.Getenv(TestPanicEnv)
	if v == "" {
		return nil
	}
	tp := &testPanic{}
	if s, ok := strings.CutPrefix(v, "main:"); ok {
		tp.main, v = true, s
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		fmt.Fprintf(os.Stderr, "bcdr: ignoring %s=%q (want a duration, or main:DURATION)\n", TestPanicEnv, os.Getenv(TestPanicEnv))
		return nil
	}
	tp.at = start.Add(d)
	return tp
}

// start arms a goroutine panic (the main one is raised by due).
func (tp *testPanic) start(ctx context.Context) {
	if tp == nil || tp.main {
		return
	}
	goSafe(ctx, "a test goroutine ("+TestPanicEnv+")", func() {
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(tp.at)):
			panic("deliberate test panic (" + TestPanicEnv + ")")
		}
	})
}

// due raises the runner's own panic once its time has come.
func (tp *testPanic) due() {
	if tp != nil && tp.main && !time.Now().Before(tp.at) {
		panic("deliberate test panic in the runner (" + TestPanicEnv + ")")
	}
}
