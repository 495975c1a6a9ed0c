// Package topology describes the two-region finance-app environment and the
// mechanisms that act on it: bring it up, stop and start a region, promote a
// log-shipping secondary, switch the front door. It knows *how*; the runbook
// in package harness decides *when*, and the checks in package assertions only
// read what was recorded.
//
// A provider (package topology/local for processes on this machine,
// topology/containers for Docker, topology/fake in memory) turns a Spec
// into an Environment; each registers itself once (RegisterProvider,
// provider.go) with what it offers, and package topology/providers
// imports them all. The SQL
// engines (PostgreSQL WAL shipping, SQL Server log shipping) sit behind
// LogShipping; the blob modes (harness-driven replication, MinIO bucket
// replication) behind Replication; every network path is a named Link.
package topology

import (
	"context"
	"fmt"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology/fingerprint"
)

// RegionName names a region of the pair.
type RegionName string

// The two regions of a pair: A starts as primary, B as its paired secondary.
const (
	RegionA RegionName = "a"
	RegionB RegionName = "b"
)

// Other returns the paired region.
func (r RegionName) Other() RegionName {
	if r == RegionA {
		return RegionB
	}
	return RegionA
}

// Link names. Every network path is a named link that faults can act on.
// Per-region links carry the region as a suffix: LinkClient + "-a".
const (
	LinkClient  = "client"   // front door to a region's load balancer
	LinkAOSSQL  = "aos-sql"  // a region's AOS instances to its SQL server
	LinkAOSBlob = "aos-blob" // a region's AOS instances to its blob store
	LinkWAN     = "wan"      // between the regions: log shipping and blob replication
)

// LinkName returns the name of a per-region link, e.g. "aos-sql-a".
func LinkName(kind string, r RegionName) string { return kind + "-" + string(r) }

// Spec declares the environment. Durations are in service time.
type Spec struct {
	Provider  string `json:"provider"`
	SQLEngine string `json:"sql_engine"`
	// BlobEngine keeps the buckets in sync: BlobEngineMinIO or BlobEngineS3
	// ("" = the provider's, ProviderBlobEngine).
	BlobEngine         string `json:"blob_engine,omitempty"`
	InstancesPerRegion int    `json:"instances_per_region"`
	FaultDomains       int    `json:"fault_domains"`
	// Placement overrides the round-robin placement of instances over fault
	// domains: "round-robin" (default) or "single" (every instance in domain 0,
	// a misconfiguration that the fault-domain check must catch).
	Placement          string        `json:"placement"`
	LogBackupInterval  time.Duration `json:"log_backup_interval"`
	LogCopyInterval    time.Duration `json:"log_copy_interval"`
	LogRestoreInterval time.Duration `json:"log_restore_interval"`
	BlobReplInterval   time.Duration `json:"blob_replication_interval"`
	ProbeInterval      time.Duration `json:"probe_interval"` // load-balancer health probes
	// BlobDropEvery makes the blob replicator silently skip every Nth object (0
	// = never); it exists only so that a negative control can show the
	// cross-store check catching lost documents.
	BlobDropEvery int `json:"blob_drop_every"`
	// AOSIgnoreLimitedMode makes the AOS accept maintenance and serve reports
	// in limited mode: a deliberate defect for the limited-mode negative control.
	AOSIgnoreLimitedMode bool `json:"aos_ignore_limited_mode"`
	// WorkDir is where data directories and shares go ("" = a new temp dir).
	WorkDir string `json:"-"`
}

// DefaultSpec returns the defaults documented in the README.
func DefaultSpec() Spec {
	return Spec{
		Provider:           "local",
		SQLEngine:          "postgres",
		InstancesPerRegion: 10,
		FaultDomains:       5,
		Placement:          "round-robin",
		LogBackupInterval:  5 * time.Minute,
		LogCopyInterval:    1 * time.Minute,
		LogRestoreInterval: 1 * time.Minute,
		BlobReplInterval:   1 * time.Minute,
		ProbeInterval:      30 * time.Second,
	}
}

// FaultDomainOf returns the fault domain of instance i under the spec's placement.
func (s Spec) FaultDomainOf(i int) int {
	if s.Placement == "single" || s.FaultDomains <= 1 {
		return 0
	}
	return i % s.FaultDomains
}

// Validate reports the first bad field of the spec, and an engine its
// provider does not run (CheckEngines).
func (s Spec) Validate() error {
	switch {
	case s.InstancesPerRegion < 1:
		return fmt.Errorf("instances per region must be at least 1, got %d", s.InstancesPerRegion)
	case s.FaultDomains < 1:
		return fmt.Errorf("fault domains must be at least 1, got %d", s.FaultDomains)
	case s.Placement != "round-robin" && s.Placement != "single":
		return fmt.Errorf("placement must be round-robin or single, got %q", s.Placement)
	case s.BlobEngine != "" && s.BlobEngine != BlobEngineMinIO && s.BlobEngine != BlobEngineS3:
		return fmt.Errorf("blob engine must be %s or %s, got %q", BlobEngineMinIO, BlobEngineS3, s.BlobEngine)
	}
	for name, d := range map[string]time.Duration{
		"log backup interval": s.LogBackupInterval, "log copy interval": s.LogCopyInterval,
		"log restore interval": s.LogRestoreInterval, "blob replication interval": s.BlobReplInterval,
		"probe interval": s.ProbeInterval,
	} {
		if d <= 0 {
			return fmt.Errorf("%s must be positive, got %s", name, d)
		}
	}
	return CheckEngines(s.Provider, s)
}

// Environment is a running two-region environment.
type Environment interface {
	Spec() Spec
	Clock() *clock.Clock
	// Regions returns both regions, A first.
	Region(name RegionName) Region
	Router() Router
	SQL() LogShipping
	Blob() Replication
	Links() Links
	// Snapshot reads the surviving business data of a region: its SQL
	// database and its bucket. The checks compare it with the history.
	Snapshot(ctx context.Context, region RegionName) (*Snapshot, error)
	// Close releases every process, port, container and directory. It is
	// safe to call more than once and after a failed start.
	Close(ctx context.Context) error
}

// ProcessRoots is an environment whose processes are not children of the
// harness (containers): HostPIDs returns the pids, on this host, of their
// root processes, so that the machine-wait meter can read how long they
// waited for a CPU. Best effort: a pid it cannot tell is left out.
type ProcessRoots interface {
	HostPIDs(ctx context.Context) []int
}

// Region is one region of the pair.
type Region interface {
	Name() RegionName
	Instances() []Instance
	// Endpoint is the region's load balancer, for the runbook and probes
	// (it bypasses the client link).
	Endpoint() string
	// Stop takes down every process of the region (SQL, blob store, AOS,
	// load balancer), as a power loss would: nothing is shut down cleanly.
	Stop(ctx context.Context) error
	// Start brings back whatever Stop took down, each in the role it had.
	Start(ctx context.Context) error
	// Up reports whether the region's processes are running.
	Up() bool
	// StopBlob and StartBlob take the region's blob store down and up.
	StopBlob(ctx context.Context) error
	StartBlob(ctx context.Context) error
	// StopSQL crashes the region's SQL server; StartSQL restarts it in place.
	StopSQL(ctx context.Context) error
	StartSQL(ctx context.Context) error
}

// ClientEndpointer is a region that can also be probed the way the front
// door reaches it (through its client link), so that a region cut off from
// its clients looks down even while its own load balancer answers.
type ClientEndpointer interface {
	ClientEndpoint() string
}

// ProbeEndpoint is where a monitor outside the region probes it: the client
// path when the provider has one, else the load balancer.
func ProbeEndpoint(r Region) string {
	if c, ok := r.(ClientEndpointer); ok {
		return c.ClientEndpoint()
	}
	return r.Endpoint()
}

// Instance is one AOS instance.
type Instance interface {
	ID() string
	Region() RegionName
	FaultDomain() int
	Index() int
	Kill(ctx context.Context) error    // crash: the process is gone
	Freeze(ctx context.Context) error  // stop the process; connections hang
	Thaw(ctx context.Context) error    // resume a frozen process
	Restart(ctx context.Context) error // start a killed instance again
	Alive() bool                       // process exists and is not frozen
}

// Router is the front door: it sends client traffic to the active region.
type Router interface {
	// URL is where clients send requests.
	URL() string
	Active() RegionName
	// SwitchTo sends all new requests to region r.
	SwitchTo(r RegionName) error
	// Drain refuses new requests (503) until the next SwitchTo, for a planned switch.
	Drain() error
}

// Position is a point of the SQL log and the newest commit it includes.
type Position struct {
	// LSN is the engine's log sequence number as text (comparable per engine).
	LSN string `json:"lsn"`
	// Seq is a monotonically increasing rendering of LSN for arithmetic.
	Seq uint64 `json:"seq"`
	// CommitTime is the wall time of the newest commit included (zero if unknown).
	CommitTime time.Time `json:"commit_time"`
	// At is when the job reached this position.
	At time.Time `json:"at"`
}

// ShippingStatus is the state of log shipping at one moment.
type ShippingStatus struct {
	Primary   RegionName `json:"primary"`
	Secondary RegionName `json:"secondary"`
	// Shipping is false while the pair is broken (after a failover, before resync).
	Shipping bool     `json:"shipping"`
	Backup   Position `json:"backup"`  // newest log backup taken on the primary
	Copy     Position `json:"copy"`    // newest backup copied to the secondary's share
	Restore  Position `json:"restore"` // newest backup restored on the secondary
	// PrimaryLast is the newest commit on the primary, as last observed while
	// it was reachable: what a failover would have to reach to lose nothing.
	// Its At is the latest time the primary was seen with nothing newer.
	PrimaryLast Position `json:"primary_last"`
	// BackupErrors counts failed log backups (a full log share, a crashed server).
	BackupErrors int `json:"backup_errors"`
	CopyErrors   int `json:"copy_errors"`
	// JobWall is the worst wall time of each job's recent runs
	// (JobLogBackup, JobLogCopy, JobLogRestore): machine work, the same at
	// any time scale.
	JobWall map[string]time.Duration `json:"job_wall_ns,omitempty"`
	// JobDelay is, per job, the worst lateness against its schedule plus
	// wall cost of its runs so far (wall time); JobEvery its schedule
	// (service time). Together they bound what the machine added to the
	// age of a write the secondary lacks (ChainDelay).
	JobDelay map[string]time.Duration `json:"job_delay_ns,omitempty"`
	JobEvery map[string]time.Duration `json:"job_every_ns,omitempty"`
}

// ChainDelay bounds what the machine (late timers, slow or overrunning
// jobs) added to the age of the oldest write the secondary lacks: that
// write is carried by one log backup, one copy and one restore, each
// delayed at most by its job's worst delay, and a copy or restore that
// starts after its tick waits at most one more of its intervals. It is
// the sum of the three jobs' worst delays (wall) plus one copy and one
// restore interval (service time, converted by the caller's clock); ok is
// false until every job has run once.
func (s ShippingStatus) ChainDelay() (wall, service time.Duration, ok bool) {
	wall, ok = s.jobDelays(JobLogBackup, JobLogCopy, JobLogRestore)
	return wall, s.JobEvery[JobLogCopy] + s.JobEvery[JobLogRestore], ok
}

// LossChainDelay bounds what the machine added to a failover's loss
// window: the write lost first is the first one no copied log backup held,
// and a failover restores every backup that was copied, so only the log
// backup and the copy that would have carried it count. It is the two
// jobs' worst delays (wall) plus one copy interval (service time); ok is
// false until both jobs have run once.
func (s ShippingStatus) LossChainDelay() (wall, service time.Duration, ok bool) {
	wall, ok = s.jobDelays(JobLogBackup, JobLogCopy)
	return wall, s.JobEvery[JobLogCopy], ok
}

// jobDelays sums the worst delays of jobs; false when one has not run yet.
func (s ShippingStatus) jobDelays(jobs ...string) (time.Duration, bool) {
	var wall time.Duration
	for _, j := range jobs {
		d, has := s.JobDelay[j]
		if !has {
			return 0, false
		}
		wall += d
	}
	return wall, true
}

// ShipWall is the wall cost of shipping one log backup: the worst recent
// backup, copy and restore runs together.
func (s ShippingStatus) ShipWall() time.Duration {
	return s.JobWall[JobLogBackup] + s.JobWall[JobLogCopy] + s.JobWall[JobLogRestore]
}

// PossibleLoss tells whether failing over now could lose committed data:
// the primary was seen with commits that never reached the secondary's share.
func (s ShippingStatus) PossibleLoss() bool {
	return s.PrimaryLast.Seq > s.Copy.Seq && s.PrimaryLast.Seq > s.Restore.Seq
}

// Lag is the data at risk at time now, as far as one status tells: the
// age of the oldest write the secondary has not restored (0 when it has
// restored everything the primary was seen to commit). The oldest missing
// write committed after the newest restored one, so this is an upper bound,
// exact under steady traffic. With nothing restored yet one status cannot
// tell when the oldest missing write committed: Lag is then 0 and a
// LagTracker, which follows the statuses over time, tells.
func (s ShippingStatus) Lag(now time.Time) time.Duration {
	since, ok := s.atRiskSince()
	if !ok || since.IsZero() {
		return 0
	}
	return max(now.Sub(since), 0)
}

// InSync tells whether log shipping runs and the secondary has restored
// everything the primary was seen to commit.
func (s ShippingStatus) InSync() bool {
	_, atRisk := s.atRiskSince()
	return s.Shipping && !atRisk
}

func (s ShippingStatus) atRiskSince() (time.Time, bool) {
	if s.PrimaryLast.CommitTime.IsZero() || s.PrimaryLast.Seq <= s.Restore.Seq {
		return time.Time{}, false
	}
	return s.Restore.CommitTime, true
}

// LagTracker follows log-shipping statuses over time to tell the age of the
// data at risk, also before anything was restored. The zero value is ready.
//
// One status bounds the oldest missing write from below by the newest
// restored commit: exact under steady traffic, but after a quiet spell
// (the bring-up's seed data restored, then minutes before the first
// business write) it would date the data at risk from the last restored
// commit, long before anything was at risk. The tracker also remembers
// when the primary was last seen with nothing newer than a position
// (PrimaryLast.At): once that position is restored, whatever is missing
// was committed after that moment.
type LagTracker struct {
	primary RegionName
	first   time.Time // the first commit seen beyond the restored position while nothing was restored
	seen    []seenAt  // the primary's newest commit as read, oldest first
}

// seenAt is one reading of the primary's newest commit: its position and
// the latest time the primary was seen with nothing newer.
type seenAt struct {
	seq uint64
	at  time.Time
}

// maxSeen bounds the readings kept (a secondary that restores nothing for
// that many readings keeps its oldest ones dropped; the bound then falls
// back to the newest restored commit, an older, safe one).
const maxSeen = 4096

// AtRiskSince returns when the oldest write the secondary has not
// restored was committed (at the latest), and false when it has restored
// everything the primary was seen to commit. With nothing restored since
// shipping (re)started it is the first commit the tracker saw beyond the
// restored position (statuses are sampled, so a write slightly older may
// be missing too).
func (t *LagTracker) AtRiskSince(s ShippingStatus) (time.Time, bool) {
	if s.Primary != t.primary {
		t.primary, t.first, t.seen = s.Primary, time.Time{}, nil
	}
	t.note(s.PrimaryLast)
	since, ok := s.atRiskSince()
	// The latest reading at or below the restored position: the primary
	// had committed nothing the secondary lacks at that moment.
	var floor time.Time
	k := -1
	for i, o := range t.seen {
		if o.seq > s.Restore.Seq {
			break
		}
		floor, k = o.at, i
	}
	if k > 0 {
		t.seen = t.seen[k:]
	}
	if !ok {
		t.first = time.Time{}
		return time.Time{}, false
	}
	if !since.IsZero() {
		t.first = time.Time{}
		if floor.After(since) {
			since = floor
		}
		return since, true
	}
	if t.first.IsZero() {
		t.first = s.PrimaryLast.CommitTime
	}
	return t.first, true
}

// note keeps one reading of the primary's newest commit.
func (t *LagTracker) note(p Position) {
	if p.CommitTime.IsZero() {
		return
	}
	at := p.At
	if at.Before(p.CommitTime) {
		at = p.CommitTime
	}
	if n := len(t.seen); n > 0 {
		last := &t.seen[n-1]
		switch {
		case p.Seq < last.seq:
			return
		case p.Seq == last.seq:
			if at.After(last.at) {
				last.at = at
			}
			return
		}
	}
	if len(t.seen) >= maxSeen {
		t.seen = append(t.seen[:0], t.seen[1:]...)
	}
	t.seen = append(t.seen, seenAt{p.Seq, at})
}

// SwitchoverOptions tunes a planned switch of roles.
type SwitchoverOptions struct {
	// SkipFinalLogBackup promotes the secondary without the tail-of-log backup.
	// It loses the primary's last writes; it exists only so that a negative
	// control can show the failback-loss check catching it.
	SkipFinalLogBackup bool
	// AtCutover, when set, is called once the secondary is promoted and
	// before the old primary is rebuilt as the new secondary: both regions
	// then hold the data as of the cutover (the old primary fenced, the new
	// one taking no traffic yet), so the runbook fingerprints them here.
	// The engine waits for it and ignores what it does.
	AtCutover func(ctx context.Context)
}

// Fingerprinter is an environment whose regions' stores can be
// fingerprinted (package topology/fingerprint): the runbook compares the
// region being left with the region taking over at each cutover.
type Fingerprinter interface {
	// SQLFingerprint opens region r's finance database as a store; done
	// releases it.
	SQLFingerprint(ctx context.Context, r RegionName) (s fingerprint.Store, done func(), err error)
	// BlobFingerprint lists region r's bucket (object names and their
	// checksums, ETags where the store lists them) as a store.
	BlobFingerprint(ctx context.Context, r RegionName) (fingerprint.Store, error)
}

// Tamperer is an environment that can damage a region's data on purpose,
// for the negative controls of the cutover fingerprint: AlterRow changes
// one business row (an invoice's amount) and DropObject deletes one object
// from the bucket; each returns the key it damaged ("" when there was
// none).
type Tamperer interface {
	AlterRow(ctx context.Context, r RegionName) (string, error)
	DropObject(ctx context.Context, r RegionName) (string, error)
}

// LogShipping is a SQL primary with a log-shipping secondary. The three jobs
// (log backup, copy across the WAN, restore) run on the spec's schedule inside
// the provider; the methods here run them on demand and change roles.
type LogShipping interface {
	Engine() string
	Status(ctx context.Context) (ShippingStatus, error)
	// BackupLog, CopyLogs and RestoreLogs run one round of each job now.
	BackupLog(ctx context.Context) error
	CopyLogs(ctx context.Context) error
	RestoreLogs(ctx context.Context) error
	// Failover restores every log backup that reached the secondary and
	// brings it online as the primary (unplanned: the old primary is gone).
	Failover(ctx context.Context) (Position, error)
	// Resync rebuilds the old primary as a secondary of the current primary
	// and starts reverse log shipping.
	Resync(ctx context.Context) error
	// Switchover is the planned role change: fence writes on the primary,
	// take the tail-of-log backup, ship and restore it, promote the secondary,
	// and make the old primary its secondary. A provider may do that last
	// step in the background once the new primary takes writes: Status shows
	// Shipping false until it is done, and Resync waits for it.
	Switchover(ctx context.Context, opts SwitchoverOptions) error
	// Fence makes the current primary refuse writes (for a planned switch).
	Fence(ctx context.Context) error
}

// ReplicationStatus is the state of blob replication at one moment.
type ReplicationStatus struct {
	Source      RegionName `json:"source"`
	Destination RegionName `json:"destination"`
	Replicating bool       `json:"replicating"`
	// Pending counts objects in the source not yet in the destination, as
	// of this reading of the source (not of the last replication round:
	// an object written since is pending).
	Pending int `json:"pending"`
	// OldestPending is when the oldest pending object was written (zero if
	// none): the lag, the data at risk, is measured from it.
	OldestPending time.Time `json:"oldest_pending"`
	// Stale is set when the source could not be read: Pending and
	// OldestPending are as of the last reading, and measure nothing now.
	Stale    bool      `json:"stale,omitempty"`
	Errors   int       `json:"errors"`
	LastSync time.Time `json:"last_sync"`
	// RoundWall is the worst wall time of the recent replication rounds
	// (machine work, the same at any time scale; 0 if unknown).
	RoundWall time.Duration `json:"round_wall_ns,omitempty"`
	// RoundDelay is the worst delay of a replication round so far: how
	// late it started against its schedule plus its wall cost (a round
	// under way counted by the time since its tick). It bounds what the
	// machine added to the age of an object the destination lacks: a
	// round copies everything pending. RoundDelayKnown is false for an
	// engine that does not schedule rounds of its own (MinIO's).
	RoundDelay      time.Duration `json:"round_delay_ns,omitempty"`
	RoundDelayKnown bool          `json:"round_delay_known,omitempty"`
}

// ReplicationDescriber is a Replication whose engine reports on itself:
// Describe returns, in one line and with no secret, what the engine says
// of its replication (MinIO: mc replicate status).
type ReplicationDescriber interface {
	Describe(ctx context.Context) (string, error)
}

// Lag is the age of the oldest object not yet replicated.
func (s ReplicationStatus) Lag(now time.Time) time.Duration {
	if s.OldestPending.IsZero() {
		return 0
	}
	return now.Sub(s.OldestPending)
}

// Replication keeps a bucket per region in sync, source to destination.
// Only the source bucket takes application writes; the destination is
// read-only to everyone but the replicator until a failover.
type Replication interface {
	Status(ctx context.Context) (ReplicationStatus, error)
	// SyncNow runs one replication round.
	SyncNow(ctx context.Context) error
	// Failover (unplanned) stops replication and makes the destination
	// bucket writable: it becomes the source, with nothing replicating yet.
	Failover(ctx context.Context) error
	// Resync starts replication from the current source to the other region
	// (reverse replication while failed over), copying what the other lacks.
	Resync(ctx context.Context) error
	// Switchover (planned) makes the current source read-only, runs a final
	// sync so nothing is left behind, makes the other region's bucket
	// writable and replicates from it: roles swapped.
	Switchover(ctx context.Context) error
}

// Link is a named network path through a proxy that can be faulted.
type Link interface {
	Name() string
	// Cut drops every connection and refuses new ones; Restore undoes it.
	Cut() error
	Restore() error
	// AddToxic adds a Toxiproxy toxic: typ is latency, bandwidth, timeout,
	// reset_peer, slow_close, slicer or limit_data; stream is upstream or
	// downstream; attrs are the toxic's attributes.
	AddToxic(name, typ, stream string, toxicity float64, attrs map[string]any) error
	RemoveToxic(name string) error
	// Reset removes every toxic and restores the link.
	Reset() error
}

// Links is the set of named links.
type Links interface {
	Get(name string) (Link, bool)
	Names() []string
}

// Snapshot is the business data that survived in one region.
type Snapshot struct {
	Region RegionName `json:"region"`
	// Journal maps idempotency key to the entry as stored.
	Journal map[string]JournalEntry `json:"-"`
	// Invoices maps idempotency key to the invoice row.
	Invoices map[string]InvoiceRow `json:"-"`
	// Objects maps object key to the SHA-256 (hex) of its content.
	Objects map[string]string `json:"-"`
	// LimitedMode is the environment mode stored in the database.
	LimitedMode bool `json:"limited_mode"`
	TakenAt     time.Time
}

// Has tells whether the write with the idempotency key survived.
func (s *Snapshot) Has(key string) bool {
	if s == nil {
		return false
	}
	if _, ok := s.Journal[key]; ok {
		return true
	}
	_, ok := s.Invoices[key]
	return ok
}

// JournalEntry is a stored journal entry.
type JournalEntry struct {
	Key       string
	LineCount int // lines the entry declared
	Lines     []JournalLine
	// Applied counts how many entry rows carry this key (more than one is a duplicate).
	Applied int
}

// JournalLine is one debit or credit line, in cents.
type JournalLine struct {
	Account string
	Debit   int64
	Credit  int64
}

// InvoiceRow is a stored invoice naming its document in the bucket.
type InvoiceRow struct {
	Key       string
	ObjectKey string
	SHA256    string
	Amount    int64
}

// Explainer is a log-shipping engine that can say where it stands and why
// its secondary may not be catching up, for error messages.
type Explainer interface {
	Explain(ctx context.Context) string
}

// InitialSync runs one round of every log-shipping job and waits until the
// secondary has restored everything backed up so far, as log shipping's
// set-up does before the pair is put into service.
func InitialSync(ctx context.Context, ls LogShipping) error {
	if err := ls.BackupLog(ctx); err != nil {
		return fmt.Errorf("initial log backup: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := ls.CopyLogs(ctx); err != nil {
			return fmt.Errorf("initial log copy: %w", err)
		}
		if err := ls.RestoreLogs(ctx); err != nil {
			return fmt.Errorf("initial log restore: %w", err)
		}
		st, err := ls.Status(ctx)
		if err != nil {
			return fmt.Errorf("initial sync status: %w", err)
		}
		if st.Restore.Seq >= st.Backup.Seq && st.Backup.Seq > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			err := fmt.Errorf("initial sync: secondary restored %s of %s after 30s", st.Restore.LSN, st.Backup.LSN)
			if e, ok := ls.(Explainer); ok {
				err = fmt.Errorf("%w (%s)", err, e.Explain(ctx))
			}
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}
