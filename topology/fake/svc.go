package fake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/topology/ports"
)

// svc serves a handler on a stable loopback address that survives
// stop/start, so the proxies in front of it keep pointing at it. A stopped
// svc refuses connections, as a crashed server does.
type svc struct {
	mu   sync.Mutex
	addr string
	srv  *http.Server
	h    http.Handler
	pg   bool // answer PostgreSQL probes (an SQL server)
}

func newSvc(h http.Handler) (*svc, error) {
	s := &svc{h: h}
	return s, s.start()
}

func (s *svc) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	l, err := listen(s.addr)
	if err != nil {
		return err
	}
	s.addr = l.Addr().String()
	if s.pg {
		l = pgListener{l}
	}
	s.srv = &http.Server{Handler: s.h, ReadHeaderTimeout: 5 * time.Second}
	go func(srv *http.Server) { _ = srv.Serve(l) }(s.srv)
	return nil
}

// stop closes the listener and every open connection at once.
func (s *svc) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
	}
}

func (s *svc) running() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.srv != nil }

func (s *svc) address() string { s.mu.Lock(); defer s.mu.Unlock(); return s.addr }

func listen(addr string) (net.Listener, error) {
	if addr == "" {
		return ports.Listen()
	}
	return ports.Relisten(addr)
}

// httpError is a non-2xx answer.
type httpError struct {
	Status int
	Msg    string
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Status, e.Msg) }

// call sends in as JSON (nil: no body) and decodes the answer into out.
func call(ctx context.Context, c *http.Client, method, url string, hdr map[string]string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &httpError{resp.StatusCode, string(bytes.TrimSpace(msg))}
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
