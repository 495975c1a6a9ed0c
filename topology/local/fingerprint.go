package local

import (
	"context"

	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/appdb"
	"github.com/bcdr-harness/bcdr/topology/blob"
	"github.com/bcdr-harness/bcdr/topology/fingerprint"
)

var (
	_ topology.Fingerprinter = (*Env)(nil)
	_ topology.Tamperer      = (*Env)(nil)
)

// SQLFingerprint opens region r's PostgreSQL database as a store.
func (e *Env) SQLFingerprint(_ context.Context, r topology.RegionName) (fingerprint.Store, func(), error) {
	db, err := e.db(r)
	if err != nil {
		return nil, nil, err
	}
	return appdb.SQLStore{DB: db, Dialect: appdb.Postgres}, func() { _ = db.Close() }, nil
}

// BlobFingerprint lists region r's bucket with the objects' ETags.
func (e *Env) BlobFingerprint(ctx context.Context, r topology.RegionName) (fingerprint.Store, error) {
	tags, err := blob.ETags(ctx, e.blobs[r].Addr(), e.blobCreds)
	if err != nil {
		return nil, err
	}
	return fingerprint.Bucket(tags), nil
}

// AlterRow adds a cent to one invoice of region r (a defect).
func (e *Env) AlterRow(ctx context.Context, r topology.RegionName) (string, error) {
	db, err := e.db(r)
	if err != nil {
		return "", err
	}
	defer db.Close()
	return appdb.AlterInvoice(ctx, db, appdb.Postgres)
}

// DropObject deletes one object of region r's bucket that the other
// region's also holds (a defect).
func (e *Env) DropObject(ctx context.Context, r topology.RegionName) (string, error) {
	return blob.DropFirstObject(ctx, e.blobs[r].Addr(), e.blobs[r.Other()].Addr(), e.blobCreds)
}
