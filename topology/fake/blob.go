package fake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
)

// HeaderReplicator marks a write by the replicator, which may write to a
// read-only destination bucket.
const HeaderReplicator = "X-Bcdr-Replicator"

type object struct {
	data []byte
	sum  string
	at   time.Time
}

// listing is one object as a bucket lists it.
type listing struct {
	SHA256 string    `json:"sha256"`
	At     time.Time `json:"at"`
}

// bucket is one region's blob store, served over HTTP: PUT and GET
// /o/{key}, GET /list.
type bucket struct {
	mu       sync.Mutex
	objs     map[string]object
	readOnly bool
	srv      *svc
}

func newBucket(readOnly bool) (*bucket, error) {
	b := &bucket{objs: map[string]object{}, readOnly: readOnly}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /o/{key...}", b.put)
	mux.HandleFunc("GET /o/{key...}", b.get)
	mux.HandleFunc("GET /list", b.list)
	var err error
	b.srv, err = newSvc(mux)
	return b, err
}

func (b *bucket) put(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		fail(w, http.StatusBadRequest, err)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.readOnly && r.Header.Get(HeaderReplicator) == "" {
		fail(w, http.StatusForbidden, errors.New("access denied: the bucket is a read-only replica"))
		return
	}
	sum := sha256.Sum256(data)
	b.objs[r.PathValue("key")] = object{data: data, sum: hex.EncodeToString(sum[:]), at: time.Now()}
	writeJSON(w, http.StatusOK, map[string]string{"sha256": hex.EncodeToString(sum[:])})
}

func (b *bucket) get(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	o, ok := b.objs[r.PathValue("key")]
	b.mu.Unlock()
	if !ok {
		fail(w, http.StatusNotFound, errors.New("no such key"))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(o.data)
}

func (b *bucket) list(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	out := make(map[string]listing, len(b.objs))
	for k, o := range b.objs {
		out[k] = listing{o.sum, o.at}
	}
	b.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (b *bucket) setReadOnly(ro bool) { b.mu.Lock(); b.readOnly = ro; b.mu.Unlock() }

// checksums is what the bucket holds: key to SHA-256 of the content.
func (b *bucket) checksums() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]string, len(b.objs))
	for k, o := range b.objs {
		sum := sha256.Sum256(o.data)
		out[k] = hex.EncodeToString(sum[:])
	}
	return out
}

// replication keeps the destination bucket in sync with the source by
// rounds that list and copy across the WAN, as the harness's replicator
// does (package blob): what a round has not copied is pending.
type replication struct {
	mu          sync.Mutex
	clk         *clock.Clock
	client      *http.Client
	buckets     map[topology.RegionName]*bucket
	wan         func(kind string, r topology.RegionName) string
	source      topology.RegionName
	replicating bool
	done        map[string]string // key -> sha256 the destination holds (or a dropped object)
	seen        int
	dropEvery   int
	pending     int
	oldest      time.Time
	errs        int
	lastSync    time.Time
	gen         int
	costs       topology.JobCosts
	roundMu     sync.Mutex
}

var _ topology.Replication = (*replication)(nil)

func (rp *replication) url(r topology.RegionName) string { return "http://" + rp.wan("blob", r) }

// Status reads the source bucket now, as the harness's replicator does
// (package blob): what the destination lacks, including what was written
// since the last round, is pending.
func (rp *replication) Status(context.Context) (topology.ReplicationStatus, error) {
	rp.mu.Lock()
	src := rp.buckets[rp.source]
	rp.mu.Unlock()
	var objs map[string]object
	if src != nil {
		src.mu.Lock()
		objs = make(map[string]object, len(src.objs))
		for k, o := range src.objs {
			objs[k] = o
		}
		src.mu.Unlock()
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	st := topology.ReplicationStatus{Source: rp.source, Destination: rp.source.Other(), Replicating: rp.replicating,
		Pending: rp.pending, OldestPending: rp.oldest, Errors: rp.errs, LastSync: rp.lastSync,
		RoundWall: rp.costs.Worst()[topology.JobReplication]}
	st.RoundDelay, st.RoundDelayKnown = rp.costs.Delay(topology.JobReplication)
	if src == nil {
		st.Stale = true
		return st, nil
	}
	st.Pending, st.OldestPending = 0, time.Time{}
	for k, o := range objs {
		if rp.done[k] != o.sum {
			st.Pending++
			if st.OldestPending.IsZero() || o.at.Before(st.OldestPending) {
				st.OldestPending = o.at
			}
		}
	}
	return st, nil
}

// SyncNow runs one replication round.
func (rp *replication) SyncNow(ctx context.Context) error {
	rp.roundMu.Lock()
	defer rp.roundMu.Unlock()
	err := rp.round(ctx)
	if err != nil {
		rp.mu.Lock()
		rp.errs++
		rp.mu.Unlock()
	}
	return err
}

func (rp *replication) round(ctx context.Context) error {
	rp.mu.Lock()
	if !rp.replicating {
		rp.mu.Unlock()
		return nil
	}
	gen, src, dst := rp.gen, rp.source, rp.source.Other()
	rp.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var objs map[string]listing
	if err := call(ctx, rp.client, http.MethodGet, rp.url(src)+"/list", nil, nil, &objs); err != nil {
		return fmt.Errorf("list source %s: %w", src, err)
	}
	type todo struct {
		key string
		listing
	}
	var work []todo
	rp.mu.Lock()
	for k, o := range objs {
		if rp.done[k] != o.SHA256 {
			work = append(work, todo{k, o})
		}
	}
	rp.mu.Unlock()
	sort.Slice(work, func(i, j int) bool { return work[i].At.Before(work[j].At) })
	setPending := func(rest []todo) {
		rp.mu.Lock()
		defer rp.mu.Unlock()
		if gen != rp.gen {
			return
		}
		rp.pending, rp.oldest = len(rest), time.Time{}
		if len(rest) > 0 {
			rp.oldest = rest[0].At
		}
	}
	setPending(work)
	for i, o := range work {
		rp.mu.Lock()
		rp.seen++
		drop := rp.dropEvery > 0 && rp.seen%rp.dropEvery == 0
		rp.mu.Unlock()
		if !drop {
			if err := rp.copyObject(ctx, src, dst, o.key); err != nil {
				setPending(work[i:])
				return err
			}
		}
		rp.mu.Lock()
		if gen == rp.gen {
			rp.done[o.key] = o.SHA256
		}
		rp.mu.Unlock()
	}
	setPending(nil)
	rp.mu.Lock()
	rp.lastSync = time.Now()
	rp.mu.Unlock()
	return nil
}

func (rp *replication) copyObject(ctx context.Context, src, dst topology.RegionName, key string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rp.url(src)+"/o/"+key, nil)
	if err != nil {
		return err
	}
	resp, err := rp.client.Do(req)
	if err != nil {
		return fmt.Errorf("read %s from %s: %w", key, src, err)
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("read %s from %s: status %d %v", key, src, resp.StatusCode, err)
	}
	put, err := http.NewRequestWithContext(ctx, http.MethodPut, rp.url(dst)+"/o/"+key, bytesReader(data))
	if err != nil {
		return err
	}
	put.Header.Set(HeaderReplicator, "1")
	resp, err = rp.client.Do(put)
	if err != nil {
		return fmt.Errorf("write %s to %s: %w", key, dst, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("write %s to %s: status %d", key, dst, resp.StatusCode)
	}
	return nil
}

// seed marks what the destination already holds.
func (rp *replication) seed(ctx context.Context, dst topology.RegionName) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var objs map[string]listing
	if err := call(ctx, rp.client, http.MethodGet, rp.url(dst)+"/list", nil, nil, &objs); err != nil {
		return fmt.Errorf("list destination %s: %w", dst, err)
	}
	done := map[string]string{}
	for k, o := range objs {
		done[k] = o.SHA256
	}
	rp.mu.Lock()
	rp.done = done
	rp.mu.Unlock()
	return nil
}

// Failover stops replication and makes the destination the writable source.
func (rp *replication) Failover(context.Context) error {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	dst := rp.source.Other()
	rp.buckets[dst].setReadOnly(false)
	rp.source, rp.replicating = dst, false
	rp.pending, rp.oldest = 0, time.Time{}
	rp.gen++
	return nil
}

// Resync replicates from the source to the other region again, copying
// what the other lacks.
func (rp *replication) Resync(ctx context.Context) error {
	rp.roundMu.Lock()
	rp.mu.Lock()
	if rp.replicating {
		rp.mu.Unlock()
		rp.roundMu.Unlock()
		return nil
	}
	dst := rp.source.Other()
	rp.mu.Unlock()
	err := rp.seed(ctx, dst)
	if err == nil {
		rp.mu.Lock()
		rp.buckets[dst].setReadOnly(true)
		rp.replicating = true
		rp.gen++
		rp.mu.Unlock()
	}
	rp.roundMu.Unlock()
	if err != nil {
		return fmt.Errorf("blob resync: %w", err)
	}
	return rp.SyncNow(ctx)
}

// Switchover makes the source read-only, syncs what is left, and swaps roles.
func (rp *replication) Switchover(ctx context.Context) error {
	rp.mu.Lock()
	src := rp.source
	rp.buckets[src].setReadOnly(true)
	rp.mu.Unlock()
	if err := rp.SyncNow(ctx); err != nil {
		rp.buckets[src].setReadOnly(false)
		return fmt.Errorf("blob switchover: final sync: %w", err)
	}
	rp.roundMu.Lock()
	defer rp.roundMu.Unlock()
	if err := rp.seed(ctx, src); err != nil {
		rp.buckets[src].setReadOnly(false)
		return fmt.Errorf("blob switchover: %w", err)
	}
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.buckets[src.Other()].setReadOnly(false)
	rp.source, rp.replicating = src.Other(), true
	rp.pending, rp.oldest = 0, time.Time{}
	rp.gen++
	return nil
}
