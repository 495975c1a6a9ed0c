package containers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

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
	// ready says whether the store is ready for use (after a start and
	// every restart).
	ready func(context.Context) error
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

// s3Replica presents an s3Store to blob.Replicator: read on its published
// port, written through the WAN proxy's published port, its replica mode
// switched over HTTP.
type s3Replica struct{ *s3Store }

func (s s3Replica) Addr() string        { return s.addr() }
func (s s3Replica) ReplicaAddr() string { return s.wanAddr() }
func (s s3Replica) SetReadOnly(ctx context.Context, on bool) error {
	return s.setReadOnly(ctx, on)
}

// s3Repl is harness-driven replication between the S3 containers, writing
// across the WAN proxy: the embedded default's blob.Replicator, with the
// stores in containers, run in the background until close.
type s3Repl struct {
	*blob.Replicator
	stop context.CancelFunc
	wg   sync.WaitGroup
}

var _ topology.Replication = (*s3Repl)(nil)

// newS3Repl replicates from region A to B; B's bucket becomes read-only,
// A's writable.
func newS3Repl(ctx context.Context, clk *clock.Clock, spec topology.Spec, s3s map[topology.RegionName]*s3Store, creds blob.Credentials) (*s3Repl, error) {
	stores := map[topology.RegionName]blob.Store{}
	for r, s := range s3s {
		stores[r] = s3Replica{s}
	}
	repl, err := blob.NewReplicator(ctx, blob.ReplicatorConfig{Clock: clk, Stores: stores, Source: topology.RegionA,
		Interval: spec.BlobReplInterval, MinWait: 20 * time.Millisecond, DropEvery: spec.BlobDropEvery,
		Creds: creds})
	if err != nil {
		return nil, err
	}
	return &s3Repl{Replicator: repl}, nil
}

func (r *s3Repl) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	r.stop = cancel
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.Run(ctx)
	}()
}

func (r *s3Repl) close() {
	if r.stop != nil {
		r.stop()
	}
	r.wg.Wait()
}
