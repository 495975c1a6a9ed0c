package appdb

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"

	"github.com/bcdr-harness/bcdr/topology/fingerprint"
)

// The fingerprinted tables: the business data a failover or failback must
// carry (limited mode, batch runs and maintenance requests are the
// region's own state and differ by design). Journal lines are keyed by
// their entry's idempotency key, so an entry and its lines fall in the
// same key range.
const (
	FPJournalEntries = "journal_entries"
	FPJournalLines   = "journal_lines"
	FPInvoices       = "invoices"
)

// FingerprintTables are the tables a SQL fingerprint covers, in order.
var FingerprintTables = []string{FPJournalEntries, FPJournalLines, FPInvoices}

// fpSource is, per table and dialect, a query giving each item's key (k)
// and canonical text (t). The text is the same on every engine (numbers in
// decimal, fields joined by "|"), and it is what fingerprint.RowHash hashes.
var fpSource = map[Dialect]map[string]string{
	Postgres: {
		FPJournalEntries: `SELECT idem_key AS k, idem_key || '|' || line_count AS t FROM journal_entries`,
		FPJournalLines: `SELECT e.idem_key AS k, e.idem_key || '|' || l.account || '|' || l.debit || '|' || l.credit AS t
			FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id`,
		FPInvoices: `SELECT idem_key AS k, idem_key || '|' || object_key || '|' || sha256 || '|' || amount AS t FROM invoices`,
	},
	SQLServer: {
		FPJournalEntries: `SELECT idem_key AS k, CONCAT(idem_key, '|', line_count) AS t FROM journal_entries`,
		FPJournalLines: `SELECT e.idem_key AS k, CONCAT(e.idem_key, '|', l.account, '|', l.debit, '|', l.credit) AS t
			FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id`,
		FPInvoices: `SELECT idem_key AS k, CONCAT(idem_key, '|', object_key, '|', sha256, '|', amount) AS t FROM invoices`,
	},
}

// fpHashed wraps a source query with each item's position (p) and hash
// (h), computed in the database as fingerprint.Position and
// fingerprint.RowHash do: the first 32 and 56 bits of MD5. On SQL Server
// the text is hashed as VARCHAR (the keys and texts are ASCII, so the
// bytes are the UTF-8 ones PostgreSQL hashes).
func fpHashed(d Dialect, src string) string {
	if d == SQLServer {
		return `SELECT k, t, CAST(SUBSTRING(HASHBYTES('MD5', CAST(k AS VARCHAR(400))), 1, 4) AS BIGINT) AS p,
			CAST(SUBSTRING(HASHBYTES('MD5', CAST(t AS VARCHAR(4000))), 1, 7) AS BIGINT) AS h FROM (` + src + `) s`
	}
	return `SELECT k, t, ('x' || substr(md5(k), 1, 8))::bit(32)::bigint AS p,
		('x' || substr(md5(t), 1, 14))::bit(56)::bigint AS h FROM (` + src + `) s`
}

// FingerprintSumsQuery is the query that sums the items of table in
// contiguous ranges of equal width: parameters lo, width, lo, hi; rows of
// (range index, count, sum as decimal text).
func FingerprintSumsQuery(d Dialect, table string) (string, error) {
	src, ok := fpSource[d][table]
	if !ok {
		return "", fmt.Errorf("no fingerprint of table %q in dialect %s", table, d)
	}
	sum := `CAST(SUM(h) AS TEXT)`
	if d == SQLServer {
		sum = `CAST(SUM(CAST(h AS DECIMAL(38,0))) AS VARCHAR(50))`
	}
	return d.Q(`SELECT i, COUNT(*), ` + sum + ` FROM (SELECT (p - ?) / ? AS i, h FROM (` + fpHashed(d, src) + `) x
		WHERE p >= ? AND p < ?) y GROUP BY i`), nil
}

// FingerprintItemsQuery lists the items of table in a range: parameters
// lo, hi; rows of (key, hash, text).
func FingerprintItemsQuery(d Dialect, table string) (string, error) {
	src, ok := fpSource[d][table]
	if !ok {
		return "", fmt.Errorf("no fingerprint of table %q in dialect %s", table, d)
	}
	return d.Q(`SELECT k, h, t FROM (` + fpHashed(d, src) + `) x WHERE p >= ? AND p < ?`), nil
}

// SQLStore is a region's finance database as a fingerprint.Store: the
// database sums and hashes, only sums and the items of a narrowed range
// come back.
type SQLStore struct {
	DB      *sql.DB
	Dialect Dialect
}

// Tables lists the fingerprinted tables.
func (s SQLStore) Tables() []string { return FingerprintTables }

var two64 = new(big.Int).Lsh(big.NewInt(1), 64)

// Sums sums each of parts (contiguous, equal width) in one query.
func (s SQLStore) Sums(ctx context.Context, table string, parts []fingerprint.Range) ([]fingerprint.Sum, error) {
	if len(parts) == 0 {
		return nil, nil
	}
	q, err := FingerprintSumsQuery(s.Dialect, table)
	if err != nil {
		return nil, err
	}
	lo, w, hi := parts[0].Lo, parts[0].Width(), parts[len(parts)-1].Hi
	rows, err := s.DB.QueryContext(ctx, q, int64(lo), int64(w), int64(lo), int64(hi))
	if err != nil {
		return nil, fmt.Errorf("sum %s: %w", table, err)
	}
	defer rows.Close()
	out := make([]fingerprint.Sum, len(parts))
	for rows.Next() {
		var i, n int64
		var sum string
		if err := rows.Scan(&i, &n, &sum); err != nil {
			return nil, fmt.Errorf("sum %s: %w", table, err)
		}
		v, ok := new(big.Int).SetString(sum, 10)
		if !ok || i < 0 || i >= int64(len(out)) {
			return nil, fmt.Errorf("sum %s: bad row (range %d, sum %q)", table, i, sum)
		}
		out[i] = fingerprint.Sum{Rows: n, Hash: v.Mod(v, two64).Uint64()}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sum %s: %w", table, err)
	}
	return out, nil
}

// Items lists the items of a range.
func (s SQLStore) Items(ctx context.Context, table string, r fingerprint.Range) ([]fingerprint.Item, error) {
	q, err := FingerprintItemsQuery(s.Dialect, table)
	if err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, q, int64(r.Lo), int64(r.Hi))
	if err != nil {
		return nil, fmt.Errorf("list %s %s: %w", table, r, err)
	}
	defer rows.Close()
	var out []fingerprint.Item
	for rows.Next() {
		var it fingerprint.Item
		var h int64
		if err := rows.Scan(&it.Key, &h, &it.Text); err != nil {
			return nil, fmt.Errorf("list %s %s: %w", table, r, err)
		}
		it.Hash = uint64(h)
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s %s: %w", table, r, err)
	}
	return out, nil
}

// AlterInvoice is the corrupt-row-at-failback defect's write: it adds one
// cent to the amount of the invoice with the smallest key and returns that
// key ("" when there is no invoice).
func AlterInvoice(ctx context.Context, db *sql.DB, d Dialect) (string, error) {
	var ns sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT MIN(idem_key) FROM invoices`).Scan(&ns); err != nil {
		return "", fmt.Errorf("alter an invoice: %w", err)
	}
	if !ns.Valid {
		return "", nil
	}
	key := ns.String
	if _, err := db.ExecContext(ctx, d.Q(`UPDATE invoices SET amount = amount + 1 WHERE idem_key = ?`), key); err != nil {
		return "", fmt.Errorf("alter invoice %s: %w", key, err)
	}
	return key, nil
}
