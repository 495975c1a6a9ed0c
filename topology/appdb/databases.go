package appdb

import (
	"context"
	"database/sql"

	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/fingerprint"
)

// Databases are a two-region environment's finance databases as the
// cutover fingerprint and its negative controls reach them. A provider
// embeds it for SQLFingerprint (topology.Fingerprinter) and AlterRow
// (topology.Tamperer); blob.Buckets is the bucket half.
type Databases struct {
	open func(ctx context.Context, r topology.RegionName) (*sql.DB, Dialect, error)
}

// NewDatabases reaches the databases through open, which opens region r's
// database (the caller closes it) and names its dialect.
func NewDatabases(open func(ctx context.Context, r topology.RegionName) (*sql.DB, Dialect, error)) Databases {
	return Databases{open: open}
}

// SQLFingerprint opens region r's database as a store; done closes it.
func (d Databases) SQLFingerprint(ctx context.Context, r topology.RegionName) (fingerprint.Store, func(), error) {
	db, dialect, err := d.open(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	return SQLStore{DB: db, Dialect: dialect}, func() { _ = db.Close() }, nil
}

// AlterRow adds a cent to one invoice of region r (a defect).
func (d Databases) AlterRow(ctx context.Context, r topology.RegionName) (string, error) {
	db, dialect, err := d.open(ctx, r)
	if err != nil {
		return "", err
	}
	defer db.Close()
	return AlterInvoice(ctx, db, dialect)
}
