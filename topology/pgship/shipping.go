package pgship

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
)

// Shipping is the log-shipping engine over two Nodes: the three jobs, the
// positions and the role changes. It implements topology.LogShipping.
type Shipping struct {
	cfg   ShippingConfig
	clk   *clock.Clock
	logf  func(string, ...any)
	nodes map[topology.RegionName]*node

	// ops is held shared by the jobs and exclusively by role changes
	// (failover, resync, switchover), which first cancel the running jobs.
	ops                         sync.RWMutex
	backupMu, copyMu, restoreMu sync.Mutex
	backupLog, copyLog          failureLog

	mu                       sync.Mutex // guards everything below
	primary, secondary       topology.RegionName
	shipping                 bool
	backup, copy, restore    topology.Position
	primaryLast              topology.Position // newest commit seen on the primary
	backupErrors, copyErrors int
	marks                    []mark          // log backups taken on the current primary
	copied                   map[string]bool // primary's archived files already copied
	// shareLost marks regions whose log backup share cannot be read: the
	// region is lost (powered off), so its archived log backups are gone
	// with it until it returns (SetShareLost).
	shareLost  map[topology.RegionName]bool
	copyFloor  uint64          // segments below this are not needed by the secondary
	idleLSN    uint64          // primary's insert LSN right after the last log backup
	epoch      context.Context // cancelled when roles change
	endEpoch   context.CancelFunc
	life       context.Context // cancelled by Close
	endLife    context.CancelFunc
	runCancels []context.CancelFunc
	closed     bool
	jobs       sync.WaitGroup
	costs      topology.JobCosts
}

// mark records one log backup: where the WAL was switched and the newest
// commit before it.
type mark struct {
	lsn    uint64
	commit time.Time
}

var _ topology.LogShipping = (*Shipping)(nil)

var errClosed = errors.New("pgship: pair is closed")

// NewShipping returns the engine over primary and secondary, with log
// shipping off until StartShipping (the secondary is not a standby yet).
func NewShipping(cfg ShippingConfig, primary, secondary Node) (*Shipping, error) {
	if primary.Region() == secondary.Region() {
		return nil, fmt.Errorf("pgship: primary and secondary are both region %s", primary.Region())
	}
	if cfg.Database == "" {
		cfg.Database = "finance"
	}
	if cfg.BackupInterval <= 0 {
		cfg.BackupInterval = 5 * time.Minute
	}
	if cfg.CopyInterval <= 0 {
		cfg.CopyInterval = time.Minute
	}
	if cfg.RestoreInterval <= 0 {
		cfg.RestoreInterval = time.Minute
	}
	p := &Shipping{
		cfg: cfg, clk: cfg.Clock, logf: cfg.Logf,
		nodes:   map[topology.RegionName]*node{},
		primary: primary.Region(), secondary: secondary.Region(),
		copied: map[string]bool{},
	}
	for _, n := range []Node{primary, secondary} {
		p.nodes[n.Region()] = &node{Node: n, name: n.Region(), dirs: n.Dirs()}
	}
	if p.clk == nil {
		p.clk = clock.New(1)
	}
	if p.logf == nil {
		p.logf = func(string, ...any) {}
	}
	p.epoch, p.endEpoch = context.WithCancel(context.Background())
	p.life, p.endLife = context.WithCancel(context.Background())
	return p, nil
}

// StartShipping turns log shipping on from the primary to the secondary,
// which was just rebuilt as a standby needing segments from floor on.
func (p *Shipping) StartShipping(floor uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shipping = true
	p.copyFloor = floor
}

// Engine names the engine.
func (p *Shipping) Engine() string { return "postgres" }

// SetShareLost marks region r's log backup share lost (the whole region is
// down) or back. The copy job runs where SQL Server log shipping runs it, on
// the secondary, reading the primary's share across the WAN: a share in a
// lost region cannot be read, so nothing it held is shipped, even once the
// WAN heals, until the region itself returns.
func (p *Shipping) SetShareLost(r topology.RegionName, lost bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shareLost == nil {
		p.shareLost = map[topology.RegionName]bool{}
	}
	p.shareLost[r] = lost
}

// CloseStat drops the engine's status connection to region r's server (its
// server was killed).
func (p *Shipping) CloseStat(r topology.RegionName) {
	if n := p.nodes[r]; n != nil {
		n.closeStat()
	}
}

// stop marks the engine closed and cancels its jobs, role changes and
// rebuilds; it reports false when it was closed already.
func (p *Shipping) stop() bool {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	p.closed = true
	cancels := p.runCancels
	p.runCancels = nil
	p.mu.Unlock()
	for _, c := range cancels {
		c()
	}
	p.endEpoch()
	p.endLife()
	return true
}

// wait closes the status connections and waits for the jobs to end.
func (p *Shipping) wait() {
	for _, n := range p.nodes {
		n.closeStat()
	}
	p.jobs.Wait()
}

// Close stops the jobs and waits for them (a background rebuild included).
// The servers are the provider's: they are left running. It is idempotent.
func (p *Shipping) Close() {
	p.stop()
	p.wait()
}
