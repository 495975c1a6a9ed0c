// Package aos is the Application Object Server stub: a stateless HTTP service
// standing in for the finance application's AOS. It posts balanced journal
// entries to SQL, stores invoice documents in the blob store with a row in
// SQL that names them, runs batch jobs, serves the financial report, and
// refuses maintenance and reporting while the environment is in limited mode.
//
// Each instance is a real OS process (or container) configured by
// environment variables, so that a crash or a freeze is a real signal.
package aos

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"  // registers the pgx database/sql driver
	_ "github.com/microsoft/go-mssqldb" // registers the sqlserver database/sql driver
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/bcdr-harness/bcdr/topology/appdb"
)

// StatusLimited is the status of a request refused because the environment
// runs in limited mode (failed over): distinct from every failure status.
const StatusLimited = http.StatusLocked // 423

// Response headers naming who served a request.
const (
	HeaderRegion   = "X-Bcdr-Region"
	HeaderInstance = "X-Bcdr-Instance"
)

// Config configures one AOS instance. FromEnv reads it from BCDR_AOS_* variables.
type Config struct {
	Region      string
	FaultDomain int
	Index       int
	Listen      string // host:port
	SQLDriver   string // pgx or sqlserver
	SQLDSN      string
	S3Endpoint  string // host:port
	S3AccessKey string
	S3Secret    string
	S3Bucket    string
	// IgnoreLimitedMode accepts maintenance and serves reports even in
	// limited mode: a deliberate defect for the limited-mode negative control.
	IgnoreLimitedMode bool
	// RequestTimeout bounds the SQL and blob work of one request.
	RequestTimeout time.Duration
}

// Env variable names.
var envNames = []string{"BCDR_AOS_REGION", "BCDR_AOS_FD", "BCDR_AOS_INDEX", "BCDR_AOS_LISTEN",
	"BCDR_AOS_SQL_DRIVER", "BCDR_AOS_SQL_DSN", "BCDR_AOS_S3_ENDPOINT", "BCDR_AOS_S3_ACCESS_KEY",
	"BCDR_AOS_S3_SECRET", "BCDR_AOS_S3_BUCKET", "BCDR_AOS_IGNORE_LIMITED", "BCDR_AOS_REQUEST_TIMEOUT"}

// Env renders the config as BCDR_AOS_* variables for a child process or container.
func (c Config) Env() []string {
	vals := []string{c.Region, strconv.Itoa(c.FaultDomain), strconv.Itoa(c.Index), c.Listen,
		c.SQLDriver, c.SQLDSN, c.S3Endpoint, c.S3AccessKey, c.S3Secret, c.S3Bucket,
		strconv.FormatBool(c.IgnoreLimitedMode), c.RequestTimeout.String()}
	out := make([]string, len(envNames))
	for i, n := range envNames {
		out[i] = n + "=" + vals[i]
	}
	return out
}

// FromEnv reads the config from the environment.
func FromEnv() (Config, error) {
	c := Config{
		Region: os.Getenv("BCDR_AOS_REGION"), Listen: os.Getenv("BCDR_AOS_LISTEN"),
		SQLDriver: os.Getenv("BCDR_AOS_SQL_DRIVER"), SQLDSN: os.Getenv("BCDR_AOS_SQL_DSN"),
		S3Endpoint: os.Getenv("BCDR_AOS_S3_ENDPOINT"), S3AccessKey: os.Getenv("BCDR_AOS_S3_ACCESS_KEY"),
		S3Secret: os.Getenv("BCDR_AOS_S3_SECRET"), S3Bucket: os.Getenv("BCDR_AOS_S3_BUCKET"),
		RequestTimeout: 3 * time.Second,
	}
	var err error
	if c.FaultDomain, err = strconv.Atoi(os.Getenv("BCDR_AOS_FD")); err != nil {
		return c, fmt.Errorf("BCDR_AOS_FD: %w", err)
	}
	if c.Index, err = strconv.Atoi(os.Getenv("BCDR_AOS_INDEX")); err != nil {
		return c, fmt.Errorf("BCDR_AOS_INDEX: %w", err)
	}
	if v := os.Getenv("BCDR_AOS_IGNORE_LIMITED"); v != "" {
		if c.IgnoreLimitedMode, err = strconv.ParseBool(v); err != nil {
			return c, fmt.Errorf("BCDR_AOS_IGNORE_LIMITED: %w", err)
		}
	}
	if v := os.Getenv("BCDR_AOS_REQUEST_TIMEOUT"); v != "" && v != "0s" {
		if c.RequestTimeout, err = time.ParseDuration(v); err != nil {
			return c, fmt.Errorf("BCDR_AOS_REQUEST_TIMEOUT: %w", err)
		}
	}
	for name, v := range map[string]string{"BCDR_AOS_REGION": c.Region, "BCDR_AOS_LISTEN": c.Listen,
		"BCDR_AOS_SQL_DSN": c.SQLDSN, "BCDR_AOS_S3_ENDPOINT": c.S3Endpoint, "BCDR_AOS_S3_BUCKET": c.S3Bucket} {
		if v == "" {
			return c, fmt.Errorf("%s is not set", name)
		}
	}
	if c.SQLDriver == "" {
		c.SQLDriver = string(appdb.Postgres)
	}
	return c, nil
}

// ID is the instance's name, e.g. "aos-a-3".
func (c Config) ID() string { return fmt.Sprintf("aos-%s-%d", c.Region, c.Index) }

// Server is a running AOS.
type Server struct {
	cfg     Config
	db      *sql.DB
	dialect appdb.Dialect
	blob    *minio.Client

	pingMu sync.Mutex
	ping   *pingFlight // the SQL ping in flight, shared by concurrent probes
}

// pingFlight is one SQL ping; done closes when err is set.
type pingFlight struct {
	done chan struct{}
	err  error
}

// New opens the SQL pool and the blob client (neither connects yet).
func New(cfg Config) (*Server, error) {
	d, err := appdb.ParseDialect(cfg.SQLDriver)
	if err != nil {
		return nil, err
	}
	db, err := sql.Open(string(d), cfg.SQLDSN)
	if err != nil {
		return nil, fmt.Errorf("open sql: %w", err)
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	db.SetConnMaxLifetime(30 * time.Second)
	mc, err := minio.New(cfg.S3Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(cfg.S3AccessKey, cfg.S3Secret, ""), Secure: false,
		Region: "us-east-1", BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("blob client: %w", err)
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 3 * time.Second
	}
	return &Server{cfg: cfg, db: db, dialect: d, blob: mc}, nil
}

// Close releases the pools.
func (s *Server) Close() error { return s.db.Close() }

// Handler is the AOS HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("POST /journal", s.postJournal)
	mux.HandleFunc("POST /invoices", s.postInvoice)
	mux.HandleFunc("GET /invoices/{key}", s.getInvoice)
	mux.HandleFunc("POST /batch/run", s.runBatch)
	mux.HandleFunc("GET /reports/financial", s.report)
	mux.HandleFunc("POST /maintenance", s.maintenance)
	mux.HandleFunc("GET /admin/mode", s.getMode)
	mux.HandleFunc("POST /admin/mode", s.setMode)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderRegion, s.cfg.Region)
		w.Header().Set(HeaderInstance, s.cfg.ID())
		mux.ServeHTTP(w, r)
	})
}

// ctx bounds a request's work by the server's own timeout, not by the
// client's patience: a client that gives up (its attempt timed out) does not
// abort the transaction half way. Aborting would close the SQL connection
// (the driver cannot reuse a connection cancelled mid-query), and on a
// loaded host every timed-out client would then cost a new connection, which
// makes the next request slower still. The client retries with the same
// idempotency key and learns the outcome then.
func (s *Server) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.RequestTimeout)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if err := s.pingSQL(r.Context()); err != nil {
		fail(w, http.StatusServiceUnavailable, fmt.Errorf("sql unreachable: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"region": s.cfg.Region, "instance": s.cfg.ID(), "fault_domain": s.cfg.FaultDomain})
}

// pingSQL checks the SQL pool. The ping does not end with the probe that
// asked for it: a prober that gives up (a load balancer's probe timeout is
// short) must not abort a connection being set up, or a slow first
// connection after a restart is never pooled and every later probe starts
// from scratch and gives up again. Concurrent probes share one ping.
func (s *Server) pingSQL(ctx context.Context) error {
	s.pingMu.Lock()
	f := s.ping
	if f == nil {
		f = &pingFlight{done: make(chan struct{})}
		s.ping = f
		go func() {
			pctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			f.err = s.db.PingContext(pctx)
			s.pingMu.Lock()
			s.ping = nil
			s.pingMu.Unlock()
			close(f.done)
		}()
	}
	s.pingMu.Unlock()
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// JournalRequest is the body of POST /journal.
type JournalRequest struct {
	Key   string       `json:"key"`
	Lines []appdb.Line `json:"lines"`
}

func (s *Server) postJournal(w http.ResponseWriter, r *http.Request) {
	var req JournalRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.Key == "" {
		fail(w, http.StatusBadRequest, fmt.Errorf("bad journal entry: want {key, lines}"))
		return
	}
	if err := appdb.Balanced(req.Lines); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	replayed, err := appdb.PostJournal(ctx, s.db, s.dialect, req.Key, s.cfg.Region, s.cfg.ID(), req.Lines)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	status := http.StatusCreated
	if replayed {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"key": req.Key, "replayed": replayed})
}

// InvoiceRequest is the body of POST /invoices.
type InvoiceRequest struct {
	Key      string `json:"key"`
	Amount   int64  `json:"amount"`
	Document []byte `json:"document"` // base64 in JSON
}

// ObjectKey is where an invoice's document is stored in the bucket.
func ObjectKey(invoiceKey string) string { return "invoices/" + invoiceKey + ".pdf" }

func (s *Server) postInvoice(w http.ResponseWriter, r *http.Request) {
	var req InvoiceRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&req); err != nil || req.Key == "" || len(req.Document) == 0 {
		fail(w, http.StatusBadRequest, fmt.Errorf("bad invoice: want {key, amount, document}"))
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	sum := sha256.Sum256(req.Document)
	hexSum := hex.EncodeToString(sum[:])
	obj := ObjectKey(req.Key)
	// The document goes first: a row never names a document that was not stored.
	if _, err := s.blob.PutObject(ctx, s.cfg.S3Bucket, obj, bytes.NewReader(req.Document), int64(len(req.Document)),
		minio.PutObjectOptions{ContentType: "application/pdf", UserMetadata: map[string]string{"sha256": hexSum}}); err != nil {
		fail(w, http.StatusServiceUnavailable, fmt.Errorf("store document: %w", err))
		return
	}
	replayed, err := appdb.PostInvoice(ctx, s.db, s.dialect, req.Key, obj, hexSum, req.Amount, s.cfg.Region, s.cfg.ID())
	if err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	status := http.StatusCreated
	if replayed {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"key": req.Key, "object": obj, "sha256": hexSum, "replayed": replayed})
}

func (s *Server) getInvoice(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	key := r.PathValue("key")
	var obj, sum string
	var amount int64
	err := s.db.QueryRowContext(ctx, s.dialect.Q(`SELECT object_key, sha256, amount FROM invoices WHERE idem_key = ?`), key).Scan(&obj, &sum, &amount)
	if errors.Is(err, sql.ErrNoRows) {
		fail(w, http.StatusNotFound, fmt.Errorf("no invoice %s", key))
		return
	} else if err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": key, "object": obj, "sha256": sum, "amount": amount})
}

func (s *Server) limited(ctx context.Context) (bool, error) {
	if s.cfg.IgnoreLimitedMode {
		return false, nil
	}
	return appdb.LimitedMode(ctx, s.db)
}

func (s *Server) runBatch(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	dr, cr, n, err := appdb.TrialBalance(ctx, s.db)
	if err == nil {
		err = appdb.RecordBatch(ctx, s.db, s.dialect, "trial-balance", s.cfg.Region, s.cfg.ID(), n, dr == cr)
	}
	if err != nil {
		fail(w, http.StatusServiceUnavailable, fmt.Errorf("batch: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"job": "trial-balance", "lines": n, "balanced": dr == cr})
}

func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	lim, err := s.limited(ctx)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	if lim {
		restored, err := appdb.ReportingRestored(ctx, s.db)
		if err != nil {
			fail(w, http.StatusServiceUnavailable, err)
			return
		}
		if !restored {
			fail(w, StatusLimited, errors.New("limited mode: financial reporting is unavailable while failed over"))
			return
		}
	}
	dr, cr, n, err := appdb.TrialBalance(ctx, s.db)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"report": "trial-balance", "debits": dr, "credits": cr, "lines": n})
}

// MaintenanceRequest is the body of POST /maintenance.
type MaintenanceRequest struct {
	Kind string `json:"kind"` // update or package-deployment
}

func (s *Server) maintenance(w http.ResponseWriter, r *http.Request) {
	var req MaintenanceRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil ||
		(req.Kind != "update" && req.Kind != "package-deployment") {
		fail(w, http.StatusBadRequest, errors.New("bad maintenance request: kind must be update or package-deployment"))
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	lim, err := s.limited(ctx)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	if lim {
		fail(w, StatusLimited, fmt.Errorf("limited mode: %s is refused while failed over", req.Kind))
		return
	}
	if err := appdb.RecordMaintenance(ctx, s.db, s.dialect, req.Kind, s.cfg.Region); err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"kind": req.Kind, "accepted": true})
}

// ModeRequest is the body of POST /admin/mode.
type ModeRequest struct {
	Limited bool `json:"limited"`
	// Reporting restores financial reporting while limited (a support
	// request, the BCDR article); maintenance stays refused.
	Reporting bool `json:"reporting,omitempty"`
}

func (s *Server) getMode(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	lim, err := appdb.LimitedMode(ctx, s.db)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	rep, err := appdb.ReportingRestored(ctx, s.db)
	if err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, ModeRequest{Limited: lim, Reporting: lim && rep})
}

func (s *Server) setMode(w http.ResponseWriter, r *http.Request) {
	var req ModeRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	if err := appdb.SetLimitedMode(ctx, s.db, s.dialect, req.Limited, req.Reporting); err != nil {
		fail(w, http.StatusServiceUnavailable, err)
		return
	}
	writeJSON(w, http.StatusOK, req)
}

// Main runs an AOS from BCDR_AOS_* variables until SIGTERM or SIGINT. It is
// the body of cmd/aos-stub and of the re-executed harness binary.
func Main() {
	cfg, err := FromEnv()
	if err != nil {
		log.Fatalf("aos: config: %v", err)
	}
	srv, err := New(cfg)
	if err != nil {
		log.Fatalf("aos: %v", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Fatalf("aos: listen %s: %v", cfg.Listen, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("aos: serve: %v", err)
	}
	_ = srv.Close()
}
