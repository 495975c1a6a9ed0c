package local

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/pgship"
)

// aosChildren lists the live AOS stubs this process started: those of
// the processes bcdr clean finds (findOurProcesses) whose parent it is.
func aosChildren() []int {
	var out []int
	for _, p := range findOurProcesses() {
		if p.ppid == os.Getpid() && strings.HasPrefix(p.what, "AOS stub") {
			out = append(out, p.pid)
		}
	}
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
	if left := aosChildren(); len(left) > 0 {
		t.Errorf("AOS stubs left running after the failed bring-up: %v", left)
	}
}
