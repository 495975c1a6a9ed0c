package fake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
)

// Engine is the name the fake SQL engine reports.
const Engine = "fake"

// backupFile is one log backup: the records it holds, in order.
type backupFile struct {
	Last       uint64    `json:"last"`
	LastCommit time.Time `json:"last_commit"`
	Records    []Record  `json:"records"`
}

// node is one region's SQL server with its log backup share.
type node struct {
	name    topology.RegionName
	db      *DB
	standby bool         // restoring logs: refuses writes
	fenced  bool         // a planned switch made it refuse writes
	full    bool         // its log share refuses new backups
	out     []backupFile // backups taken here, served to the other region
	in      []backupFile // backups copied here, waiting for restore
	sql     *svc
	share   *svc
}

// pair is the log-shipping pair: the LogShipping of the fake. Commits reach
// the secondary only as log backups taken on the primary, copied across
// the WAN (an HTTP fetch through the WAN link) and restored.
type pair struct {
	mu        sync.Mutex
	clk       *clock.Clock
	client    *http.Client
	nodes     map[topology.RegionName]*node
	primary   topology.RegionName
	secondary topology.RegionName
	shipping  bool
	gen       int // bumped by every role change: a job that spans one drops its result
	backup    topology.Position
	copied    topology.Position
	restored  topology.Position
	last      topology.Position
	backupErr int
	copyErr   int
	costs     topology.JobCosts
	// wan is the WAN proxy address for a kind ("share", "sql") of region r.
	wan func(kind string, r topology.RegionName) string
	// roleMu serialises role changes.
	roleMu sync.Mutex
}

var (
	_ topology.LogShipping = (*pair)(nil)
)

func newPair(clk *clock.Clock, client *http.Client, wan func(string, topology.RegionName) string) (*pair, error) {
	p := &pair{clk: clk, client: client, nodes: map[topology.RegionName]*node{}, primary: topology.RegionA,
		secondary: topology.RegionB, shipping: true, wan: wan}
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		n := &node{name: r, db: newDB(), standby: r == topology.RegionB}
		var err error
		n.sql = &svc{h: p.sqlHandler(n), pg: true}
		if err = n.sql.start(); err != nil {
			p.close()
			return nil, fmt.Errorf("sql server %s: %w", r, err)
		}
		if n.share, err = newSvc(p.shareHandler(n)); err != nil {
			p.close()
			return nil, fmt.Errorf("log share %s: %w", r, err)
		}
		p.nodes[r] = n
	}
	// The schema is the primary's first commit: it reaches the secondary
	// the way every other commit does.
	p.nodes[topology.RegionA].db.commit(Op{Kind: opMigrate}, time.Now())
	return p, nil
}

func (p *pair) close() {
	for _, n := range p.nodes {
		n.sql.stop()
		n.share.stop()
	}
}

// execResult is the answer of the SQL server to one op.
type execResult struct {
	Replayed bool  `json:"replayed,omitempty"`
	Debits   int64 `json:"debits,omitempty"`
	Credits  int64 `json:"credits,omitempty"`
	Lines    int64 `json:"lines,omitempty"`
	Limited  bool  `json:"limited,omitempty"`
	// Reporting: financial reporting restored while limited.
	Reporting bool   `json:"reporting,omitempty"`
	Found     bool   `json:"found,omitempty"`
	Object    string `json:"object,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
	Amount    int64  `json:"amount,omitempty"`
}

// sqlHandler is the region's SQL server: POST /exec runs one op as a
// transaction, GET /ping answers while the server runs, GET /base is a base
// backup (the whole database) for rebuilding a secondary.
func (p *pair) sqlHandler(n *node) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, map[string]bool{"ok": true}) })
	mux.HandleFunc("POST /exec", func(w http.ResponseWriter, r *http.Request) {
		var o Op
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&o); err != nil {
			fail(w, http.StatusBadRequest, err)
			return
		}
		res, err := p.exec(n, o)
		if err != nil {
			fail(w, http.StatusServiceUnavailable, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("GET /base", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		b, err := json.Marshal(n.db)
		p.mu.Unlock()
		if err != nil {
			fail(w, http.StatusInternalServerError, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
	return mux
}

func (p *pair) exec(n *node, o Op) (execResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := n.db
	if !d.Schema {
		return execResult{}, errors.New("relation does not exist: the database has no schema yet")
	}
	if isWrite(o.Kind) {
		switch {
		case n.standby:
			return execResult{}, errors.New("cannot execute a write in a read-only transaction (the server is a standby)")
		case n.fenced:
			return execResult{}, errors.New("cannot execute a write: the server is fenced for a planned switch")
		}
		if d.replayed(o) {
			return execResult{Replayed: true}, nil
		}
		d.commit(o, time.Now())
		if n.name == p.primary {
			// The monitor sees every commit of the reachable primary.
			p.last = d.position(time.Now())
		}
		return execResult{}, nil
	}
	switch o.Kind {
	case opGetMode:
		return execResult{Limited: d.Limited, Reporting: d.Reporting}, nil
	case opTrial:
		dr, cr, lines := d.trialBalance()
		return execResult{Debits: dr, Credits: cr, Lines: lines}, nil
	case opGetInvoice:
		inv, ok := d.Invoices[o.Key]
		return execResult{Found: ok, Object: inv.ObjectKey, SHA256: inv.SHA256, Amount: inv.Amount}, nil
	}
	return execResult{}, fmt.Errorf("unknown op %q", o.Kind)
}

// shareHandler serves the backups taken in a region: GET /files?after=seq.
func (p *pair) shareHandler(n *node) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /files", func(w http.ResponseWriter, r *http.Request) {
		after, _ := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
		p.mu.Lock()
		var out []backupFile
		for _, f := range n.out {
			if f.Last > after {
				out = append(out, f)
			}
		}
		p.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	})
	return mux
}

// Engine names the engine.
func (p *pair) Engine() string { return Engine }

// observeLocked notes the primary's newest commit while it is reachable.
func (p *pair) observeLocked() {
	if n := p.nodes[p.primary]; n.sql.running() {
		p.last = n.db.position(time.Now())
	}
}

// Status is the state of log shipping.
func (p *pair) Status(context.Context) (topology.ShippingStatus, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.observeLocked()
	st := topology.ShippingStatus{Primary: p.primary, Secondary: p.secondary, Shipping: p.shipping,
		Backup: p.backup, Copy: p.copied, Restore: p.restored, PrimaryLast: p.last,
		BackupErrors: p.backupErr, CopyErrors: p.copyErr}
	p.costs.Fill(&st)
	return st, nil
}

// BackupLog takes a log backup on the primary into its share.
func (p *pair) BackupLog(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.nodes[p.primary]
	switch {
	case !n.sql.running():
		p.backupErr++
		return fmt.Errorf("log backup: the SQL server of region %s is down", n.name)
	case n.full:
		p.backupErr++
		return fmt.Errorf("log backup: the log share of region %s is full", n.name)
	}
	p.observeLocked()
	recs := n.db.since(p.backup.Seq)
	if len(recs) == 0 {
		return nil
	}
	last := recs[len(recs)-1]
	n.out = append(n.out, backupFile{Last: last.Seq, LastCommit: last.At, Records: recs})
	p.backup = topology.Position{LSN: formatLSN(last.Seq), Seq: last.Seq, CommitTime: last.At, At: time.Now()}
	return nil
}

// CopyLogs fetches the primary's new backups across the WAN into the
// secondary's share.
func (p *pair) CopyLogs(ctx context.Context) error {
	p.mu.Lock()
	if !p.shipping {
		p.mu.Unlock()
		return nil
	}
	gen, prim, sec, after := p.gen, p.primary, p.secondary, p.copied.Seq
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var files []backupFile
	err := call(ctx, p.client, http.MethodGet, fmt.Sprintf("http://%s/files?after=%d", p.wan("share", prim), after), nil, nil, &files)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.copyErr++
		return fmt.Errorf("log copy from region %s: %w", prim, err)
	}
	if gen != p.gen {
		return nil // the roles changed meanwhile
	}
	dst := p.nodes[sec]
	for _, f := range files {
		if f.Last > p.copied.Seq {
			dst.in = append(dst.in, f)
			p.copied = topology.Position{LSN: formatLSN(f.Last), Seq: f.Last, CommitTime: f.LastCommit, At: time.Now()}
		}
	}
	return nil
}

// RestoreLogs restores the copied backups on the secondary.
func (p *pair) RestoreLogs(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.shipping {
		return nil
	}
	return p.restoreLocked()
}

func (p *pair) restoreLocked() error {
	n := p.nodes[p.secondary]
	if !n.sql.running() {
		return fmt.Errorf("log restore: the SQL server of region %s is down", n.name)
	}
	for _, f := range n.in {
		for _, r := range f.Records {
			if r.Seq == n.db.LSN+1 {
				n.db.apply(r)
			} else if r.Seq > n.db.LSN+1 {
				return fmt.Errorf("log restore: a gap in the log chain after %s", formatLSN(n.db.LSN))
			}
		}
	}
	n.in = nil
	if n.db.LSN > p.restored.Seq {
		p.restored = n.db.position(time.Now())
	}
	return nil
}

// Failover restores what reached the secondary and brings it online.
func (p *pair) Failover(context.Context) (topology.Position, error) {
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.shipping {
		return topology.Position{}, fmt.Errorf("failover: log shipping to region %s is not running", p.secondary)
	}
	if err := p.restoreLocked(); err != nil {
		return topology.Position{}, fmt.Errorf("failover: %w", err)
	}
	n := p.nodes[p.secondary]
	n.standby, n.fenced = false, false
	pos := n.db.position(time.Now())
	p.primary, p.secondary = p.secondary, p.primary
	p.shipping = false
	p.gen++
	p.backup, p.copied, p.restored, p.last = pos, pos, pos, pos
	n.in, n.out = nil, nil
	return pos, nil
}

// Resync rebuilds the secondary from a base backup of the primary taken
// across the WAN and starts shipping to it.
func (p *pair) Resync(ctx context.Context) error {
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	return p.resync(ctx)
}

func (p *pair) resync(ctx context.Context) error {
	p.mu.Lock()
	if p.shipping {
		p.mu.Unlock()
		return nil
	}
	prim, sec := p.primary, p.secondary
	up := p.nodes[sec].sql.running()
	p.mu.Unlock()
	if !up {
		return fmt.Errorf("resync: the SQL server of region %s is down", sec)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	base := newDB()
	if err := call(ctx, p.client, http.MethodGet, "http://"+p.wan("sql", prim)+"/base", nil, nil, base); err != nil {
		return fmt.Errorf("resync: base backup of region %s: %w", prim, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.nodes[sec]
	n.db, n.standby, n.fenced, n.in, n.out = base, true, false, nil, nil
	p.nodes[prim].out = nil
	pos := base.position(time.Now())
	p.backup, p.copied, p.restored = pos, pos, pos
	p.shipping = true
	p.gen++
	p.observeLocked()
	return nil
}

// Switchover fences the primary, ships its tail (unless skipped), promotes
// the secondary and rebuilds the old primary as its secondary.
func (p *pair) Switchover(ctx context.Context, opts topology.SwitchoverOptions) error {
	p.roleMu.Lock()
	defer p.roleMu.Unlock()
	p.mu.Lock()
	prim, sec := p.nodes[p.primary], p.nodes[p.secondary]
	switch {
	case !p.shipping:
		p.mu.Unlock()
		return fmt.Errorf("switchover: log shipping to region %s is not running (resync first)", sec.name)
	case !prim.sql.running() || !sec.sql.running():
		p.mu.Unlock()
		return fmt.Errorf("switchover: both servers must be up (region %s up: %t, region %s up: %t)",
			prim.name, prim.sql.running(), sec.name, sec.sql.running())
	}
	prim.fenced = true
	p.mu.Unlock()
	unfence := func() { p.mu.Lock(); prim.fenced = false; p.mu.Unlock() }
	if !opts.SkipFinalLogBackup {
		if err := p.BackupLog(ctx); err != nil {
			unfence()
			return fmt.Errorf("switchover: final log backup: %w", err)
		}
		if err := p.CopyLogs(ctx); err != nil {
			unfence()
			return fmt.Errorf("switchover: copy final log backup: %w", err)
		}
	}
	p.mu.Lock()
	if err := p.restoreLocked(); err != nil {
		p.mu.Unlock()
		unfence()
		return fmt.Errorf("switchover: %w", err)
	}
	if !opts.SkipFinalLogBackup && sec.db.LSN < prim.db.LSN {
		p.mu.Unlock()
		unfence()
		return fmt.Errorf("switchover: region %s restored up to %s only, short of the final log backup's end %s",
			sec.name, formatLSN(sec.db.LSN), formatLSN(prim.db.LSN))
	}
	sec.standby, sec.fenced = false, false
	p.primary, p.secondary = sec.name, prim.name
	p.shipping = false
	p.gen++
	pos := sec.db.position(time.Now())
	p.backup, p.copied, p.restored, p.last = pos, pos, pos, pos
	p.mu.Unlock()
	if opts.AtCutover != nil {
		opts.AtCutover(ctx)
	}
	// The old primary is rebuilt as the new one's secondary: whatever it
	// held beyond what was shipped is gone.
	if err := p.resync(ctx); err != nil {
		return fmt.Errorf("switchover: %w", err)
	}
	return nil
}

// Fence makes the primary refuse writes.
func (p *pair) Fence(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.nodes[p.primary]
	if !n.sql.running() {
		return fmt.Errorf("fence: the SQL server of region %s is down", n.name)
	}
	n.fenced = true
	return nil
}

// SetLogShareFull makes region r's log share refuse new backups, or frees it.
func (p *pair) SetLogShareFull(r topology.RegionName, full bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, ok := p.nodes[r]
	if !ok {
		return fmt.Errorf("no region %s", r)
	}
	n.full = full
	return nil
}

// jobs are the three log-shipping jobs on the spec's schedule.
func (p *pair) jobs(spec topology.Spec) []topology.Job {
	return []topology.Job{
		{Name: topology.JobLogBackup, Every: spec.LogBackupInterval, Run: p.BackupLog},
		{Name: topology.JobLogCopy, Every: spec.LogCopyInterval, Run: p.CopyLogs},
		{Name: topology.JobLogRestore, Every: spec.LogRestoreInterval, Run: p.RestoreLogs},
	}
}
