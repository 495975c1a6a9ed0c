package pgship

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bcdr-harness/bcdr/topology"
)

// SetLogShareFull makes region r's log backup share (its archive directory)
// refuse new log backups, as a full disk would, or accept them again. The
// archive_command then really fails (its copy into the directory is
// refused), log backups fail, and the secondary's lag grows; once freed, the
// next log backup wakes the archiver, which archives the backlog in order.
func (p *Pair) SetLogShareFull(r topology.RegionName, full bool) error {
	reg := p.regions[r]
	if reg == nil {
		return fmt.Errorf("pgship: no region %q", r)
	}
	mode := os.FileMode(0o755)
	if full {
		mode = 0o555
	}
	if err := os.Chmod(reg.archive, mode); err != nil {
		return fmt.Errorf("log share of region %s: %w", r, err)
	}
	if full {
		p.logf("pgship: log backup share of region %s is full", r)
	} else {
		p.logf("pgship: log backup share of region %s has space again", r)
	}
	return nil
}

// archiveFailure reports an archive_command failure seen by the server's
// archiver at or after since, so a log backup fails at once instead of
// waiting its whole deadline for a segment that cannot arrive.
func archiveFailure(ctx context.Context, conn *pgx.Conn, since time.Time) error {
	var wal *string
	var at *time.Time
	if err := conn.QueryRow(ctx, "SELECT last_failed_wal, last_failed_time FROM pg_stat_archiver").Scan(&wal, &at); err != nil {
		return nil // no verdict; the caller keeps waiting
	}
	if at == nil || at.Before(since) || wal == nil {
		return nil
	}
	return fmt.Errorf("archive_command failed for %s at %s (is the log backup share full or unwritable?)", *wal, at.Format(time.RFC3339Nano))
}
