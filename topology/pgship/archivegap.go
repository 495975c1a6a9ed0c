package pgship

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// markUnarchived gives the archiver every completed segment of the
// current timeline that PostgreSQL lost track of, and returns their names.
//
// A server killed just as it finished a segment (the segment written and
// flushed, its archive_status/NAME.ready not yet created) comes back with
// that segment in pg_wal and no status for it. PostgreSQL 15 marks such a
// segment .ready only when a checkpoint considers removing it, that is once
// it has left wal_keep_size (64 segments here): until then the archive has
// a gap, the secondary stops at it and every later log backup is shipped
// and never replayed. The log backup job marks it now, as PostgreSQL's own
// XLogArchiveCheckDone later would. Only segments before the one holding
// the flush position are marked: they are complete on disk, and the server
// would have marked them itself had it not been killed.
func markUnarchived(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	rows, err := conn.Query(ctx, `
		WITH cur AS (SELECT pg_walfile_name(pg_current_wal_flush_lsn()) AS seg)
		SELECT w.name FROM pg_ls_waldir() w, cur
		WHERE w.name ~ '^[0-9A-F]{24}$'
		  AND substr(w.name, 1, 8) = substr(cur.seg, 1, 8)
		  AND w.name < cur.seg
		  AND NOT EXISTS (SELECT 1 FROM pg_ls_archive_statusdir() s
		                  WHERE s.name IN (w.name || '.ready', w.name || '.done'))
		ORDER BY w.name`)
	if err != nil {
		return nil, fmt.Errorf("list unarchived segments: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list unarchived segments: %w", err)
	}
	if len(names) == 0 {
		return nil, nil
	}
	var dataDir string
	if err := conn.QueryRow(ctx, "SELECT current_setting('data_directory')").Scan(&dataDir); err != nil {
		return nil, fmt.Errorf("read data_directory: %w", err)
	}
	for _, n := range names {
		if _, ok := parseWALName(n); !ok {
			return nil, fmt.Errorf("unexpected WAL file name %q", n)
		}
		// COPY writes the (empty) status file as the server, into its own
		// data directory, wherever that is (a local process, a container).
		if _, err := conn.Exec(ctx, "COPY (SELECT 1 WHERE false) TO '"+strings.ReplaceAll(dataDir, "'", "''")+"/pg_wal/archive_status/"+n+".ready'"); err != nil {
			return nil, fmt.Errorf("mark %s ready for the archiver: %w", n, err)
		}
	}
	return names, nil
}
