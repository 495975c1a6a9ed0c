package blob

import (
	"context"

	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/fingerprint"
)

// Buckets are a two-region environment's buckets as the cutover
// fingerprint and its negative controls reach them. A provider embeds it
// for BlobFingerprint (topology.Fingerprinter) and DropObject
// (topology.Tamperer); appdb.Databases is the SQL half.
type Buckets struct {
	addr  func(r topology.RegionName) string
	creds Credentials
}

// NewBuckets reaches region r's bucket at addr(r) with the keys of creds.
func NewBuckets(addr func(r topology.RegionName) string, creds Credentials) Buckets {
	return Buckets{addr: addr, creds: creds}
}

// BlobFingerprint lists region r's bucket with the objects' ETags.
func (b Buckets) BlobFingerprint(ctx context.Context, r topology.RegionName) (fingerprint.Store, error) {
	tags, err := ETags(ctx, b.addr(r), b.creds)
	if err != nil {
		return nil, err
	}
	return fingerprint.Bucket(tags), nil
}

// DropObject deletes one object of region r's bucket that the other
// region's also holds (a defect).
func (b Buckets) DropObject(ctx context.Context, r topology.RegionName) (string, error) {
	return DropFirstObject(ctx, b.addr(r), b.addr(r.Other()), b.creds)
}
