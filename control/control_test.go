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
