package containers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/blob"
)

// s3Store is one region's S3 container (bcdr/s3:local) as the harness sees it.
type s3Store struct {
	region topology.RegionName
	c      *ctr
	port   int // published loopback port
	// wanPort is the published port of the WAN proxy in front of this
	// store: the replicator writes into it across the WAN.
	wanPort int
	// health is the store's readiness path.
	health string
}

func (s *s3Store) addr() string    { return fmt.Sprintf("127.0.0.1:%d", s.port) }
func (s *s3Store) wanAddr() string { return fmt.Sprintf("127.0.0.1:%d", s.wanPort) }

// setReadOnly switches the store's replica mode (application writes refused).
func (s *s3Store) setReadOnly(ctx context.Context, on bool) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+s.addr()+"/_bcdr/readonly", strings.NewReader(fmt.Sprint(on)))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("set blob store %s read-only=%t: %w", s.region, on, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("set blob store %s read-only=%t: %s", s.region, on, resp.Status)
	}
	return nil
}

// s3Repl is harness-driven replication between the S3 containers, with
// minio-go, writing across the WAN proxy: what the embedded default does,
// with the stores in containers.
type s3Repl struct {
	clk       *clock.Clock
	interval  time.Duration
	dropEvery int
	stores    map[topology.RegionName]*s3Store

	round sync.Mutex

	mu            sync.Mutex
	src, dst      topology.RegionName
	replicating   bool
	done          map[string]string // key -> etag present at the destination
	pending       int
	oldestPending time.Time
	errors        int
	lastSync      time.Time
	seen          int
	stop          context.CancelFunc
	wg            sync.WaitGroup
}

var _ topology.Replication = (*s3Repl)(nil)

func (r *s3Repl) Status(context.Context) (topology.ReplicationStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return topology.ReplicationStatus{Source: r.src, Destination: r.dst, Replicating: r.replicating,
		Pending: r.pending, OldestPending: r.oldestPending, Errors: r.errors, LastSync: r.lastSync}, nil
}

func (r *s3Repl) clients() (src, dst *minio.Client, err error) {
	r.mu.Lock()
	s, d := r.stores[r.src], r.stores[r.dst]
	r.mu.Unlock()
	if src, err = blob.Client(s.addr(), blob.ReplicatorAccessKey, blob.ReplicatorSecret); err != nil {
		return nil, nil, err
	}
	if dst, err = blob.Client(d.wanAddr(), blob.ReplicatorAccessKey, blob.ReplicatorSecret); err != nil {
		return nil, nil, err
	}
	return src, dst, nil
}

// SyncNow lists the source and copies what the destination lacks across the WAN.
func (r *s3Repl) SyncNow(ctx context.Context) error {
	r.round.Lock()
	defer r.round.Unlock()
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

type s3obj struct {
	key, etag string
	mod       time.Time
	size      int64
}

func (r *s3Repl) sync(ctx context.Context) error {
	src, dst, err := r.clients()
	if err != nil {
		return err
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var todo []s3obj
	for o := range src.ListObjects(lctx, blob.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("blob replication: list source: %w", o.Err)
		}
		r.mu.Lock()
		have := r.done[o.Key] == o.ETag
		r.mu.Unlock()
		if !have {
			todo = append(todo, s3obj{o.Key, o.ETag, o.LastModified, o.Size})
		}
	}
	setPending := func(rest []s3obj) {
		var oldest time.Time
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
		drop := r.dropEvery > 0 && r.seen%r.dropEvery == 0
		r.mu.Unlock()
		if !drop {
			if err := copyS3(ctx, src, dst, o); err != nil {
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

func copyS3(ctx context.Context, src, dst *minio.Client, o s3obj) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rd, err := src.GetObject(ctx, blob.Bucket, o.key, minio.GetObjectOptions{})
	if err != nil {
		return fmt.Errorf("blob replication: read %s: %w", o.key, err)
	}
	defer rd.Close()
	if _, err := dst.PutObject(ctx, blob.Bucket, o.key, rd, o.size, minio.PutObjectOptions{}); err != nil {
		return fmt.Errorf("blob replication: write %s across the WAN: %w", o.key, err)
	}
	return nil
}

// seed records what the destination already holds.
func (r *s3Repl) seed(ctx context.Context) error {
	_, dst, err := r.clients()
	if err != nil {
		return err
	}
	done := map[string]string{}
	for o := range dst.ListObjects(ctx, blob.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			return fmt.Errorf("blob replication: list destination: %w", o.Err)
		}
		done[o.Key] = o.ETag
	}
	r.mu.Lock()
	r.done = done
	r.mu.Unlock()
	return nil
}

// Failover stops replication; the destination becomes a writable source.
func (r *s3Repl) Failover(ctx context.Context) error {
	r.round.Lock()
	defer r.round.Unlock()
	r.mu.Lock()
	r.replicating = false
	r.src, r.dst = r.dst, r.src
	r.pending, r.oldestPending = 0, time.Time{}
	next := r.stores[r.src]
	r.mu.Unlock()
	if err := next.setReadOnly(ctx, false); err != nil {
		return fmt.Errorf("blob failover: %w", err)
	}
	return nil
}

// Resync replicates from the current source to the other region, whose
// bucket becomes a read-only replica.
func (r *s3Repl) Resync(ctx context.Context) error {
	r.round.Lock()
	r.mu.Lock()
	dst := r.stores[r.dst]
	r.mu.Unlock()
	err := dst.setReadOnly(ctx, true)
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

// Switchover fences the source, syncs the rest and swaps roles.
func (r *s3Repl) Switchover(ctx context.Context) error {
	r.mu.Lock()
	src := r.stores[r.src]
	r.mu.Unlock()
	if err := src.setReadOnly(ctx, true); err != nil {
		return fmt.Errorf("blob switchover: %w", err)
	}
	if err := r.SyncNow(ctx); err != nil {
		_ = src.setReadOnly(ctx, false)
		return fmt.Errorf("blob switchover: final sync: %w", err)
	}
	r.round.Lock()
	r.mu.Lock()
	r.src, r.dst = r.dst, r.src
	next := r.stores[r.src]
	r.mu.Unlock()
	err := next.setReadOnly(ctx, false)
	if err == nil {
		err = r.seed(ctx)
	}
	r.round.Unlock()
	if err != nil {
		return fmt.Errorf("blob switchover: %w", err)
	}
	return nil
}

func (r *s3Repl) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	r.stop = cancel
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(max(r.clk.Wall(r.interval), 20*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				r.mu.Lock()
				on := r.replicating
				r.mu.Unlock()
				if on {
					_ = r.SyncNow(ctx)
				}
			}
		}
	}()
}

func (r *s3Repl) close() {
	if r.stop != nil {
		r.stop()
	}
	r.wg.Wait()
}
