package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/fingerprint"
)

// EvCutoverFingerprint records a fingerprint taken at a cutover (value:
// direction, store, regions, wall_ms, queries, taken, differing top-level
// ranges, error); the fingerprints themselves are kept in the evidence.
// EvCutoverDefect records a defect that damaged a region's data at the
// failback's cutover (value: defect, region, key).
const (
	EvCutoverFingerprint = "cutover-fingerprint"
	EvCutoverDefect      = "cutover-defect"
)

// fingerprintTimeout bounds one fingerprint (wall time): a store that does
// not answer leaves the fingerprint not taken rather than the runbook stuck.
const fingerprintTimeout = 30 * time.Second

// Cutovers returns the fingerprints taken at the cutovers so far.
func (rb *Runbook) Cutovers() []assertions.Cutover {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	return append([]assertions.Cutover(nil), rb.cutovers...)
}

// storeOpener opens one region's store for a fingerprint.
type storeOpener func(ctx context.Context, r topology.RegionName) (fingerprint.Store, func(), error)

func (rb *Runbook) opener(store string) storeOpener {
	fp, ok := rb.env.(topology.Fingerprinter)
	if !ok {
		return func(context.Context, topology.RegionName) (fingerprint.Store, func(), error) {
			return nil, nil, fmt.Errorf("the %s provider cannot fingerprint its stores", rb.env.Spec().Provider)
		}
	}
	if store == "sql" {
		return fp.SQLFingerprint
	}
	return func(ctx context.Context, r topology.RegionName) (fingerprint.Store, func(), error) {
		s, err := fp.BlobFingerprint(ctx, r)
		return s, func() {}, err
	}
}

// compare fingerprints a store in two regions and bisects what differs.
func (rb *Runbook) compare(ctx context.Context, store, direction string, left, right topology.RegionName) *fingerprint.Fingerprint {
	ctx, cancel := context.WithTimeout(ctx, fingerprintTimeout)
	defer cancel()
	open := rb.opener(store)
	start := time.Now()
	ls, ldone, lerr := open(ctx, left)
	rs, rdone, rerr := open(ctx, right)
	var f *fingerprint.Fingerprint
	if lerr != nil || rerr != nil {
		f = &fingerprint.Fingerprint{Store: store, Buckets: fingerprint.DefaultBuckets,
			Left: fingerprint.Side{Region: string(left), TakenAt: start}, Right: fingerprint.Side{Region: string(right), TakenAt: start}}
		if lerr != nil {
			f.Left.Error = lerr.Error()
		}
		if rerr != nil {
			f.Right.Error = rerr.Error()
		}
	} else {
		f = fingerprint.Compare(ctx, store, string(left), ls, string(right), rs, fingerprint.DefaultBuckets)
	}
	for _, done := range []func(){ldone, rdone} {
		if done != nil {
			done()
		}
	}
	f.WallMS = float64(time.Since(start).Microseconds()) / 1000
	rb.recordFingerprint(direction, f)
	return f
}

// top fingerprints one region's store alone (top-level sums).
func (rb *Runbook) top(ctx context.Context, store, direction string, r topology.RegionName) *fingerprint.Fingerprint {
	ctx, cancel := context.WithTimeout(ctx, fingerprintTimeout)
	defer cancel()
	start := time.Now()
	s, done, err := rb.opener(store)(ctx, r)
	var f *fingerprint.Fingerprint
	if err != nil {
		f = &fingerprint.Fingerprint{Store: store, Buckets: fingerprint.DefaultBuckets,
			Right: fingerprint.Side{Region: string(r), TakenAt: start, Error: err.Error()}}
	} else {
		f = fingerprint.Top(ctx, store, string(r), s, fingerprint.DefaultBuckets)
		done()
	}
	f.WallMS = float64(time.Since(start).Microseconds()) / 1000
	rb.recordFingerprint(direction, f)
	return f
}

func (rb *Runbook) recordFingerprint(direction string, f *fingerprint.Fingerprint) {
	differ := 0
	for _, t := range f.Tables {
		differ += len(t.Bisected)
	}
	v := map[string]any{"direction": direction, "store": f.Store, "left": f.Left.Region, "right": f.Right.Region,
		"wall_ms": f.WallMS, "queries": f.Queries, "taken": f.Taken(), "differing_ranges": differ}
	if e := sideErrs(f); e != "" {
		v["error"] = e
	}
	rb.rec.Event(EvCutoverFingerprint, v)
}

func sideErrs(f *fingerprint.Fingerprint) string {
	switch {
	case f.Left.Error != "" && f.Right.Error != "":
		return f.Left.Error + "; " + f.Right.Error
	case f.Left.Error != "":
		return f.Left.Error
	}
	return f.Right.Error
}

// fingerprintFailover takes the promoted region's fingerprint at the
// failover's cutover (promoted, bucket writable, before traffic moves).
// The region being left is lost: it is read when it comes back
// (fingerprintReturned).
func (rb *Runbook) fingerprintFailover(ctx context.Context, from, to topology.RegionName) {
	c := assertions.Cutover{Direction: assertions.CutoverFailover, From: string(from), To: string(to)}
	c.SQL = rb.top(ctx, "sql", c.Direction, to)
	c.Blob = rb.top(ctx, "blob", c.Direction, to)
	rb.mu.Lock()
	rb.cutovers = append(rb.cutovers, c)
	rb.mu.Unlock()
}

// fingerprintReturned compares the region lost at the failover, back now
// and not yet resynced (it holds what it held when it was lost), with the
// promoted region, and keeps it with the failover's cutover.
func (rb *Runbook) fingerprintReturned(ctx context.Context, lost, promoted topology.RegionName) {
	rb.mu.Lock()
	i := -1
	for j, c := range rb.cutovers {
		if c.Direction == assertions.CutoverFailover && c.From == string(lost) && c.SQLReturned == nil {
			i = j
		}
	}
	rb.mu.Unlock()
	if i < 0 {
		return
	}
	sql := rb.compare(ctx, "sql", "failover-returned", lost, promoted)
	blob := rb.compare(ctx, "blob", "failover-returned", lost, promoted)
	rb.mu.Lock()
	rb.cutovers[i].SQLReturned, rb.cutovers[i].BlobReturned = sql, blob
	rb.mu.Unlock()
}

// failbackCutover returns the failback's cutover record, adding it once.
func (rb *Runbook) failbackCutover(from, to topology.RegionName) int {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	for j, c := range rb.cutovers {
		if c.Direction == assertions.CutoverFailback && c.From == string(from) {
			return j
		}
	}
	rb.cutovers = append(rb.cutovers, assertions.Cutover{Direction: assertions.CutoverFailback, From: string(from), To: string(to)})
	return len(rb.cutovers) - 1
}

// fingerprintFailbackSQL runs at the SQL switchover's cutover (the new
// primary promoted, the old one fenced and not yet rebuilt): the
// corrupt-row-at-failback defect first, then the SQL fingerprint of both.
func (rb *Runbook) fingerprintFailbackSQL(ctx context.Context, from, to topology.RegionName) {
	if rb.cfg.CorruptRowAtFailback {
		rb.tamper(ctx, "corrupt-row-at-failback", to, func(t topology.Tamperer) (string, error) { return t.AlterRow(ctx, to) })
	}
	f := rb.compare(ctx, "sql", assertions.CutoverFailback, from, to)
	i := rb.failbackCutover(from, to)
	rb.mu.Lock()
	rb.cutovers[i].SQL = f
	rb.mu.Unlock()
}

// fingerprintFailbackBlob runs once the blob roles are switched: the
// drop-object-at-failback defect first, then the bucket fingerprint.
func (rb *Runbook) fingerprintFailbackBlob(ctx context.Context, from, to topology.RegionName) {
	if rb.cfg.DropObjectAtFailback {
		rb.tamper(ctx, "drop-object-at-failback", to, func(t topology.Tamperer) (string, error) { return t.DropObject(ctx, to) })
	}
	f := rb.compare(ctx, "blob", assertions.CutoverFailback, from, to)
	i := rb.failbackCutover(from, to)
	rb.mu.Lock()
	rb.cutovers[i].Blob = f
	rb.mu.Unlock()
}

func (rb *Runbook) tamper(ctx context.Context, defect string, r topology.RegionName, f func(topology.Tamperer) (string, error)) {
	v := map[string]any{"defect": defect, "region": string(r)}
	t, ok := rb.env.(topology.Tamperer)
	if !ok {
		v["error"] = "the provider cannot damage its data on purpose"
	} else if key, err := f(t); err != nil {
		v["error"] = err.Error()
	} else {
		v["key"] = key
	}
	rb.rec.Event(EvCutoverDefect, v)
}
