package pgship

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bcdr-harness/bcdr/topology"
)

// TestSegmentLeftUnmarkedByACrashIsShipped: a primary killed after it
// finished a segment and before it created the segment's .ready file comes
// back with the segment in pg_wal and no archive status for it; PostgreSQL
// itself marks it only once it leaves wal_keep_size. The log backup job
// must hand it to the archiver, or the archive has a gap and the secondary
// stops there for good (the conformance test's region-flapping on a loaded
// machine: restore stuck at one segment's end while backups went on).
//
// The crash window is made wide here: the log share is full, so finished
// segments wait with a .ready file; the primary is killed; one .ready file
// is removed, as if the kill had come just before the server wrote it.
func TestSegmentLeftUnmarkedByACrashIsShipped(t *testing.T) {
	p := newPair(t, nil)
	ctx := testCtx(t)
	createLedger(t, p, a)
	insertRows(t, p, a, 1, 3)
	ship(t, p)

	require.NoError(t, p.SetLogShareFull(a, true))
	for i := 0; i < 3; i++ {
		insertRows(t, p, a, 10*i+10, 10*i+12)
		conn, err := p.admin(ctx, p.regions[a]) // superuser
		require.NoError(t, err)
		_, err = conn.Exec(ctx, "SELECT pg_switch_wal()")
		conn.Close(ctx)
		require.NoError(t, err)
	}
	status := filepath.Join(p.regions[a].data, "pg_wal", "archive_status")
	var ready []string
	for _, n := range listDir(status) {
		if strings.HasSuffix(n, ".ready") {
			ready = append(ready, n)
		}
	}
	require.GreaterOrEqual(t, len(ready), 3, "segments waiting for the full share: %v", ready)
	require.NoError(t, p.Kill(a))
	lost := strings.TrimSuffix(ready[0], ".ready")
	require.NoError(t, os.Remove(filepath.Join(status, ready[0])))
	require.NoError(t, p.SetLogShareFull(a, false))
	require.NoError(t, p.Start(ctx, a))

	insertRows(t, p, a, 100, 102)
	require.NoError(t, topology.InitialSync(ctx, p), "segment %s must reach the secondary", lost)
	require.FileExists(t, filepath.Join(p.regions[a].archive, lost))
	requireIDs(t, ids(t, p, b), 102, union(between(1, 3), between(10, 12), between(20, 22), between(30, 32), between(100, 102)), "standby after the crash")
}
