package fake

import (
	"context"
	"fmt"
	"sort"

	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/appdb"
	"github.com/bcdr-harness/bcdr/topology/fingerprint"
)

var (
	_ topology.Fingerprinter = (*Env)(nil)
	_ topology.Tamperer      = (*Env)(nil)
)

// SQLFingerprint copies region r's tables into a store, with the same
// canonical texts as the SQL engines' (package appdb). A region whose SQL
// server is down cannot be read.
func (e *Env) SQLFingerprint(_ context.Context, r topology.RegionName) (fingerprint.Store, func(), error) {
	n, ok := e.pair.nodes[r]
	if !ok {
		return nil, nil, fmt.Errorf("no region %s", r)
	}
	e.pair.mu.Lock()
	defer e.pair.mu.Unlock()
	if !n.sql.running() {
		return nil, nil, fmt.Errorf("the SQL server of region %s is down", r)
	}
	m := fingerprint.NewMemStore(appdb.FingerprintTables...)
	for k, j := range n.db.Journal {
		m.Add(appdb.FPJournalEntries, k, fmt.Sprintf("%s|%d", k, j.LineCount))
		for _, l := range j.Lines {
			m.Add(appdb.FPJournalLines, k, fmt.Sprintf("%s|%s|%d|%d", k, l.Account, l.Debit, l.Credit))
		}
	}
	for k, v := range n.db.Invoices {
		m.Add(appdb.FPInvoices, k, fmt.Sprintf("%s|%s|%s|%d", k, v.ObjectKey, v.SHA256, v.Amount))
	}
	return m, func() {}, nil
}

// BlobFingerprint lists region r's bucket with the objects' SHA-256.
func (e *Env) BlobFingerprint(_ context.Context, r topology.RegionName) (fingerprint.Store, error) {
	b, ok := e.buckets[r]
	if !ok {
		return nil, fmt.Errorf("no region %s", r)
	}
	if !b.srv.running() {
		return nil, fmt.Errorf("the bucket of region %s is down", r)
	}
	return fingerprint.Bucket(b.checksums()), nil
}

// AlterRow adds a cent to the invoice with the smallest key in region r's
// database, behind the log's back (a defect).
func (e *Env) AlterRow(_ context.Context, r topology.RegionName) (string, error) {
	n, ok := e.pair.nodes[r]
	if !ok {
		return "", fmt.Errorf("no region %s", r)
	}
	e.pair.mu.Lock()
	defer e.pair.mu.Unlock()
	keys := make([]string, 0, len(n.db.Invoices))
	for k := range n.db.Invoices {
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return "", nil
	}
	sort.Strings(keys)
	row := n.db.Invoices[keys[0]]
	row.Amount++
	n.db.Invoices[keys[0]] = row
	return keys[0], nil
}

// DropObject deletes from region r's bucket the object with the smallest
// key that the other region's bucket also holds, identical (a defect).
func (e *Env) DropObject(_ context.Context, r topology.RegionName) (string, error) {
	b, ok := e.buckets[r]
	other, ok2 := e.buckets[r.Other()]
	if !ok || !ok2 {
		return "", fmt.Errorf("no region %s", r)
	}
	key, found := fingerprint.FirstShared(b.checksums(), other.checksums())
	if !found {
		return "", nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.objs, key)
	return key, nil
}
