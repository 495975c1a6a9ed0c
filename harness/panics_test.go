package harness_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/fake"
)

// A panic in the runner or in a goroutine of the run (the test hook that
// the leak campaign uses) ends the drill with a PanicError naming where it
// happened, verdict unknown, the history kept, and the environment torn
// down: its front door no longer accepts connections.
func TestPanicInADrillReleasesTheEnvironment(t *testing.T) {
	for _, tc := range []struct{ at, where string }{
		{"300ms", "a test goroutine"},
		{"main:300ms", "the runner"},
	} {
		t.Run(tc.at, func(t *testing.T) {
			t.Setenv(harness.TestPanicEnv, tc.at)
			sc, _ := harness.Builtin("instance-crash")
			sc.Spec.Provider = fake.Name
			if err := sc.SetAll([]string{"instances-per-region=3", "steady-state=10m", "after=5m", "fault-hold=5m"}); err != nil {
				t.Fatal(err)
			}
			var env topology.Environment
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := harness.Run(ctx, sc, harness.Options{OnEnv: func(e topology.Environment) { env = e }})
			var pe *harness.PanicError
			if !errors.As(err, &pe) || !strings.Contains(pe.Where, tc.where) {
				t.Fatalf("run: %v, want a panic in %s", err, tc.where)
			}
			if out == nil || out.Result.Verdict != "unknown" || !strings.Contains(out.Result.Reason, "panic in") || len(out.History.Ops) == 0 {
				t.Fatalf("outcome %+v: want verdict unknown with the panic as reason and the history", out)
			}
			if env == nil {
				t.Fatal("the environment never came up")
			}
			u, _ := url.Parse(env.Router().URL())
			if c, err := net.DialTimeout("tcp", u.Host, 200*time.Millisecond); err == nil {
				c.Close()
				t.Fatalf("the front door %s still accepts connections after the panic", u.Host)
			}
		})
	}
}
