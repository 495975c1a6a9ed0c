package control

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/fake"
)

func TestStateFileIsForTheUserOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	st := State{Pid: os.Getpid(), Control: "127.0.0.1:1", Token: "secret"}
	if err := WriteState(dir, st); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, StateFile))
	di, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Fatalf("state file %v, dir %v; want 0600 and 0700", fi.Mode().Perm(), di.Mode().Perm())
	}
	got, err := ReadState(dir)
	if err != nil || got.Token != "secret" {
		t.Fatalf("read back: %+v, %v", got, err)
	}
	// A file others can read is refused: its token would be everybody's.
	if err := os.Chmod(filepath.Join(dir, StateFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadState(dir); err == nil {
		t.Fatal("a state file readable by others was accepted")
	}
	if err := RemoveState(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadState(dir); !errors.Is(err, ErrNoState) {
		t.Fatalf("no state file: got %v, want ErrNoState", err)
	}
}

func TestAPIRefusesAWrongToken(t *testing.T) {
	tok, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(context.Background(), nil, history.NewRecorder(clock.New(1)), tok)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, h := range []string{"", "Bearer wrong", "Bearer " + tok + "x", tok} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/faults", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: HTTP %d, want 401", h, resp.StatusCode)
		}
	}
	c := &Client{State: State{Control: srv.Listener.Addr().String(), Token: tok}, http: http.DefaultClient}
	fs, err := c.Faults(context.Background())
	if err != nil || len(fs) != 0 {
		t.Fatalf("with the token: %v, %v", fs, err)
	}
	// Unknown fault: a request error (the CLI exits 254), nothing injected.
	if _, err := c.Inject(context.Background(), "no-such-fault", nil); err == nil {
		t.Fatal("an unknown fault was injected")
	} else if re := (*RequestError)(nil); !errors.As(err, &re) {
		t.Fatalf("unknown fault: %T %v, want a RequestError", err, err)
	}
	if _, err := c.Recover(context.Background(), "7"); err == nil {
		t.Fatal("recovering a fault that was never injected succeeded")
	}
}

// A fault injected through the API strikes as in a drill (faults.Apply):
// the fault-injected event carries what was observed (evidence) and the
// health before; the recovery records the health after. A target the
// environment lacks is a bad request and records nothing.
func TestInjectStrikesAsADrillDoes(t *testing.T) {
	spec := topology.DefaultSpec()
	spec.Provider = fake.Name
	clk := clock.New(20000)
	env, err := topology.Up(context.Background(), spec, clk)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(context.Background())
	rec := history.NewRecorder(clk)
	s := NewServer(context.Background(), env, rec, "tok")
	af, err := s.Inject("instance-crash", map[string]string{"region": "a", "instance": "1"})
	if err != nil || !af.Verified || af.VerifyError != "" {
		t.Fatalf("inject: %+v, %v", af, err)
	}
	evs := rec.Ops().Events(history.EvFaultInjected)
	if len(evs) != 1 {
		t.Fatalf("fault-injected events: %+v", evs)
	}
	v := evs[0].Value
	if v["fault"] != "instance-crash" || v["verified"] != true || v["class"] != "hardware" || v["evidence"] == nil || v["healthy_before"] != true {
		t.Errorf("fault-injected: %+v", v)
	}
	if !evs[0].Wall.Equal(af.Injected) {
		t.Errorf("event at %v, fault injected at %v", evs[0].Wall, af.Injected)
	}
	done, err := s.Recover("instance-crash")
	if err != nil || len(done) != 1 || len(s.Active()) != 0 {
		t.Fatalf("recover: %+v, %v (active %+v)", done, err, s.Active())
	}
	recs := rec.Ops().Events(history.EvFaultRecovered)
	if len(recs) != 1 || recs[0].Value["healthy_after"] != true {
		t.Errorf("fault-recovered: %+v", recs)
	}
	if _, err := s.Inject("instance-crash", map[string]string{"region": "a", "instance": "99"}); err == nil {
		t.Fatal("an instance the environment lacks was injected")
	}
	if n := len(rec.Ops().Events(history.EvFaultInjected)); n != 1 || len(s.Active()) != 0 {
		t.Errorf("a fault that did nothing was recorded (%d events) or kept active (%+v)", n, s.Active())
	}
}
