package control

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

// ActiveFault is a fault injected through the API and not yet recovered.
type ActiveFault struct {
	ID     int               `json:"id"`
	Name   string            `json:"name"`
	Params map[string]string `json:"params"`
	// Injected is the wall time; InjectedService the service time since up.
	Injected        time.Time     `json:"injected"`
	InjectedService time.Duration `json:"injected_service_ns"`
	Verified        bool          `json:"verified"`
	VerifyError     string        `json:"verify_error,omitempty"`
	RegionLoss      bool          `json:"region_loss,omitempty"`

	applied *faults.Applied
}

// Server is the control API of one running environment.
type Server struct {
	env   topology.Environment
	rec   *history.Recorder
	token string
	// Scenario names what the environment was built from (for status).
	Scenario string

	started time.Time
	// life bounds injections and recoveries: they must not stop half way
	// because a client went away, only when the environment goes down.
	life context.Context

	mu     sync.Mutex
	active []*ActiveFault
	nextID int
	events []history.Op // the newest harness events, for status
	counts WorkloadCounts
	opMu   sync.Mutex // one injection or recovery at a time

	downOnce sync.Once
	down     chan struct{}
}

// WorkloadCounts sums up client writes since up.
type WorkloadCounts struct {
	Acknowledged int       `json:"acknowledged"`
	Failed       int       `json:"failed"`
	Unknown      int       `json:"unknown"`
	LastOK       time.Time `json:"last_ok,omitempty"`
	LastError    string    `json:"last_error,omitempty"`
}

// NewServer serves env. Every operation of rec is watched (write counts,
// events); the caller must not install another OnAppend sink. life bounds
// fault injection and recovery.
func NewServer(life context.Context, env topology.Environment, rec *history.Recorder, token string) *Server {
	s := &Server{env: env, rec: rec, token: token, started: time.Now(), life: life, nextID: 1, down: make(chan struct{})}
	rec.OnAppend(s.observe)
	return s
}

// Down is closed when a client asked the environment to go down.
func (s *Server) Down() <-chan struct{} { return s.down }

func (s *Server) observe(op history.Op) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if op.Kind == history.Event {
		if op.Key == history.EvLag || op.Key == history.EvPhase {
			return
		}
		s.events = append(s.events, op)
		if len(s.events) > 20 {
			s.events = s.events[len(s.events)-20:]
		}
		return
	}
	if !op.Kind.IsWrite() {
		return
	}
	switch op.Type {
	case history.OK:
		s.counts.Acknowledged++
		s.counts.LastOK = op.Wall
	case history.Fail:
		s.counts.Failed++
		s.counts.LastError = op.Error
	case history.Unknown:
		s.counts.Unknown++
		s.counts.LastError = op.Error
	}
}

// Handler is the HTTP API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", s.handleStatus)
	mux.HandleFunc("GET /v1/faults", s.handleFaults)
	mux.HandleFunc("POST /v1/faults", s.handleInject)
	mux.HandleFunc("POST /v1/recover", s.handleRecover)
	mux.HandleFunc("POST /v1/down", s.handleDown)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
			writeErr(w, http.StatusUnauthorized, errors.New("missing or wrong token (it is in the state file)"))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Serve serves the API on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// apiError is the body of every error response.
type apiError struct {
	Error string `json:"error"`
	// BadRequest marks a request that can never succeed as given (unknown
	// fault, bad parameter, no such target): the CLI exits 254 on it.
	BadRequest bool `json:"bad_request,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, apiError{Error: err.Error(), BadRequest: status == http.StatusBadRequest || status == http.StatusNotFound})
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	st := s.Status(r.Context())
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Active())
}

// InjectRequest is the body of POST /v1/faults.
type InjectRequest struct {
	Name   string            `json:"name"`
	Params map[string]string `json:"params,omitempty"`
}

func (s *Server) handleInject(w http.ResponseWriter, r *http.Request) {
	var req InjectRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("inject: bad request body: %w", err))
		return
	}
	af, err := s.Inject(req.Name, req.Params)
	if err != nil {
		var fe *faults.Error
		if errors.As(err, &fe) || faults.IsRefused(err) {
			writeErr(w, http.StatusBadRequest, err)
			return
		}
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, af)
}

// RecoverRequest is the body of POST /v1/recover.
type RecoverRequest struct {
	// Target is a fault id, a fault name (every active fault of that name),
	// or "all" ("" means all).
	Target string `json:"target"`
}

func (s *Server) handleRecover(w http.ResponseWriter, r *http.Request) {
	var req RecoverRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, http.StatusBadRequest, fmt.Errorf("recover: bad request body: %w", err))
		return
	}
	done, err := s.Recover(req.Target)
	if err != nil {
		var nf *notFound
		if errors.As(err, &nf) {
			writeErr(w, http.StatusNotFound, err)
			return
		}
		writeErr(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, done)
}

func (s *Server) handleDown(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "going down"})
	s.downOnce.Do(func() { close(s.down) })
}

// Active lists the injected faults, oldest first.
func (s *Server) Active() []ActiveFault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ActiveFault, len(s.active))
	for i, a := range s.active {
		out[i] = *a
	}
	return out
}

// Inject builds a fault from the catalogue and strikes it through
// faults.Apply, as a drill does: target checked, blast radius guarded,
// effect observed, fault-injected recorded.
func (s *Server) Inject(name string, params map[string]string) (ActiveFault, error) {
	f, def, err := faults.New(name, params)
	if err != nil {
		return ActiveFault{}, err
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	ctx, cancel := context.WithTimeout(s.life, 3*time.Minute)
	defer cancel()
	applied, err := faults.Apply(ctx, s.env, s.rec, f, def, params, nil)
	if applied == nil {
		return ActiveFault{}, err
	}
	af := &ActiveFault{Name: name, Params: params, Injected: applied.Began, RegionLoss: def.RegionLoss,
		Verified: applied.Verified, VerifyError: applied.VerifyError, applied: applied}
	af.InjectedService = s.env.Clock().Between(s.started, af.Injected)
	// A half-injected fault is still recorded, so that recover can undo it.
	s.add(af)
	if err != nil {
		return *af, fmt.Errorf("%w (recorded as fault %d; bcdr recover %d undoes what was done)", err, af.ID, af.ID)
	}
	return *af, nil
}

func (s *Server) add(af *ActiveFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	af.ID = s.nextID
	s.nextID++
	s.active = append(s.active, af)
}

type notFound struct{ msg string }

func (e *notFound) Error() string { return e.msg }

// Recover undoes the faults that target names (an id, a name, or "all"),
// newest first, and returns those it recovered.
func (s *Server) Recover(target string) ([]ActiveFault, error) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	var pick []*ActiveFault
	id, idErr := strconv.Atoi(target)
	for i := len(s.active) - 1; i >= 0; i-- {
		a := s.active[i]
		if target == "" || target == "all" || a.Name == target || (idErr == nil && a.ID == id) {
			pick = append(pick, a)
		}
	}
	var names []string
	for _, a := range s.active {
		names = append(names, fmt.Sprintf("%d (%s)", a.ID, a.Name))
	}
	s.mu.Unlock()
	if len(pick) == 0 {
		if target == "" || target == "all" {
			return nil, nil
		}
		if len(names) == 0 {
			return nil, &notFound{"no fault is injected"}
		}
		return nil, &notFound{fmt.Sprintf("no injected fault %q (injected: %s)", target, strings.Join(names, ", "))}
	}
	ctx, cancel := context.WithTimeout(s.life, 3*time.Minute)
	defer cancel()
	var done []ActiveFault
	for _, a := range pick {
		if err := a.applied.Recover(ctx); err != nil {
			return done, fmt.Errorf("%w (fault %d)", err, a.ID)
		}
		s.remove(a)
		done = append(done, *a)
	}
	return done, nil
}

func (s *Server) remove(af *ActiveFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, a := range s.active {
		if a == af {
			s.active = append(s.active[:i], s.active[i+1:]...)
			return
		}
	}
}

// Status reads the environment's state now.
func (s *Server) Status(ctx context.Context) Status {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	env := s.env
	clk := env.Clock()
	now := time.Now()
	spec := env.Spec()
	st := Status{Scenario: s.Scenario, Provider: spec.Provider, SQLEngine: spec.SQLEngine, TimeScale: clk.Scale,
		UpWallS: now.Sub(s.started).Seconds(), Active: string(env.Router().Active()), Faults: s.Active()}
	st.UpServiceS = clk.Between(s.started, now).Seconds()

	sql, sqlErr := env.SQL().Status(ctx)
	if sqlErr != nil {
		st.SQL.Error = sqlErr.Error()
	} else {
		st.SQL.ShippingStatus = sql
		lag := sql.Lag(now)
		st.SQL.LagWallS, st.SQL.LagServiceS = lag.Seconds(), clk.Between(now.Add(-lag), now).Seconds()
	}
	bl, blErr := env.Blob().Status(ctx)
	if blErr != nil {
		st.Blob.Error = blErr.Error()
	} else {
		st.Blob.ReplicationStatus = bl
		lag := bl.Lag(now)
		st.Blob.LagWallS, st.Blob.LagServiceS = lag.Seconds(), clk.Between(now.Add(-lag), now).Seconds()
	}

	for _, name := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		reg := env.Region(name)
		if reg == nil {
			continue
		}
		rs := RegionStatus{Name: string(name), Up: reg.Up(), Endpoint: reg.Endpoint(),
			SQLRole: sqlRole(name, sql, sqlErr), BlobRole: blobRole(name, bl, blErr), Role: "secondary"}
		if string(name) == st.Active {
			rs.Role = "primary (active)"
		}
		rs.Instances = instanceStatuses(reg)
		st.Regions = append(st.Regions, rs)
	}

	// Limited mode is stored in the active region's database; its AOS serves it.
	if reg := env.Region(topology.RegionName(st.Active)); reg != nil {
		lim, err := readMode(ctx, reg.Endpoint())
		if err != nil {
			st.LimitedModeError = err.Error()
		} else {
			st.LimitedMode = &lim
		}
	}

	st.Links = linkStatuses(env.Links())

	s.mu.Lock()
	st.Workload = s.counts
	for _, e := range s.events {
		st.Events = append(st.Events, Event{Name: e.Key, Wall: e.Wall, ServiceS: e.Service.Seconds(), Value: e.Value})
	}
	s.mu.Unlock()
	return st
}

// sqlRole is region name's part in log shipping, "unknown" when its
// status could not be read (err).
func sqlRole(name topology.RegionName, sql topology.ShippingStatus, err error) string {
	switch {
	case err == nil && sql.Primary == name:
		return "primary"
	case err == nil && sql.Secondary == name && sql.Shipping:
		return "secondary (restoring logs)"
	case err == nil && sql.Secondary == name:
		return "secondary (not shipping)"
	default:
		return "unknown"
	}
}

// blobRole is region name's part in blob replication, "unknown" when its
// status could not be read (err).
func blobRole(name topology.RegionName, bl topology.ReplicationStatus, err error) string {
	switch {
	case err == nil && bl.Source == name:
		return "source (writable)"
	case err == nil && bl.Destination == name:
		return "replica (read-only)"
	default:
		return "unknown"
	}
}

// instanceStatuses are reg's instances by index, each healthy when its
// load balancer's last probe passed (when the region says, else when it
// is alive).
func instanceStatuses(reg topology.Region) []InstanceStatus {
	healthy := map[string]bool{}
	var probed bool
	if h, ok := reg.(interface{ Healthy() []string }); ok {
		probed = true
		for _, id := range h.Healthy() {
			healthy[id] = true
		}
	}
	var out []InstanceStatus
	for _, in := range reg.Instances() {
		is := InstanceStatus{ID: in.ID(), FaultDomain: in.FaultDomain(), Index: in.Index(), Alive: in.Alive()}
		is.Healthy = is.Alive
		if probed {
			is.Healthy = healthy[in.ID()]
		}
		out = append(out, is)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// linkStatuses are the named links by name, each with whether it is cut
// when the link can tell.
func linkStatuses(links topology.Links) []LinkStatus {
	var out []LinkStatus
	for _, n := range links.Names() {
		ls := LinkStatus{Name: n}
		if l, ok := links.Get(n); ok {
			if c, ok := l.(interface{ IsCut() bool }); ok {
				cut := c.IsCut()
				ls.Cut = &cut
			}
		}
		out = append(out, ls)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func readMode(ctx context.Context, endpoint string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/admin/mode", nil)
	if err != nil {
		return false, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("read limited mode: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("read limited mode: HTTP %d", resp.StatusCode)
	}
	var m struct {
		Limited bool `json:"limited"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return false, fmt.Errorf("read limited mode: %w", err)
	}
	return m.Limited, nil
}
