package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	mssql "github.com/microsoft/go-mssqldb"
)

// Executor runs T-SQL on one SQL Server instance, connected to master. It is
// deliberately tiny so that the statement sequence of every log-shipping step
// can be checked against a recording fake.
type Executor interface {
	// Exec runs a batch that returns no rows.
	Exec(ctx context.Context, stmt string, args ...any) error
	// Query runs a query and returns every row, each as its column values.
	Query(ctx context.Context, query string, args ...any) ([][]any, error)
}

// DB is an Executor over database/sql with the go-mssqldb driver.
type DB struct{ DB *sql.DB }

// Open connects to SQL Server with a go-mssqldb DSN, e.g.
// "sqlserver://sa:pass@127.0.0.1:1433?database=master". The pool is kept
// small: log shipping runs one statement at a time.
func Open(dsn string) (*DB, error) {
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlserver connection: %w", err)
	}
	db.SetMaxOpenConns(2)
	return &DB{DB: db}, nil
}

// Exec implements Executor.
func (d *DB) Exec(ctx context.Context, stmt string, args ...any) error {
	_, err := d.DB.ExecContext(ctx, stmt, args...)
	return err
}

// Query implements Executor.
func (d *DB) Query(ctx context.Context, query string, args ...any) ([][]any, error) {
	rows, err := d.DB.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

// Close closes the pool.
func (d *DB) Close() error { return d.DB.Close() }

// SQL Server error numbers that log shipping handles.
const (
	// ErrLogTooEarly: the log backup ends before the database's redo point;
	// it was already applied (by an earlier restore or a full restore).
	ErrLogTooEarly = 4326
	// ErrLogTooLate: the log backup starts after the redo point; a backup in
	// between is missing and the chain is broken.
	ErrLogTooLate = 4305
	// ErrExclusiveAccess: the database is in use.
	ErrExclusiveAccess = 3101
	// ErrDatabaseInUse: an option cannot change while another session holds
	// the database's single-user slot.
	ErrDatabaseInUse = 5064
)

// HasErrorNumber tells whether err carries the SQL Server error number n,
// anywhere in the chain of messages the server sent (a failed RESTORE sends
// the cause first and 3013 "terminating abnormally" last).
func HasErrorNumber(err error, n int32) bool {
	var e mssql.Error
	if !errors.As(err, &e) {
		return false
	}
	if e.Number == n {
		return true
	}
	for _, x := range e.All {
		if x.Number == n {
			return true
		}
	}
	return false
}
