// Package blob is the blob tier of the embedded default: an S3 server per
// region (gofakes3, in process, on loopback) holding a versioned bucket, and a
// replicator that keeps the destination bucket in sync with the source
// through the WAN link, with minio-go, as MinIO's bucket replication does on
// the containers provider.
package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/bcdr-harness/bcdr/topology/ports"
)

// Bucket holds the invoice documents in every region.
const Bucket = "finance-documents"

// Credentials are the blob tier's keys: the application's (the AOS stubs)
// and the replicator's, which reads every bucket (snapshots) and may write
// to a read-only one.
type Credentials struct {
	AppAccessKey, AppSecret               string
	ReplicatorAccessKey, ReplicatorSecret string
}

// NewCredentials returns keys random to one run.
func NewCredentials() Credentials {
	return Credentials{AppAccessKey: "bcdr-app-" + randomHex(4), AppSecret: randomHex(20),
		ReplicatorAccessKey: "bcdr-replicator-" + randomHex(4), ReplicatorSecret: randomHex(20)}
}

// randomHex returns n random bytes in hex (crypto/rand never fails on Linux).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Secret returns a random secret of n bytes in hex, for any key of a run.
func Secret(n int) string { return randomHex(n) }

// Server is one region's S3 endpoint. Its data lives in memory for the
// lifetime of the Server, so Stop and Start model a crash and a restart of
// the store process with its disks intact.
type Server struct {
	// replicator is the key that may write while the bucket is read-only.
	replicator string
	backend    *s3mem.Backend
	handler    http.Handler
	readOnly   atomic.Bool

	mu   sync.Mutex
	addr string
	srv  *http.Server
}

// NewServer creates the store with the bucket and starts serving on a free
// loopback port; creds name the replicator, whose writes a read-only bucket
// still takes.
func NewServer(creds Credentials) (*Server, error) {
	if creds.ReplicatorAccessKey == "" {
		return nil, fmt.Errorf("blob store: the replicator's key is required")
	}
	be := s3mem.New()
	if err := be.CreateBucket(Bucket); err != nil {
		return nil, fmt.Errorf("create bucket: %w", err)
	}
	if err := be.SetVersioningConfiguration(Bucket, gofakes3.VersioningConfiguration{Status: gofakes3.VersioningEnabled}); err != nil {
		return nil, fmt.Errorf("enable versioning: %w", err)
	}
	s := &Server{replicator: creds.ReplicatorAccessKey, backend: be, handler: gofakes3.New(be, gofakes3.WithTimeSkewLimit(0)).Server()}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Addr is the server's host:port (stable across Stop and Start).
func (s *Server) Addr() string { s.mu.Lock(); defer s.mu.Unlock(); return s.addr }

// SetReadOnly makes the bucket refuse application writes (replica mode).
func (s *Server) SetReadOnly(on bool) { s.readOnly.Store(on) }

// ReadOnly tells whether the bucket refuses application writes.
func (s *Server) ReadOnly() bool { return s.readOnly.Load() }

// Running tells whether the server accepts connections.
func (s *Server) Running() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.srv != nil }

func accessKey(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	i := strings.Index(auth, "Credential=")
	if i < 0 {
		return ""
	}
	cred := auth[i+len("Credential="):]
	if j := strings.IndexByte(cred, '/'); j >= 0 {
		return cred[:j]
	}
	return cred
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	write := r.Method == http.MethodPut || r.Method == http.MethodPost || r.Method == http.MethodDelete
	if write && s.readOnly.Load() && accessKey(r) != s.replicator {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>replica bucket is read-only</Message></Error>`)
		return
	}
	s.handler.ServeHTTP(w, r)
}

// Start serves again on the same address (a restart after Stop).
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	addr := s.addr
	ln, err := ports.Relisten(addr)
	if err != nil {
		return fmt.Errorf("blob store listen %s: %w", addr, err)
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 5 * time.Second}
	go func(srv *http.Server) {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener was closed under us: Stop owns the state
		}
	}(s.srv)
	return nil
}

// Stop crashes the server: the listener and every open connection close at once.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	s.srv = nil
	if err != nil {
		return fmt.Errorf("stop blob store: %w", err)
	}
	return nil
}

// Close stops the server for good.
func (s *Server) Close(context.Context) error { return s.Stop() }
