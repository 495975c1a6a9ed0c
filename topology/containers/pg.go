package containers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/pgship"
	"github.com/bcdr-harness/bcdr/topology/sqlserver"
)

// PostgreSQL log shipping between two containers, the SQL engine of the
// containers provider on hosts without SQL Server. The engine is pgship's
// (topology/pgship.Shipping); this file is the container node it drives:
// WAL archiving into the region's backup directory is the log backup
// (pg_switch_wal on the schedule); the copy job fetches archived segments
// across the WAN (the Toxiproxy container in front of the other region's
// share server) into the incoming directory; the restore job moves them
// where the standby's restore_command reads them. Resync and the old
// primary after a switchover are rebuilt with pg_basebackup from the new
// primary, across the WAN.

const (
	pgShareDir = "/bcdr" // host directory per region: backup, incoming, restore, control, pgdata
	// pgDataDir is on the host directory too, not in the container's own
	// filesystem: Docker may store that on fuse-overlayfs, where every
	// write of the server passes through a user-space daemon competing for
	// the same two cores as the drill. A host directory survives the
	// container's stop as the container's own filesystem does.
	pgDataDir  = pgShareDir + "/pgdata"
	pgDatabase = "finance"
)

// pgEntry is the container's command: initdb (or, when told, a base backup
// from the peer across the WAN, whose backup_label it hands to the harness)
// on first start, then postgres. restore_command is the harness's
// control/restore.sh (pgship.RestoreScript).
const pgEntry = `set -e
D=` + pgDataDir + `
if [ -f /bcdr/control/rebuild ]; then rm -rf "$D"/* "$D"/.[!.]* 2>/dev/null || true; rm -f /bcdr/control/rebuild; fi
if [ ! -s "$D/PG_VERSION" ]; then
  mkdir -p "$D"; chmod 700 "$D"
  if [ -f /bcdr/control/standby-of ]; then
    read H P < /bcdr/control/standby-of
    n=0
    until pg_basebackup -h "$H" -p "$P" -U postgres -D "$D" -X stream -c fast; do
      n=$((n+1)); [ $n -lt 60 ] || exit 1; rm -rf "$D"/*; sleep 0.5
    done
    cp "$D/backup_label" /bcdr/control/backup_label.tmp && mv -f /bcdr/control/backup_label.tmp /bcdr/control/backup_label
    touch "$D/standby.signal"
  else
    initdb -D "$D" -U postgres --auth=trust --wal-segsize=1 >/dev/null
    echo "host all all 0.0.0.0/0 trust" >> "$D/pg_hba.conf"
    echo "host replication all 0.0.0.0/0 trust" >> "$D/pg_hba.conf"
  fi
fi
# fsync=off: a container kill keeps the kernel's page cache, so nothing
# acknowledged is lost to it, and two cores stay free for the drill.
# wal_retrieve_retry_interval=250ms: a standby with nothing new to replay
# runs restore_command (sh, and mv for the miss file) this often, each an
# exec whose binaries are read through the container's filesystem
# (fuse-overlayfs here); at 50 ms that daemon took 12% of a core in the
# steady state, at 250 ms 5% (one drill each). A staged segment waits at
# most 250 ms wall for the standby to look.
exec postgres -D "$D" -c listen_addresses='*' -c wal_level=replica -c archive_mode=on \
  -c "archive_command=cp %p /bcdr/backup/.part-%f && mv -f /bcdr/backup/.part-%f /bcdr/backup/%f" \
  -c "restore_command=sh /bcdr/control/restore.sh %f %p" -c wal_retrieve_retry_interval=250ms \
  -c track_commit_timestamp=on -c fsync=off -c max_connections=200 -c hot_standby=on
`

// pgNode is one region's PostgreSQL container and directories: the
// pgship.Node of the containers provider.
type pgNode struct {
	region topology.RegionName
	c      *ctr
	port   int    // published loopback port
	dir    string // host directory mounted at /bcdr
	// peerShare is the other region's backup directory, read across the WAN.
	peerShare sqlserver.Share
	// peerSQL is the other region's server as this region's container
	// reaches it across the WAN ("toxiproxy <port>").
	peerSQL string
}

var _ pgship.Node = (*pgNode)(nil)

func (n *pgNode) sub(s string) string { return filepath.Join(n.dir, s) }

func (n *pgNode) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=2", n.port, db)
}

// prepare writes the restore_command script into the control directory.
func (n *pgNode) prepare() error {
	script := pgship.RestoreScript(n.region, pgShareDir+"/restore", pgShareDir+"/control/restore-miss")
	return os.WriteFile(n.sub("control/restore.sh"), []byte(script), 0o755)
}

// Region implements pgship.Node.
func (n *pgNode) Region() topology.RegionName { return n.region }

// Connect implements pgship.Node.
func (n *pgNode) Connect(ctx context.Context) (*pgx.Conn, error) {
	return pgx.Connect(ctx, n.dsn("postgres"))
}

// Running implements pgship.Node: a container's state is not read on
// every job; a stopped one refuses connections.
func (n *pgNode) Running() bool { return n.c != nil }

// Dirs implements pgship.Node.
func (n *pgNode) Dirs() pgship.Dirs {
	return pgship.Dirs{Archive: n.sub("backup"), Incoming: n.sub("incoming"), Restore: n.sub("restore"), MissFile: n.sub("control/restore-miss")}
}

// LogTail implements pgship.Node.
func (n *pgNode) LogTail() string {
	if n.c == nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return n.c.logTail(ctx)
}

// ListArchive implements pgship.Node: the other region's backup directory
// is listed through its share server, across the WAN.
func (n *pgNode) ListArchive(ctx context.Context, from pgship.Node) ([]string, error) {
	if from.Region() != n.region.Other() {
		return nil, fmt.Errorf("region %s reads only region %s's log backups", n.region, n.region.Other())
	}
	return n.peerShare.List(ctx)
}

// Fetch implements pgship.Node: one file read across the WAN into the
// incoming directory.
func (n *pgNode) Fetch(ctx context.Context, from pgship.Node, name string) error {
	if from.Region() != n.region.Other() {
		return fmt.Errorf("region %s reads only region %s's log backups", n.region, n.region.Other())
	}
	r, err := n.peerShare.Open(ctx, name)
	if err != nil {
		return err
	}
	defer r.Close()
	return sqlserver.DirShare{Path: n.sub("incoming")}.Put(ctx, name, r)
}

// Rebuild implements pgship.Node: the container is restarted with its data
// directory replaced by a base backup of the primary taken across the WAN.
func (n *pgNode) Rebuild(ctx context.Context, primary topology.RegionName) (uint64, error) {
	if primary != n.region.Other() {
		return 0, fmt.Errorf("rebuild region %s: its primary can only be region %s", n.region, n.region.Other())
	}
	// The server is down before its directories are emptied: its archiver
	// adds nothing after.
	_ = n.c.Unpause(ctx)
	if err := n.c.Kill(ctx); err != nil {
		return 0, fmt.Errorf("rebuild region %s: %w", n.region, err)
	}
	for _, d := range []string{"backup", "incoming", "restore"} {
		if err := clearDir(n.sub(d)); err != nil {
			return 0, fmt.Errorf("rebuild region %s: %w", n.region, err)
		}
	}
	for _, f := range []string{"control/restore-miss", "control/backup_label"} {
		if err := os.Remove(n.sub(f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("rebuild region %s: %w", n.region, err)
		}
	}
	if err := n.seedStandby(); err != nil {
		return 0, err
	}
	if err := os.WriteFile(n.sub("control/rebuild"), nil, 0o644); err != nil {
		return 0, fmt.Errorf("rebuild region %s: %w", n.region, err)
	}
	if err := n.c.Start(ctx); err != nil {
		return 0, fmt.Errorf("rebuild region %s: %w", n.region, err)
	}
	return n.waitStandby(ctx)
}

// seedStandby makes the node's next fresh start (its first, or one after a
// rebuild) a base backup of the other region's server (its primary).
func (n *pgNode) seedStandby() error {
	if err := os.WriteFile(n.sub("control/standby-of"), []byte(n.peerSQL+"\n"), 0o644); err != nil {
		return fmt.Errorf("seed standby in region %s: %w", n.region, err)
	}
	return nil
}

// waitStandby waits until the rebuilt standby accepts connections and
// returns the first segment its base backup needs.
func (n *pgNode) waitStandby(ctx context.Context) (uint64, error) {
	if err := waitFor(ctx, 120*time.Second, n.ready); err != nil {
		return 0, fmt.Errorf("rebuild region %s: standby not ready: %w (logs: %s)", n.region, err, n.LogTail())
	}
	floor, err := pgship.BackupStartSeg(n.sub("control"))
	if err != nil {
		return 0, fmt.Errorf("rebuild region %s: %w", n.region, err)
	}
	return floor, nil
}

// query runs one statement on the node with a short deadline.
func (n *pgNode) query(ctx context.Context, timeout time.Duration, q string, dest ...any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := n.Connect(ctx)
	if err != nil {
		return fmt.Errorf("connect to sql in region %s: %w", n.region, err)
	}
	defer conn.Close(context.Background())
	if len(dest) == 0 {
		_, err = conn.Exec(ctx, q)
	} else {
		err = conn.QueryRow(ctx, q).Scan(dest...)
	}
	if err != nil {
		return fmt.Errorf("sql in region %s: %w", n.region, err)
	}
	return nil
}

func (n *pgNode) ready(ctx context.Context) error {
	var one int
	return n.query(ctx, 2*time.Second, "SELECT 1", &one)
}

func clearDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func waitFor(ctx context.Context, d time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}
