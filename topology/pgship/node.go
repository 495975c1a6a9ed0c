package pgship

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
)

// Node is one region's PostgreSQL server as the log-shipping engine
// (Shipping) drives it: a local process (this package's Pair) or a
// container (topology/containers). The engine runs SQL on it, reads and
// moves files in its directories, has it fetch log backups across the WAN
// and rebuilds it from a base backup; everything else (starting, killing,
// addresses) is the provider's.
type Node interface {
	// Region names the node's region.
	Region() topology.RegionName
	// Connect opens a superuser connection to database postgres.
	Connect(ctx context.Context) (*pgx.Conn, error)
	// Running is false when the server is known to be down (the engine
	// then skips it); a node that cannot tell says true.
	Running() bool
	// Dirs are the node's directories as the harness reads and writes
	// them.
	Dirs() Dirs
	// LogTail is the end of the server's log, for error messages.
	LogTail() string
	// ListArchive lists region from's archived log backups as this node's
	// copy job reads them (across the WAN): an error means they cannot be
	// read.
	ListArchive(ctx context.Context, from Node) ([]string, error)
	// Fetch copies one archived file of region from into this node's
	// Incoming directory across the WAN; the file appears there complete
	// or not at all.
	Fetch(ctx context.Context, from Node, name string) error
	// Rebuild replaces the node's cluster with a base backup of the
	// primary region's server, taken across the WAN, empties its Archive,
	// Incoming and Restore directories, and starts it as a log-shipping
	// standby that replays what reaches Restore. It returns the first WAL
	// segment (number) the standby needs from log shipping.
	Rebuild(ctx context.Context, primary topology.RegionName) (floor uint64, err error)
}

// Dirs are a node's directories on the harness's machine (for a container,
// the host side of its bind mount).
type Dirs struct {
	// Archive is where the server's archive_command puts completed WAL
	// files: the region's log backup share.
	Archive string
	// Incoming is where copies from the other region arrive.
	Incoming string
	// Restore is where the standby's restore_command reads WAL files.
	Restore string
	// MissFile is where restore_command records the last segment it was
	// asked for and did not find (see RestoreScript).
	MissFile string
}

// ShippingConfig configures the engine.
type ShippingConfig struct {
	// Clock is the service-time schedule for Run (nil = real time).
	Clock *clock.Clock
	// Database is the application database (fenced on a role change).
	Database string
	// BackupInterval, CopyInterval and RestoreInterval are the jobs' periods
	// in service time.
	BackupInterval, CopyInterval, RestoreInterval time.Duration
	// Logf receives progress and job failures (optional).
	Logf func(format string, args ...any)
	// BackgroundRebuild: see Config.BackgroundRebuild.
	BackgroundRebuild bool
}

// node is a Node with the engine's per-node state.
type node struct {
	Node
	name topology.RegionName
	dirs Dirs

	statMu   sync.Mutex // guards statConn
	statConn *pgx.Conn
}

func (r *node) closeStat() {
	r.statMu.Lock()
	defer r.statMu.Unlock()
	if r.statConn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_ = r.statConn.Close(ctx)
		cancel()
		r.statConn = nil
	}
}

// RestoreScript is a restore_command script (called with %f and %p) that
// takes a WAL file from restoreDir and records in missFile the last segment
// asked for and missing (the failover wait reads it). Paths are as the
// server sees them.
func RestoreScript(region topology.RegionName, restoreDir, missFile string) string {
	return "#!/bin/sh\n# restore_command of region " + string(region) + ": take a WAL file from the restore staging dir;\n" +
		"# remember the last segment asked for and missing (the failover wait reads it).\n" +
		"f=" + shellQuote(restoreDir) + "/\"$1\"\nif [ -f \"$f\" ]; then exec cp \"$f\" \"$2\"; fi\n" +
		"case \"$1\" in *.history|*.partial|*.backup) ;; *) printf '%s\\n' \"$1\" > " + shellQuote(missFile+".tmp") +
		" && mv -f " + shellQuote(missFile+".tmp") + " " + shellQuote(missFile) + " ;; esac\nexit 1\n"
}

// BackupStartSeg reads the first WAL segment a base backup needs from the
// backup_label in dir.
func BackupStartSeg(dir string) (uint64, error) { return backupStartSeg(dir) }
