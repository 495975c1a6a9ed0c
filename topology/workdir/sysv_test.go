package workdir

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// postmasterPID writes a postmaster.pid naming segment id, as PostgreSQL
// 15 does.
func postmasterPID(t *testing.T, dataDir string, id int) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dataDir, 0o700))
	body := fmt.Sprintf("4242\n%s\n1764900000\n15432\n/tmp\n127.0.0.1\n  5432001 %10d\nready   \n", dataDir, id)
	require.NoError(t, os.WriteFile(filepath.Join(dataDir, "postmaster.pid"), []byte(body), 0o600))
}

func newSegment(t *testing.T) int {
	t.Helper()
	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, 4096, unix.IPC_CREAT|0o600)
	if err != nil {
		t.Skipf("no System V shared memory here: %v", err)
	}
	t.Cleanup(func() { _, _ = unix.SysvShmCtl(id, unix.IPC_RMID, nil) })
	return id
}

// A killed server's segment (nothing attached) named by a postmaster.pid
// of the directory goes with it; a segment something is attached to (a
// live server's) stays, and so does one no postmaster.pid of it names.
func TestSweepReleasesAKilledServersSegment(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	orphan, live, other := newSegment(t), newSegment(t), newSegment(t)
	mem, err := unix.SysvShmAttach(live, 0, 0)
	require.NoError(t, err)
	defer func() { _ = unix.SysvShmDetach(mem) }()

	d := filepath.Join(os.TempDir(), "bcdr-run-sysv")
	postmasterPID(t, filepath.Join(d, "a", "pgdata"), orphan)
	postmasterPID(t, filepath.Join(d, "b", "pgdata"), live)
	require.NoError(t, WriteOwner(d, Owner{Pid: 1 << 22}))

	var removed []string
	require.NoError(t, Sweep("bcdr-run-", 0, false, false, func(dir string) { removed = append(removed, dir) }, func(string, string) {}))
	require.Equal(t, []string{d}, removed)
	_, exists := shmAttached(orphan)
	require.False(t, exists, "the killed server's segment is released")
	n, exists := shmAttached(live)
	require.True(t, exists, "a segment with a process attached stays")
	require.Equal(t, 1, n)
	_, exists = shmAttached(other)
	require.True(t, exists, "a segment no postmaster.pid of the directory names stays")
}
