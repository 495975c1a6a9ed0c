// Package appdb is the finance application's database: its schema, the
// statements the AOS stub runs, and the read-back that the checks use to see
// what survived. Statements are written once with ? placeholders and rendered
// for each SQL dialect (PostgreSQL, SQL Server).
package appdb

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/topology"
)

// Dialect is a SQL engine's flavour.
type Dialect string

// Supported dialects; the value is also the database/sql driver name.
const (
	Postgres  Dialect = "pgx"
	SQLServer Dialect = "sqlserver"
)

// ParseDialect maps a driver or engine name to a dialect.
func ParseDialect(s string) (Dialect, error) {
	switch s {
	case "pgx", "postgres", "postgresql":
		return Postgres, nil
	case "sqlserver", "mssql":
		return SQLServer, nil
	}
	return "", fmt.Errorf("unknown SQL dialect %q (want postgres or sqlserver)", s)
}

// Q renders ? placeholders for the dialect: $1.. for PostgreSQL, @p1.. for SQL Server.
func (d Dialect) Q(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r != '?' {
			b.WriteRune(r)
			continue
		}
		n++
		if d == SQLServer {
			b.WriteString("@p" + strconv.Itoa(n))
		} else {
			b.WriteString("$" + strconv.Itoa(n))
		}
	}
	return b.String()
}

var schemaPostgres = []string{
	`CREATE TABLE IF NOT EXISTS journal_entries (
		id BIGSERIAL PRIMARY KEY,
		idem_key TEXT NOT NULL UNIQUE,
		line_count INT NOT NULL,
		region TEXT NOT NULL,
		instance TEXT NOT NULL,
		posted_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
	`CREATE TABLE IF NOT EXISTS journal_lines (
		entry_id BIGINT NOT NULL REFERENCES journal_entries(id),
		account TEXT NOT NULL,
		debit BIGINT NOT NULL,
		credit BIGINT NOT NULL)`,
	`CREATE INDEX IF NOT EXISTS journal_lines_entry ON journal_lines(entry_id)`,
	`CREATE TABLE IF NOT EXISTS invoices (
		idem_key TEXT PRIMARY KEY,
		object_key TEXT NOT NULL,
		sha256 TEXT NOT NULL,
		amount BIGINT NOT NULL,
		region TEXT NOT NULL,
		instance TEXT NOT NULL,
		created_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
	`CREATE TABLE IF NOT EXISTS batch_runs (
		id BIGSERIAL PRIMARY KEY,
		job TEXT NOT NULL,
		region TEXT NOT NULL,
		instance TEXT NOT NULL,
		entries BIGINT NOT NULL,
		balanced BOOLEAN NOT NULL,
		finished_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
	`CREATE TABLE IF NOT EXISTS maintenance_requests (
		id BIGSERIAL PRIMARY KEY,
		kind TEXT NOT NULL,
		region TEXT NOT NULL,
		requested_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
	`CREATE TABLE IF NOT EXISTS env_mode (id INT PRIMARY KEY, limited BOOLEAN NOT NULL)`,
	`INSERT INTO env_mode (id, limited) VALUES (1, false) ON CONFLICT (id) DO NOTHING`,
	`ALTER TABLE env_mode ADD COLUMN IF NOT EXISTS reporting BOOLEAN NOT NULL DEFAULT false`,
}

var schemaSQLServer = []string{
	`IF OBJECT_ID('journal_entries') IS NULL CREATE TABLE journal_entries (
		id BIGINT IDENTITY PRIMARY KEY,
		idem_key NVARCHAR(200) NOT NULL UNIQUE,
		line_count INT NOT NULL,
		region NVARCHAR(20) NOT NULL,
		instance NVARCHAR(50) NOT NULL,
		posted_at DATETIME2 NOT NULL DEFAULT SYSUTCDATETIME())`,
	`IF OBJECT_ID('journal_lines') IS NULL CREATE TABLE journal_lines (
		entry_id BIGINT NOT NULL REFERENCES journal_entries(id),
		account NVARCHAR(50) NOT NULL,
		debit BIGINT NOT NULL,
		credit BIGINT NOT NULL)`,
	`IF OBJECT_ID('invoices') IS NULL CREATE TABLE invoices (
		idem_key NVARCHAR(200) PRIMARY KEY,
		object_key NVARCHAR(300) NOT NULL,
		sha256 NVARCHAR(64) NOT NULL,
		amount BIGINT NOT NULL,
		region NVARCHAR(20) NOT NULL,
		instance NVARCHAR(50) NOT NULL,
		created_at DATETIME2 NOT NULL DEFAULT SYSUTCDATETIME())`,
	`IF OBJECT_ID('batch_runs') IS NULL CREATE TABLE batch_runs (
		id BIGINT IDENTITY PRIMARY KEY,
		job NVARCHAR(50) NOT NULL,
		region NVARCHAR(20) NOT NULL,
		instance NVARCHAR(50) NOT NULL,
		entries BIGINT NOT NULL,
		balanced BIT NOT NULL,
		finished_at DATETIME2 NOT NULL DEFAULT SYSUTCDATETIME())`,
	`IF OBJECT_ID('maintenance_requests') IS NULL CREATE TABLE maintenance_requests (
		id BIGINT IDENTITY PRIMARY KEY,
		kind NVARCHAR(50) NOT NULL,
		region NVARCHAR(20) NOT NULL,
		requested_at DATETIME2 NOT NULL DEFAULT SYSUTCDATETIME())`,
	`IF OBJECT_ID('env_mode') IS NULL CREATE TABLE env_mode (id INT PRIMARY KEY, limited BIT NOT NULL)`,
	`IF NOT EXISTS (SELECT 1 FROM env_mode WHERE id = 1) INSERT INTO env_mode (id, limited) VALUES (1, 0)`,
	`IF COL_LENGTH('env_mode', 'reporting') IS NULL ALTER TABLE env_mode ADD reporting BIT NOT NULL DEFAULT 0`,
}

// Migrate creates the schema on the primary (idempotent).
func Migrate(ctx context.Context, db *sql.DB, d Dialect) error {
	stmts := schemaPostgres
	if d == SQLServer {
		stmts = schemaSQLServer
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("migrate schema: %w", err)
		}
	}
	return nil
}

// Line is one journal line in cents.
type Line struct {
	Account string `json:"account"`
	Debit   int64  `json:"debit"`
	Credit  int64  `json:"credit"`
}

// Balanced tells whether lines form a valid entry: at least two lines, no
// negative amounts, debits equal credits.
func Balanced(lines []Line) error {
	if len(lines) < 2 {
		return fmt.Errorf("a journal entry needs at least two lines, got %d", len(lines))
	}
	var dr, cr int64
	for i, l := range lines {
		if l.Debit < 0 || l.Credit < 0 {
			return fmt.Errorf("line %d: negative amount", i)
		}
		if l.Account == "" {
			return fmt.Errorf("line %d: no account", i)
		}
		dr += l.Debit
		cr += l.Credit
	}
	if dr != cr {
		return fmt.Errorf("unbalanced: debits %d != credits %d", dr, cr)
	}
	return nil
}

// PostJournal stores a balanced entry once per idempotency key. It reports
// replayed=true when the key was already applied (nothing written).
func PostJournal(ctx context.Context, db *sql.DB, d Dialect, key, region, instance string, lines []Line) (replayed bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after commit this is a no-op
	var id int64
	var q string
	if d == SQLServer {
		q = `IF NOT EXISTS (SELECT 1 FROM journal_entries WITH (UPDLOCK, HOLDLOCK) WHERE idem_key = ?)
			INSERT INTO journal_entries (idem_key, line_count, region, instance) OUTPUT INSERTED.id VALUES (?, ?, ?, ?)`
		err = tx.QueryRowContext(ctx, d.Q(q), key, key, len(lines), region, instance).Scan(&id)
	} else {
		q = `INSERT INTO journal_entries (idem_key, line_count, region, instance) VALUES (?, ?, ?, ?)
			ON CONFLICT (idem_key) DO NOTHING RETURNING id`
		err = tx.QueryRowContext(ctx, d.Q(q), key, len(lines), region, instance).Scan(&id)
	}
	if err == sql.ErrNoRows {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("insert entry: %w", err)
	}
	for _, l := range lines {
		if _, err := tx.ExecContext(ctx, d.Q(`INSERT INTO journal_lines (entry_id, account, debit, credit) VALUES (?, ?, ?, ?)`),
			id, l.Account, l.Debit, l.Credit); err != nil {
			return false, fmt.Errorf("insert line: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit entry: %w", err)
	}
	return false, nil
}

// PostInvoice stores the invoice row naming its document (idempotent).
func PostInvoice(ctx context.Context, db *sql.DB, d Dialect, key, objectKey, sum string, amount int64, region, instance string) (replayed bool, err error) {
	var res sql.Result
	if d == SQLServer {
		res, err = db.ExecContext(ctx, d.Q(`IF NOT EXISTS (SELECT 1 FROM invoices WHERE idem_key = ?)
			INSERT INTO invoices (idem_key, object_key, sha256, amount, region, instance) VALUES (?, ?, ?, ?, ?, ?)`),
			key, key, objectKey, sum, amount, region, instance)
	} else {
		res, err = db.ExecContext(ctx, d.Q(`INSERT INTO invoices (idem_key, object_key, sha256, amount, region, instance)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (idem_key) DO NOTHING`), key, objectKey, sum, amount, region, instance)
	}
	if err != nil {
		return false, fmt.Errorf("insert invoice: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 0, nil
}

// TrialBalance sums every line: the batch job and the financial report.
func TrialBalance(ctx context.Context, db *sql.DB) (debits, credits, lines int64, err error) {
	err = db.QueryRowContext(ctx, `SELECT COALESCE(SUM(debit),0), COALESCE(SUM(credit),0), COUNT(*) FROM journal_lines`).
		Scan(&debits, &credits, &lines)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("trial balance: %w", err)
	}
	return debits, credits, lines, nil
}

// RecordBatch stores a batch run.
func RecordBatch(ctx context.Context, db *sql.DB, d Dialect, job, region, instance string, entries int64, balanced bool) error {
	if _, err := db.ExecContext(ctx, d.Q(`INSERT INTO batch_runs (job, region, instance, entries, balanced) VALUES (?, ?, ?, ?, ?)`),
		job, region, instance, entries, balanced); err != nil {
		return fmt.Errorf("record batch run: %w", err)
	}
	return nil
}

// RecordMaintenance stores an accepted maintenance request.
func RecordMaintenance(ctx context.Context, db *sql.DB, d Dialect, kind, region string) error {
	if _, err := db.ExecContext(ctx, d.Q(`INSERT INTO maintenance_requests (kind, region) VALUES (?, ?)`), kind, region); err != nil {
		return fmt.Errorf("record maintenance: %w", err)
	}
	return nil
}

// LimitedMode reads the environment mode.
func LimitedMode(ctx context.Context, db *sql.DB) (bool, error) {
	var on bool
	if err := db.QueryRowContext(ctx, `SELECT limited FROM env_mode WHERE id = 1`).Scan(&on); err != nil {
		return false, fmt.Errorf("read mode: %w", err)
	}
	return on, nil
}

// ReportingRestored reads whether financial reporting was restored on a
// support request while in limited mode.
func ReportingRestored(ctx context.Context, db *sql.DB) (bool, error) {
	var on bool
	if err := db.QueryRowContext(ctx, `SELECT reporting FROM env_mode WHERE id = 1`).Scan(&on); err != nil {
		return false, fmt.Errorf("read mode: %w", err)
	}
	return on, nil
}

// SetLimitedMode writes the environment mode; reporting restores financial
// reporting while limited (a support request), and is cleared otherwise.
func SetLimitedMode(ctx context.Context, db *sql.DB, d Dialect, on, reporting bool) error {
	if _, err := db.ExecContext(ctx, d.Q(`UPDATE env_mode SET limited = ?, reporting = ? WHERE id = 1`), on, on && reporting); err != nil {
		return fmt.Errorf("set limited mode: %w", err)
	}
	return nil
}

// ReadSnapshot reads every journal entry, line and invoice row, and the mode,
// in one snapshot transaction, so writes going on meanwhile never show
// as half an entry. Objects are filled in by the caller from the bucket.
func ReadSnapshot(ctx context.Context, db *sql.DB, region topology.RegionName) (_ *topology.Snapshot, err error) {
	// PostgreSQL's repeatable read is a snapshot and works on a hot
	// standby, where serializable is refused; SQL Server needs serializable
	// to keep rows inserted meanwhile out of the read.
	iso := sql.LevelSerializable
	if strings.Contains(fmt.Sprintf("%T", db.Driver()), "stdlib") {
		iso = sql.LevelRepeatableRead
	}
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: iso})
	if err != nil {
		return nil, fmt.Errorf("begin snapshot: %w", err)
	}
	defer func() {
		if cerr := tx.Commit(); err == nil && cerr != nil {
			err = fmt.Errorf("end snapshot: %w", cerr)
		}
	}()
	s := &topology.Snapshot{
		Region:   region,
		Journal:  map[string]topology.JournalEntry{},
		Invoices: map[string]topology.InvoiceRow{},
		Objects:  map[string]string{},
		TakenAt:  time.Now(),
	}
	ids := map[int64]string{}
	rows, err := tx.QueryContext(ctx, `SELECT id, idem_key, line_count FROM journal_entries`)
	if err != nil {
		return nil, fmt.Errorf("read journal entries: %w", err)
	}
	for rows.Next() {
		var id int64
		var key string
		var n int
		if err := rows.Scan(&id, &key, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read journal entries: %w", err)
		}
		ids[id] = key
		e := s.Journal[key]
		e.Key, e.LineCount = key, n
		e.Applied++
		s.Journal[key] = e
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("read journal entries: %w", err)
	}
	rows, err = tx.QueryContext(ctx, `SELECT entry_id, account, debit, credit FROM journal_lines`)
	if err != nil {
		return nil, fmt.Errorf("read journal lines: %w", err)
	}
	for rows.Next() {
		var id int64
		var l topology.JournalLine
		if err := rows.Scan(&id, &l.Account, &l.Debit, &l.Credit); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read journal lines: %w", err)
		}
		key, ok := ids[id]
		if !ok {
			key = fmt.Sprintf("orphan-entry-%d", id)
		}
		e := s.Journal[key]
		e.Key = key
		e.Lines = append(e.Lines, l)
		s.Journal[key] = e
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("read journal lines: %w", err)
	}
	rows, err = tx.QueryContext(ctx, `SELECT idem_key, object_key, sha256, amount FROM invoices`)
	if err != nil {
		return nil, fmt.Errorf("read invoices: %w", err)
	}
	for rows.Next() {
		var r topology.InvoiceRow
		if err := rows.Scan(&r.Key, &r.ObjectKey, &r.SHA256, &r.Amount); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read invoices: %w", err)
		}
		s.Invoices[r.Key] = r
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("read invoices: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT limited FROM env_mode WHERE id = 1`).Scan(&s.LimitedMode); err != nil {
		return nil, fmt.Errorf("read mode: %w", err)
	}
	return s, nil
}

func closeRows(rows *sql.Rows) error {
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	return rows.Close()
}

// Snapshot reads region r's surviving data for a provider: the database
// through a connection pool open returns (closed when done) and the
// bucket's object checksums through objects.
func Snapshot(ctx context.Context, r topology.RegionName, open func() (*sql.DB, error), objects func(context.Context) (map[string]string, error)) (*topology.Snapshot, error) {
	db, err := open()
	if err != nil {
		return nil, err
	}
	defer db.Close()
	s, err := ReadSnapshot(ctx, db, r)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", r, err)
	}
	if s.Objects, err = objects(ctx); err != nil {
		return nil, fmt.Errorf("snapshot %s bucket: %w", r, err)
	}
	return s, nil
}
