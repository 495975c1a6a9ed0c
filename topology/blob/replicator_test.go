package blob

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/ports"
)

// pair is two embedded stores, each reached "across the WAN" at an address
// the test can point elsewhere (a cut link).
type pair struct {
	srv map[topology.RegionName]*Server
	wan map[topology.RegionName]*atomic.Value
}

// testCreds are the keys of this package's tests, random like a run's.
var testCreds = NewCredentials()

func newPair(t *testing.T) *pair {
	t.Helper()
	p := &pair{srv: map[topology.RegionName]*Server{}, wan: map[topology.RegionName]*atomic.Value{}}
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		s, err := NewServer(testCreds)
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Stop() })
		p.srv[r] = s
		p.wan[r] = &atomic.Value{}
		p.wan[r].Store(s.Addr())
	}
	return p
}

func (p *pair) stores() map[topology.RegionName]Store {
	out := map[topology.RegionName]Store{}
	for r, s := range p.srv {
		wan := p.wan[r]
		out[r] = ServerStore(s, func() string { return wan.Load().(string) })
	}
	return out
}

func (p *pair) cut(t *testing.T, r topology.RegionName) {
	t.Helper()
	addr, err := ports.Free()
	require.NoError(t, err)
	p.wan[r].Store(addr)
}

// replicate starts a replicator from region A over the pair's stores.
func (p *pair) replicate(t *testing.T, dropEvery int) *Replicator {
	t.Helper()
	r, err := NewReplicator(context.Background(), p.config(dropEvery))
	require.NoError(t, err)
	return r
}

func (p *pair) config(dropEvery int) ReplicatorConfig {
	return ReplicatorConfig{Clock: clock.New(200), Stores: p.stores(), Source: topology.RegionA, Interval: time.Minute, DropEvery: dropEvery, Creds: testCreds}
}

func putDoc(t *testing.T, s *Server, key string) error {
	t.Helper()
	c, err := Client(s.Addr(), testCreds.AppAccessKey, testCreds.AppSecret)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.PutObject(ctx, Bucket, key, strings.NewReader("invoice "+key), int64(len("invoice "+key)), minio.PutObjectOptions{})
	return err
}

func keys(t *testing.T, s *Server) []string {
	t.Helper()
	sums, err := Checksums(context.Background(), s.Addr(), testCreds)
	require.NoError(t, err)
	var out []string
	for k := range sums {
		out = append(out, k)
	}
	return out
}

func TestReplicatorCopiesAndSwitchesOver(t *testing.T) {
	ctx := context.Background()
	p := newPair(t)
	r := p.replicate(t, 0)
	a, b := p.srv[topology.RegionA], p.srv[topology.RegionB]
	require.False(t, a.ReadOnly())
	require.True(t, b.ReadOnly())
	require.Error(t, putDoc(t, b, "refused"), "the replica refuses application writes")

	require.NoError(t, putDoc(t, a, "inv-1"))
	require.NoError(t, r.SyncNow(ctx))
	require.Equal(t, []string{"inv-1"}, keys(t, b))
	st, err := r.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, topology.RegionA, st.Source)
	require.Zero(t, st.Pending)
	require.False(t, st.LastSync.IsZero())

	require.NoError(t, putDoc(t, a, "inv-2"))
	require.NoError(t, r.Switchover(ctx))
	require.ElementsMatch(t, []string{"inv-1", "inv-2"}, keys(t, b), "the final sync leaves nothing behind")
	require.True(t, a.ReadOnly())
	require.False(t, b.ReadOnly())
	st, _ = r.Status(ctx)
	require.Equal(t, topology.RegionB, st.Source)
	require.Equal(t, topology.RegionA, st.Destination)
}

func TestReplicatorFailedSwitchoverLeavesSourceWritable(t *testing.T) {
	ctx := context.Background()
	p := newPair(t)
	r := p.replicate(t, 0)
	require.NoError(t, putDoc(t, p.srv[topology.RegionA], "inv-1"))
	p.cut(t, topology.RegionB)

	require.ErrorContains(t, r.Switchover(ctx), "final blob sync")
	require.False(t, p.srv[topology.RegionA].ReadOnly(), "the source stays the source, writable")
	st, _ := r.Status(ctx)
	require.Equal(t, topology.RegionA, st.Source)
	require.Equal(t, 1, st.Pending)
	require.Equal(t, 1, st.Errors)
}

func TestReplicatorFailoverAndResync(t *testing.T) {
	ctx := context.Background()
	p := newPair(t)
	r := p.replicate(t, 0)
	a, b := p.srv[topology.RegionA], p.srv[topology.RegionB]
	require.NoError(t, putDoc(t, a, "inv-1"))
	require.NoError(t, r.SyncNow(ctx))

	require.NoError(t, r.Failover(ctx))
	require.False(t, b.ReadOnly())
	st, _ := r.Status(ctx)
	require.False(t, st.Replicating)
	require.Equal(t, topology.RegionB, st.Source)
	require.NoError(t, putDoc(t, b, "inv-2"))

	require.NoError(t, r.Resync(ctx))
	require.True(t, a.ReadOnly())
	require.ElementsMatch(t, []string{"inv-1", "inv-2"}, keys(t, a))
	st, _ = r.Status(ctx)
	require.True(t, st.Replicating)
}

func TestReplicatorDropEvery(t *testing.T) {
	ctx := context.Background()
	p := newPair(t)
	r := p.replicate(t, 2)
	for _, k := range []string{"inv-1", "inv-2", "inv-3", "inv-4"} {
		require.NoError(t, putDoc(t, p.srv[topology.RegionA], k))
	}
	require.NoError(t, r.SyncNow(ctx))
	require.Len(t, keys(t, p.srv[topology.RegionB]), 2, "every second object is skipped")
	st, _ := r.Status(ctx)
	require.Zero(t, st.Pending, "dropped objects are not reported pending")
}

// flakyStore refuses to switch its replica mode while fail is set.
type flakyStore struct {
	Store
	fail *atomic.Bool
}

func (f flakyStore) SetReadOnly(ctx context.Context, on bool) error {
	if f.fail.Load() {
		return errors.New("store unreachable")
	}
	return f.Store.SetReadOnly(ctx, on)
}

func TestReplicatorSurfacesStoreErrors(t *testing.T) {
	ctx := context.Background()
	p := newPair(t)
	fail := &atomic.Bool{}
	cfg := p.config(0)
	cfg.Stores[topology.RegionB] = flakyStore{cfg.Stores[topology.RegionB], fail}

	fail.Store(true)
	_, err := NewReplicator(ctx, cfg)
	require.ErrorContains(t, err, "store unreachable")

	fail.Store(false)
	r, err := NewReplicator(ctx, cfg)
	require.NoError(t, err)
	fail.Store(true)
	require.ErrorContains(t, r.Failover(ctx), "blob failover: store unreachable")
	st, _ := r.Status(ctx)
	require.Equal(t, topology.RegionB, st.Source, "the roles moved although the store did not answer")
	require.ErrorContains(t, r.Switchover(ctx), "blob switchover: store unreachable", "the source cannot be fenced")
}

// A failover does not wait for a round stuck on the region it leaves: the
// round is ended at once (its error says it was cancelled, not that it
// timed out).
func TestReplicatorFailoverEndsAStuckRound(t *testing.T) {
	ctx := context.Background()
	p := newPair(t)
	r := p.replicate(t, 0)
	require.NoError(t, putDoc(t, p.srv[topology.RegionA], "inv-1"))

	// Region B across the WAN accepts connections and never answers.
	ln, err := ports.Listen()
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	accepted := make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
			accepted <- struct{}{}
		}
	}()
	p.wan[topology.RegionB].Store(ln.Addr().String())

	done := make(chan error, 1)
	go func() { done <- r.SyncNow(ctx) }()
	<-accepted // the round is now waiting on region B
	require.NoError(t, r.Failover(ctx))
	err = <-done
	require.ErrorContains(t, err, "context canceled")
	st, _ := r.Status(ctx)
	require.Equal(t, topology.RegionB, st.Source)
	require.False(t, st.Replicating)
}

// Status reads the source: an object written after the last round is
// pending from the moment it is written (the data at risk), not only when
// a round lists it; a source that cannot be read gives a stale status.
func TestReplicatorStatusCountsWritesSinceTheLastRound(t *testing.T) {
	ctx := context.Background()
	p := newPair(t)
	r := p.replicate(t, 0)
	a := p.srv[topology.RegionA]
	require.NoError(t, putDoc(t, a, "inv-1"))
	require.NoError(t, r.SyncNow(ctx))
	st, err := r.Status(ctx)
	require.NoError(t, err)
	require.Zero(t, st.Pending)
	require.True(t, st.OldestPending.IsZero())

	before := time.Now().Add(-time.Second)
	require.NoError(t, putDoc(t, a, "inv-2"))
	require.NoError(t, putDoc(t, a, "inv-3"))
	st, err = r.Status(ctx)
	require.NoError(t, err)
	require.False(t, st.Stale)
	require.Equal(t, 2, st.Pending, "written since the last round")
	require.True(t, st.OldestPending.After(before), "oldest pending %s", st.OldestPending)
	require.Positive(t, st.Lag(time.Now().Add(time.Minute)))

	require.NoError(t, r.SyncNow(ctx))
	st, _ = r.Status(ctx)
	require.Zero(t, st.Pending)

	require.NoError(t, a.Stop())
	st, err = r.Status(ctx)
	require.NoError(t, err)
	require.True(t, st.Stale, "the source is down: its figures measure nothing")
}
