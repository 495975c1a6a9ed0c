package local

import (
	"context"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/pgship"
	"github.com/bcdr-harness/bcdr/topology/proc"
)

// aosChildren lists the live AOS stubs this process started (its
// children re-executed with RoleEnv=aos; zombies are not alive).
func aosChildren() []int {
	var out []int
	proc.Walk(proc.Root, func(e proc.Entry) {
		st := e.Stat()
		if st.PPid != os.Getpid() || st.State == 'Z' {
			return
		}
		if slices.Contains(e.Environ(), RoleEnv+"=aos") {
			out = append(out, e.Pid)
		}
	})
	return out
}

// The AOS stubs start while the SQL pair is still coming up. A bring-up
// cancelled then (a drill's deadline, Ctrl-C) must release them with the
// rest: Up fails, and none of the stubs it started is left running.
func TestUpCancelledWhileSQLStartsLeavesNoInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("brings up PostgreSQL: skipped with -short")
	}
	if err := pgship.BinDirAvailable(""); err != nil {
		t.Skipf("no PostgreSQL binaries: %v", err)
	}
	if n := aosChildren(); len(n) > 0 {
		t.Fatalf("AOS stubs of this process already running before the test: %v", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel as soon as the first stub runs: the pair then takes seconds
	// more to come up (initdb, base backup), so the cancel lands there.
	var seen []int
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for ctx.Err() == nil {
			if seen = aosChildren(); len(seen) > 0 {
				cancel()
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	spec := topology.DefaultSpec()
	spec.Provider = Name
	env, err := Up(ctx, spec, clock.New(200))
	cancel()
	<-watched
	if err == nil {
		_ = env.Close(context.Background())
		t.Fatalf("Up succeeded although cancelled once %d AOS stubs ran", len(seen))
	}
	if len(seen) == 0 {
		t.Fatalf("Up failed before any AOS stub started (%v): the test did not cancel it while SQL started", err)
	}
	t.Logf("Up cancelled once AOS stub(s) %v ran: %v", seen, err)
	for _, pid := range seen {
		if syscall.Kill(pid, 0) == nil && proc.At(proc.Root, pid).Stat().State != 'Z' {
			t.Errorf("AOS stub %d is still running after the failed bring-up", pid)
		}
	}
	if left := aosChildren(); len(left) > 0 {
		t.Errorf("AOS stubs left running after the failed bring-up: %v", left)
	}
}
