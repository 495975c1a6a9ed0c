package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
)

// Client returns a minio-go client for an S3 endpoint.
func Client(endpoint, accessKey, secret string) (*minio.Client, error) {
	c, err := minio.New(endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(accessKey, secret, ""),
		Region: "us-east-1", BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", endpoint, err)
	}
	return c, nil
}

// Checksums reads every object of the bucket at endpoint, with the
// replicator's key of creds, and returns key -> SHA-256 of its content.
func Checksums(ctx context.Context, endpoint string, creds Credentials) (map[string]string, error) {
	c, err := Client(endpoint, creds.ReplicatorAccessKey, creds.ReplicatorSecret)
	if err != nil {
		return nil, err
	}
	var keys []string
	for o := range c.ListObjects(ctx, Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("list %s: %w", endpoint, o.Err)
		}
		keys = append(keys, o.Key)
	}
	out := make(map[string]string, len(keys))
	var mu sync.Mutex
	var firstErr error
	work := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				sum, err := objectSum(ctx, c, k)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				out[k] = sum
				mu.Unlock()
			}
		}()
	}
	for _, k := range keys {
		work <- k
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

func objectSum(ctx context.Context, c *minio.Client, key string) (string, error) {
	o, err := c.GetObject(ctx, Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return "", fmt.Errorf("get %s: %w", key, err)
	}
	defer o.Close()
	h := sha256.New()
	if _, err := io.Copy(h, o); err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Store is one region's S3 endpoint as the replicator drives it; each
// provider adapts its own (ServerStore for the embedded one).
type Store interface {
	// Addr is the store's address from the harness: the replicator reads
	// the source here.
	Addr() string
	// ReplicaAddr is where the replicator reaches the store as the
	// destination: across the WAN, asked every round so that a faulted link
	// makes copies fail.
	ReplicaAddr() string
	// SetReadOnly switches replica mode: application writes refused, the
	// replicator's still taken.
	SetReadOnly(ctx context.Context, on bool) error
}

// ServerStore presents an embedded Server to the replicator; wan returns
// its address across the WAN (asked every round).
func ServerStore(s *Server, wan func() string) Store { return serverStore{s, wan} }

type serverStore struct {
	s   *Server
	wan func() string
}

func (st serverStore) Addr() string        { return st.s.Addr() }
func (st serverStore) ReplicaAddr() string { return st.wan() }
func (st serverStore) SetReadOnly(_ context.Context, on bool) error {
	st.s.SetReadOnly(on)
	return nil
}

// ReplicatorConfig wires a replicator.
type ReplicatorConfig struct {
	Clock    *clock.Clock
	Stores   map[topology.RegionName]Store
	Source   topology.RegionName
	Interval time.Duration // service time between rounds
	// MinWait is the least wall time between rounds (0 = no floor), so a
	// fast clock does not turn the schedule into a busy loop.
	MinWait time.Duration
	// DropEvery skips every Nth object without copying it (0 = never): a
	// deliberate defect for the cross-store negative control.
	DropEvery int
	// Creds hold the replicator's key on every store (required).
	Creds Credentials
}

// Replicator copies new objects from the source bucket to the destination.
type Replicator struct {
	cfg   ReplicatorConfig
	round sync.Mutex        // one round at a time
	costs topology.JobCosts // wall time of the recent rounds

	mu            sync.Mutex
	source, dest  topology.RegionName
	replicating   bool
	done          map[string]string // key -> etag present at dest
	pending       int
	oldestPending time.Time
	errors        int
	lastSync      time.Time
	seen          int
	endRound      context.CancelFunc       // ends the round in progress, if any
	status        map[string]*minio.Client // Status's clients by source address
}

var _ topology.Replication = (*Replicator)(nil)

// NewReplicator returns a replicator from cfg.Source to the other region;
// the destination bucket is made read-only to the application, the
// source's writable.
func NewReplicator(ctx context.Context, cfg ReplicatorConfig) (*Replicator, error) {
	if cfg.Creds.ReplicatorAccessKey == "" {
		return nil, errors.New("blob replicator: the replicator's key is required")
	}
	r := &Replicator{cfg: cfg, source: cfg.Source, dest: cfg.Source.Other(), replicating: true, done: map[string]string{}}
	if err := cfg.Stores[r.dest].SetReadOnly(ctx, true); err != nil {
		return nil, err
	}
	if err := cfg.Stores[r.source].SetReadOnly(ctx, false); err != nil {
		return nil, err
	}
	return r, nil
}

// Run replicates on the schedule until ctx ends: one round every
// Interval of service time (never under MinWait of wall time), on the
// engines' job scheduler, which notes each round's delay (its lateness
// plus its wall cost) for the replication-lag band.
func (r *Replicator) Run(ctx context.Context) {
	every := max(r.cfg.Interval, r.cfg.Clock.Service(r.cfg.MinWait))
	var wg sync.WaitGroup
	topology.RunJobs(ctx, r.cfg.Clock, &r.costs, &wg, topology.Job{Name: topology.JobReplication, Every: every,
		Run: func(ctx context.Context) error {
			r.mu.Lock()
			on := r.replicating
			r.mu.Unlock()
			if !on {
				return nil
			}
			return r.SyncNow(ctx) // failures are counted in Status
		}})
	wg.Wait()
}

// Status reads the source bucket now: every object the destination does
// not hold (as far as the rounds have copied) is pending, including those
// written since the last round, so the lag is the age of the oldest write
// the destination lacks, not the backlog a round last saw. When the source
// cannot be read, the last round's figures are returned marked Stale.
func (r *Replicator) Status(ctx context.Context) (topology.ReplicationStatus, error) {
	pending, oldest, err := r.unreplicated(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	st := topology.ReplicationStatus{Source: r.source, Destination: r.dest, Replicating: r.replicating,
		Pending: r.pending, OldestPending: r.oldestPending, Errors: r.errors, LastSync: r.lastSync, RoundWall: r.costs.Worst()[topology.JobReplication]}
	st.RoundDelay, st.RoundDelayKnown = r.costs.Delay(topology.JobReplication)
	if err != nil {
		st.Stale = true
	} else {
		st.Pending, st.OldestPending = pending, oldest
	}
	return st, nil
}

// statusReadTimeout bounds Status's listing of the source (a lost region
// must not hold up the lag sampler or the runbook).
const statusReadTimeout = 2 * time.Second

// statusClient is Status's client of the source store, kept from one
// reading to the next (a reading every lag sample) and not retrying: a
// source that does not answer at once gives a stale status, not a sampler
// held up by retries.
func (r *Replicator) statusClient() (*minio.Client, error) {
	r.mu.Lock()
	addr := r.cfg.Stores[r.source].Addr()
	c := r.status[addr]
	r.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := minio.New(addr, &minio.Options{
		Creds:  credentials.NewStaticV4(r.cfg.Creds.ReplicatorAccessKey, r.cfg.Creds.ReplicatorSecret, ""),
		Region: "us-east-1", BucketLookup: minio.BucketLookupPath, MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", addr, err)
	}
	r.mu.Lock()
	if r.status == nil {
		r.status = map[string]*minio.Client{}
	}
	r.status[addr] = c
	r.mu.Unlock()
	return c, nil
}

// unreplicated lists the source and counts the objects the destination
// does not hold, with the oldest one's modification time.
func (r *Replicator) unreplicated(ctx context.Context) (pending int, oldest time.Time, err error) {
	src, err := r.statusClient()
	if err != nil {
		return 0, time.Time{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, statusReadTimeout)
	defer cancel()
	for o := range src.ListObjects(ctx, Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			return 0, time.Time{}, fmt.Errorf("list source: %w", o.Err)
		}
		r.mu.Lock()
		have := r.done[o.Key] == o.ETag
		r.mu.Unlock()
		if !have {
			pending++
			if oldest.IsZero() || o.LastModified.Before(oldest) {
				oldest = o.LastModified
			}
		}
	}
	return pending, oldest, nil
}

func (r *Replicator) clients() (src, dst *minio.Client, err error) {
	r.mu.Lock()
	s, d := r.source, r.dest
	r.mu.Unlock()
	key, secret := r.cfg.Creds.ReplicatorAccessKey, r.cfg.Creds.ReplicatorSecret
	if src, err = Client(r.cfg.Stores[s].Addr(), key, secret); err != nil {
		return nil, nil, err
	}
	if dst, err = Client(r.cfg.Stores[d].ReplicaAddr(), key, secret); err != nil {
		return nil, nil, err
	}
	return src, dst, nil
}

// SyncNow runs one replication round: list the source, copy what the
// destination lacks across the WAN.
func (r *Replicator) SyncNow(ctx context.Context) error {
	r.round.Lock()
	defer r.round.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	r.mu.Lock()
	r.endRound = cancel
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.endRound = nil
		r.mu.Unlock()
		cancel()
	}()
	err := r.sync(ctx)
	r.mu.Lock()
	if err != nil {
		r.errors++
	} else {
		r.lastSync = time.Now()
	}
	r.mu.Unlock()
	return err
}

func (r *Replicator) sync(ctx context.Context) error {
	src, dst, err := r.clients()
	if err != nil {
		return err
	}
	type obj struct {
		key, etag string
		mod       time.Time
		size      int64
	}
	var todo []obj
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for o := range src.ListObjects(lctx, Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("list source: %w", o.Err)
		}
		r.mu.Lock()
		have := r.done[o.Key] == o.ETag
		r.mu.Unlock()
		if !have {
			todo = append(todo, obj{o.Key, o.ETag, o.LastModified, o.Size})
		}
	}
	setPending := func(rest []obj) {
		oldest := time.Time{}
		for _, o := range rest {
			if oldest.IsZero() || o.mod.Before(oldest) {
				oldest = o.mod
			}
		}
		r.mu.Lock()
		r.pending, r.oldestPending = len(rest), oldest
		r.mu.Unlock()
	}
	setPending(todo)
	for i, o := range todo {
		r.mu.Lock()
		r.seen++
		drop := r.cfg.DropEvery > 0 && r.seen%r.cfg.DropEvery == 0
		r.mu.Unlock()
		if !drop {
			if err := copyObject(ctx, src, dst, o.key, o.size); err != nil {
				setPending(todo[i:])
				return err
			}
		}
		r.mu.Lock()
		r.done[o.key] = o.etag
		r.mu.Unlock()
	}
	setPending(nil)
	return nil
}

func copyObject(ctx context.Context, src, dst *minio.Client, key string, size int64) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	o, err := src.GetObject(ctx, Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return fmt.Errorf("read %s from source: %w", key, err)
	}
	defer o.Close()
	if _, err := dst.PutObject(ctx, Bucket, key, o, size, minio.PutObjectOptions{}); err != nil {
		return fmt.Errorf("write %s to destination: %w", key, err)
	}
	return nil
}

// seed marks what the destination already holds, so a resync copies only
// what it lacks.
func (r *Replicator) seed(ctx context.Context) error {
	_, dst, err := r.clients()
	if err != nil {
		return err
	}
	done := map[string]string{}
	for o := range dst.ListObjects(ctx, Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("list destination: %w", o.Err)
		}
		done[o.Key] = o.ETag
	}
	r.mu.Lock()
	r.done = done
	r.mu.Unlock()
	return nil
}

// Failover stops replication and makes the destination writable; it is
// now the source, with nothing replicating from it yet.
func (r *Replicator) Failover(ctx context.Context) error {
	// A round in progress may be stuck on the lost region, its reads and
	// writes retrying until their timeouts (seconds on containers, all of
	// it recovery time): end it rather than wait for it.
	r.mu.Lock()
	r.replicating = false
	if r.endRound != nil {
		r.endRound()
	}
	r.mu.Unlock()
	r.round.Lock()
	defer r.round.Unlock()
	r.mu.Lock()
	r.source, r.dest = r.dest, r.source
	r.pending, r.oldestPending = 0, time.Time{}
	next := r.cfg.Stores[r.source]
	r.mu.Unlock()
	if err := next.SetReadOnly(ctx, false); err != nil {
		return fmt.Errorf("blob failover: %w", err)
	}
	return nil
}

// Resync starts replicating from the current source to the other region,
// whose bucket becomes a read-only replica again.
func (r *Replicator) Resync(ctx context.Context) error {
	r.round.Lock()
	r.mu.Lock()
	dst := r.cfg.Stores[r.dest]
	r.mu.Unlock()
	err := dst.SetReadOnly(ctx, true)
	if err == nil {
		err = r.seed(ctx)
	}
	r.round.Unlock()
	if err != nil {
		return fmt.Errorf("resync blob replication: %w", err)
	}
	if err := r.SyncNow(ctx); err != nil {
		return fmt.Errorf("resync blob replication: %w", err)
	}
	r.mu.Lock()
	r.replicating = true
	r.mu.Unlock()
	return nil
}

// Switchover fences the source, syncs the rest, and swaps roles. When the
// final sync fails the source is made writable again: it still is the
// source.
func (r *Replicator) Switchover(ctx context.Context) error {
	r.mu.Lock()
	src := r.cfg.Stores[r.source]
	r.mu.Unlock()
	if err := src.SetReadOnly(ctx, true); err != nil {
		return fmt.Errorf("blob switchover: %w", err)
	}
	if err := r.SyncNow(ctx); err != nil {
		_ = src.SetReadOnly(ctx, false)
		return fmt.Errorf("final blob sync: %w", err)
	}
	r.round.Lock()
	r.mu.Lock()
	r.source, r.dest = r.dest, r.source
	next := r.cfg.Stores[r.source]
	r.mu.Unlock()
	err := next.SetReadOnly(ctx, false)
	if err == nil {
		err = r.seed(ctx)
	}
	r.round.Unlock()
	if err != nil {
		return fmt.Errorf("switch blob replication: %w", err)
	}
	return nil
}
