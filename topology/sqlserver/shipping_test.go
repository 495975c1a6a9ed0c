package sqlserver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bcdr-harness/bcdr/topology"
)

const (
	bk = serverRoot + "/backup/"
	in = serverRoot + "/incoming/"
)

// name renders the file name the pair's clock gives its n-th file (the
// fake clock ticks one second per name).
func name(n int, r topology.RegionName, kind, ext string) string {
	return strings.Join([]string{pad(1_700_000_000_000_000_000 + int64(n)*1_000_000_000), string(r), kind}, "_") + "." + ext
}

func pad(n int64) string {
	s := strings.Repeat("0", 20) + itoa(n)
	return s[len(s)-20:]
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func setup(t *testing.T) *pair {
	t.Helper()
	p := newPair(t)
	require.NoError(t, p.ship.Setup(context.Background()))
	return p
}

func TestSetupSeedsSecondaryFromFullBackup(t *testing.T) {
	p := setup(t)
	full := name(1, "a", "full", "bak")
	assert.Equal(t, []string{
		"IF DB_ID(N'bcdr') IS NULL CREATE DATABASE [bcdr]",
		"ALTER DATABASE [bcdr] SET RECOVERY FULL",
		"BACKUP DATABASE [bcdr] TO DISK = N'" + bk + full + "' WITH INIT, FORMAT",
	}, p.a.take())
	assert.Equal(t, []string{
		"IF DB_ID(N'bcdr') IS NOT NULL BEGIN IF DATABASEPROPERTYEX(N'bcdr', 'Status') = 'ONLINE' ALTER DATABASE [bcdr] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [bcdr] END",
		"RESTORE DATABASE [bcdr] FROM DISK = N'" + in + full + "' WITH NORECOVERY, REPLACE",
	}, p.b.take())
	// The full backup crossed the WAN into region B's incoming directory.
	data, err := os.ReadFile(filepath.Join(p.dirs["b"], "incoming", full))
	require.NoError(t, err)
	assert.Contains(t, string(data), "backup lsn")
	st, err := p.ship.Status(context.Background())
	require.NoError(t, err)
	assert.True(t, st.Shipping)
	assert.Equal(t, topology.RegionA, st.Primary)
	assert.Equal(t, "37000000010001000", st.Restore.LSN, "restore position read from region B's restore history")
}

func TestOneRoundBacksUpCopiesAndRestoresInOrder(t *testing.T) {
	p := setup(t)
	p.a.take()
	p.b.take()
	ctx := context.Background()
	require.NoError(t, p.ship.BackupLog(ctx))
	require.NoError(t, p.ship.BackupLog(ctx))
	l1, l2 := name(2, "a", "log", "trn"), name(3, "a", "log", "trn")
	assert.Equal(t, []string{
		"BACKUP LOG [bcdr] TO DISK = N'" + bk + l1 + "' WITH INIT",
		"BACKUP LOG [bcdr] TO DISK = N'" + bk + l2 + "' WITH INIT",
	}, p.a.take())

	st, _ := p.ship.Status(ctx)
	assert.Equal(t, uint64(37000000010003000), st.Backup.Seq, "backup position from msdb.backupset")
	assert.Equal(t, uint64(37000000010001000), st.Restore.Seq, "nothing restored yet beyond the full backup")

	require.NoError(t, p.ship.CopyLogs(ctx))
	assert.Empty(t, p.b.take(), "copying runs no statement on the secondary")
	names, _ := DirShare{Path: filepath.Join(p.dirs["b"], "incoming")}.List(ctx)
	assert.Equal(t, []string{name(1, "a", "full", "bak"), l1, l2}, names)

	require.NoError(t, p.ship.RestoreLogs(ctx))
	assert.Equal(t, []string{
		"RESTORE LOG [bcdr] FROM DISK = N'" + in + l1 + "' WITH NORECOVERY",
		"RESTORE LOG [bcdr] FROM DISK = N'" + in + l2 + "' WITH NORECOVERY",
	}, p.b.take())

	// A second round restores nothing twice: the restore history says so.
	require.NoError(t, p.ship.CopyLogs(ctx))
	require.NoError(t, p.ship.RestoreLogs(ctx))
	assert.Empty(t, p.b.take())

	st, _ = p.ship.Status(ctx)
	assert.Equal(t, st.Backup.Seq, st.Copy.Seq)
	assert.Equal(t, st.Backup.Seq, st.Restore.Seq)
	assert.False(t, st.Restore.CommitTime.IsZero())
}

func TestRestoreSkipsLogAlreadyContained(t *testing.T) {
	p := setup(t)
	ctx := context.Background()
	require.NoError(t, p.ship.BackupLog(ctx))
	require.NoError(t, p.ship.BackupLog(ctx))
	require.NoError(t, p.ship.CopyLogs(ctx))
	l1, l2 := name(2, "a", "log", "trn"), name(3, "a", "log", "trn")
	p.b.fail = func(stmt string) error {
		if strings.Contains(stmt, l1) {
			return tooEarly()
		}
		return nil
	}
	p.b.take()
	require.NoError(t, p.ship.RestoreLogs(ctx))
	assert.Equal(t, []string{
		"RESTORE LOG [bcdr] FROM DISK = N'" + in + l1 + "' WITH NORECOVERY",
		"RESTORE LOG [bcdr] FROM DISK = N'" + in + l2 + "' WITH NORECOVERY",
	}, p.b.take())
	require.NoError(t, p.ship.RestoreLogs(ctx))
	assert.Empty(t, p.b.take(), "a log too early to apply is not retried")
}

func TestRestoreStopsAtBrokenChain(t *testing.T) {
	p := setup(t)
	ctx := context.Background()
	require.NoError(t, p.ship.BackupLog(ctx))
	require.NoError(t, p.ship.BackupLog(ctx))
	require.NoError(t, p.ship.CopyLogs(ctx))
	p.b.fail = func(string) error { return assert.AnError }
	p.b.take()
	err := p.ship.RestoreLogs(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "restore log "+name(2, "a", "log", "trn")+" on region b")
	assert.Len(t, p.b.take(), 1, "no later log is tried after a failed one")
}

func TestFailoverRestoresWhatArrivedThenRecovers(t *testing.T) {
	p := setup(t)
	ctx := context.Background()
	require.NoError(t, p.ship.BackupLog(ctx))
	require.NoError(t, p.ship.CopyLogs(ctx))
	require.NoError(t, p.ship.BackupLog(ctx)) // never copied: lost with region A
	p.a.down = true                           // region A is lost whole
	p.b.take()
	pos, err := p.ship.Failover(ctx)
	require.NoError(t, err)
	l1 := name(2, "a", "log", "trn")
	assert.Equal(t, []string{
		"RESTORE LOG [bcdr] FROM DISK = N'" + in + l1 + "' WITH NORECOVERY",
		"RESTORE DATABASE [bcdr] WITH RECOVERY",
	}, p.b.take())
	assert.Equal(t, uint64(37000000010002000), pos.Seq, "failover position is the last log that reached region B")
	st, _ := p.ship.Status(ctx)
	assert.Equal(t, topology.RegionB, st.Primary)
	assert.False(t, st.Shipping)
	// Jobs now act on region B; copy and restore wait for the resync.
	p.a.down = false
	p.a.take()
	require.NoError(t, p.ship.BackupLog(ctx))
	require.NoError(t, p.ship.CopyLogs(ctx))
	require.NoError(t, p.ship.RestoreLogs(ctx))
	assert.Len(t, p.b.take(), 1)
	assert.Empty(t, p.a.take())
}

func TestResyncRebuildsOldPrimaryAndReversesShipping(t *testing.T) {
	p := setup(t)
	ctx := context.Background()
	p.a.down = true
	_, err := p.ship.Failover(ctx)
	require.NoError(t, err)
	p.a.down = false // region A is back
	p.a.take()
	p.b.take()
	require.NoError(t, p.ship.Resync(ctx))
	full := name(2, "b", "full", "bak")
	assert.Equal(t, []string{
		"ALTER DATABASE [bcdr] SET RECOVERY FULL",
		"BACKUP DATABASE [bcdr] TO DISK = N'" + bk + full + "' WITH INIT, FORMAT",
	}, p.b.take())
	assert.Equal(t, []string{
		"IF DB_ID(N'bcdr') IS NOT NULL BEGIN IF DATABASEPROPERTYEX(N'bcdr', 'Status') = 'ONLINE' ALTER DATABASE [bcdr] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [bcdr] END",
		"RESTORE DATABASE [bcdr] FROM DISK = N'" + in + full + "' WITH NORECOVERY, REPLACE",
	}, p.a.take())
	require.NoError(t, p.ship.BackupLog(ctx))
	require.NoError(t, p.ship.CopyLogs(ctx))
	require.NoError(t, p.ship.RestoreLogs(ctx))
	assert.Equal(t, []string{
		"RESTORE LOG [bcdr] FROM DISK = N'" + in + name(3, "b", "log", "trn") + "' WITH NORECOVERY",
	}, p.a.take())
}

func TestSwitchoverTakesTailLogAndReversesRoles(t *testing.T) {
	p := setup(t)
	ctx := context.Background()
	require.NoError(t, p.ship.BackupLog(ctx)) // l1, never copied by the schedule
	p.a.take()
	p.b.take()
	require.NoError(t, p.ship.Switchover(ctx, topology.SwitchoverOptions{}))
	l1, tail := name(2, "a", "log", "trn"), name(3, "a", "tail", "trn")
	assert.Equal(t, []string{tailBatch(tail)}, p.a.take(), "no READ_ONLY fence: the tail-log backup WITH NORECOVERY is the fence")
	assert.Equal(t, []string{
		"RESTORE LOG [bcdr] FROM DISK = N'" + in + l1 + "' WITH NORECOVERY",
		"RESTORE LOG [bcdr] FROM DISK = N'" + in + tail + "' WITH RECOVERY",
		"ALTER DATABASE [bcdr] SET MULTI_USER WITH ROLLBACK IMMEDIATE; ALTER DATABASE [bcdr] SET READ_WRITE WITH ROLLBACK IMMEDIATE",
	}, p.b.take())
	st, _ := p.ship.Status(ctx)
	assert.Equal(t, topology.RegionB, st.Primary)
	assert.True(t, st.Shipping, "the old primary follows without a full restore")
	assert.Equal(t, "RESTORING", p.a.state)

	// Reverse shipping: region B's logs go to region A, and only those
	// taken after the tail.
	require.NoError(t, p.ship.BackupLog(ctx))
	require.NoError(t, p.ship.CopyLogs(ctx))
	require.NoError(t, p.ship.RestoreLogs(ctx))
	assert.Equal(t, []string{
		"RESTORE LOG [bcdr] FROM DISK = N'" + in + name(4, "b", "log", "trn") + "' WITH NORECOVERY",
	}, p.a.take())
}

func tailBatch(file string) string {
	return "DECLARE @kill nvarchar(max) = N''; SELECT @kill = @kill + N'KILL ' + CONVERT(nvarchar(10), session_id) + N' ' FROM sys.dm_exec_sessions WHERE database_id = DB_ID(N'bcdr') AND session_id <> @@SPID; EXEC(@kill); " +
		"ALTER DATABASE [bcdr] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; BACKUP LOG [bcdr] TO DISK = N'" + bk + file + "' WITH INIT, NORECOVERY"
}

// The fake refuses what SQL Server refuses, so the sequence of before
// (READ_ONLY, then SINGLE_USER and the tail from a master session, no way
// back) fails here.
func TestFakeEnforcesTheServerRules(t *testing.T) {
	ctx := context.Background()
	p := setup(t)
	oldFence := "ALTER DATABASE [bcdr] SET READ_ONLY WITH ROLLBACK IMMEDIATE"
	oldTail := "ALTER DATABASE [bcdr] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; BACKUP LOG [bcdr] TO DISK = N'" + bk + "x_tail.trn' WITH INIT, NORECOVERY"
	require.NoError(t, p.a.Exec(ctx, oldFence))
	err := p.a.Exec(ctx, oldTail)
	require.Error(t, err, "a READ_ONLY database cannot be left RESTORING")
	assert.Equal(t, "ONLINE", p.a.state)

	p = setup(t)
	p.a.probes = 1
	err = p.a.Exec(ctx, oldTail)
	assert.True(t, HasErrorNumber(err, ErrExclusiveAccess), "a probe took the single-user slot: %v", err)
	err = p.a.Exec(ctx, oldTail)
	assert.True(t, HasErrorNumber(err, ErrDatabaseInUse), "SINGLE_USER again while the probe holds it: %v", err)
	require.NoError(t, p.a.Exec(ctx, tailBatch("y_tail.trn")), "the new batch kills the probe's session first")

	p = setup(t)
	require.NoError(t, p.b.Exec(ctx, "RESTORE DATABASE [bcdr] WITH RECOVERY"))
	require.NoError(t, p.ship.BackupLog(ctx))
	require.NoError(t, p.ship.CopyLogs(ctx))
	err = p.ship.RestoreLogs(ctx)
	assert.True(t, HasErrorNumber(err, 3117), "no log restore onto a recovered database: %v", err)
}

func TestSwitchoverTakesTheSlotBackFromAProbe(t *testing.T) {
	p := setup(t)
	ctx := context.Background()
	p.a.probes = 2 // a health probe takes the single-user slot twice
	p.a.take()
	require.NoError(t, p.ship.Switchover(ctx, topology.SwitchoverOptions{}))
	tail := name(2, "a", "tail", "trn")
	assert.Equal(t, []string{tailBatch(tail), tailBatch(tail), tailBatch(tail)}, p.a.take(), "retried until the probe's session was killed before it could take the slot")
	assert.Equal(t, "RESTORING", p.a.state)
	st, _ := p.ship.Status(ctx)
	assert.Equal(t, topology.RegionB, st.Primary)
}

func TestSwitchoverFailingAfterTheTailBringsTheOldPrimaryBack(t *testing.T) {
	p := setup(t)
	ctx := context.Background()
	require.NoError(t, p.ship.BackupLog(ctx))
	p.b.fail = func(stmt string) error {
		if strings.Contains(stmt, "WITH RECOVERY") {
			return fakeErr(3013, "RESTORE LOG is terminating abnormally.")
		}
		return nil
	}
	p.a.take()
	err := p.ship.Switchover(ctx, topology.SwitchoverOptions{})
	require.ErrorContains(t, err, "region a stays the primary")
	tail := name(3, "a", "tail", "trn")
	assert.Equal(t, []string{tailBatch(tail), "RESTORE DATABASE [bcdr] WITH RECOVERY; ALTER DATABASE [bcdr] SET MULTI_USER WITH ROLLBACK IMMEDIATE"}, p.a.take())
	assert.Equal(t, "ONLINE", p.a.state, "the old primary is back with every write")
	st, _ := p.ship.Status(ctx)
	assert.Equal(t, topology.RegionA, st.Primary, "roles unchanged")
	assert.True(t, st.Shipping)

	// Shipping goes on, the tail as one more log backup, and a second
	// switch succeeds.
	p.b.fail = nil
	require.NoError(t, p.ship.Switchover(ctx, topology.SwitchoverOptions{}))
	st, _ = p.ship.Status(ctx)
	assert.Equal(t, topology.RegionB, st.Primary)
}

func TestFailoverTakesTheTailOfAReachableOldPrimary(t *testing.T) {
	p := setup(t)
	ctx := context.Background()
	require.NoError(t, p.ship.BackupLog(ctx))
	require.NoError(t, p.ship.CopyLogs(ctx))
	require.NoError(t, p.ship.BackupLog(ctx)) // not copied yet, but region A still answers
	p.a.take()
	p.b.take()
	pos, err := p.ship.Failover(ctx)
	require.NoError(t, err)
	l1, l2, tail := name(2, "a", "log", "trn"), name(3, "a", "log", "trn"), name(4, "a", "tail", "trn")
	assert.Equal(t, []string{tailBatch(tail)}, p.a.take())
	assert.Equal(t, []string{
		"RESTORE LOG [bcdr] FROM DISK = N'" + in + l1 + "' WITH NORECOVERY",
		"RESTORE LOG [bcdr] FROM DISK = N'" + in + l2 + "' WITH NORECOVERY",
		"RESTORE LOG [bcdr] FROM DISK = N'" + in + tail + "' WITH NORECOVERY",
		"RESTORE DATABASE [bcdr] WITH RECOVERY",
	}, p.b.take())
	assert.Equal(t, "RESTORING", p.a.state, "the old primary is fenced by its tail-log backup")
	assert.Equal(t, uint64(37000000010004000), pos.Seq, "failover position is the tail")
}

func TestSwitchoverWithoutTailRebuildsOldPrimary(t *testing.T) {
	p := setup(t)
	ctx := context.Background()
	p.a.take()
	p.b.take()
	require.NoError(t, p.ship.Switchover(ctx, topology.SwitchoverOptions{SkipFinalLogBackup: true}))
	full := name(2, "b", "full", "bak")
	assert.Equal(t, []string{
		"ALTER DATABASE [bcdr] SET READ_ONLY WITH ROLLBACK IMMEDIATE",
		"IF DB_ID(N'bcdr') IS NOT NULL BEGIN IF DATABASEPROPERTYEX(N'bcdr', 'Status') = 'ONLINE' ALTER DATABASE [bcdr] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [bcdr] END",
		"RESTORE DATABASE [bcdr] FROM DISK = N'" + in + full + "' WITH NORECOVERY, REPLACE",
	}, p.a.take())
	assert.Equal(t, []string{
		"RESTORE DATABASE [bcdr] WITH RECOVERY",
		"BACKUP DATABASE [bcdr] TO DISK = N'" + bk + full + "' WITH INIT, FORMAT",
	}, p.b.take())
	for _, s := range p.a.execs {
		assert.NotContains(t, s, "BACKUP LOG", "no tail-log backup")
	}
}

func TestCopyAcrossCutWANCountsError(t *testing.T) {
	p := setup(t)
	ctx := context.Background()
	require.NoError(t, p.ship.BackupLog(ctx))
	p.wan["a"].Close() // the WAN link to region A's share is gone
	err := p.ship.CopyLogs(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "across the WAN")
	st, _ := p.ship.Status(ctx)
	assert.Equal(t, 1, st.CopyErrors)
	assert.Zero(t, st.Copy.Seq)
}

func TestStatusFallsBackToLastKnownPositions(t *testing.T) {
	p := setup(t)
	ctx := context.Background()
	require.NoError(t, p.ship.BackupLog(ctx))
	before, _ := p.ship.Status(ctx)
	p.a.mu.Lock()
	p.a.backups = nil // as if region A's msdb could not be read
	p.a.mu.Unlock()
	after, err := p.ship.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, before.Backup, after.Backup)
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := New(Config{Database: "bcdr; DROP"})
	assert.ErrorContains(t, err, "database name")
	_, err = New(Config{Database: "bcdr", Primary: Node{Region: "a"}, Second: Node{Region: "a"}})
	assert.ErrorContains(t, err, "both region")
}

func TestHasErrorNumber(t *testing.T) {
	assert.True(t, HasErrorNumber(tooEarly(), ErrLogTooEarly))
	assert.True(t, HasErrorNumber(tooEarly(), 3013))
	assert.False(t, HasErrorNumber(tooEarly(), ErrLogTooLate))
	assert.False(t, HasErrorNumber(assert.AnError, ErrLogTooEarly))
}

func TestParseLogLSN(t *testing.T) {
	seq, err := ParseLogLSN("0000002b:00000130:0001")
	require.NoError(t, err)
	assert.Equal(t, uint64(43_0000000304_00001), seq)
	_, err = ParseLogLSN("43:1")
	assert.Error(t, err)
}

func TestPossibleLossFollowsPrimaryCommitsAndCopies(t *testing.T) {
	p := setup(t)
	ctx := context.Background()
	require.NoError(t, p.ship.BackupLog(ctx)) // LSN 37000000010002000
	require.NoError(t, p.ship.CopyLogs(ctx))
	// The newest commit is at VLF 0x25 = 37, block 10: inside the copied backup.
	p.a.mu.Lock()
	p.a.lastCommit = []any{"00000025:000000000a:0001", "2026/11/27 13:00:00:000"}
	p.a.mu.Unlock()
	st, err := p.ship.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(37_0000000010_00002), st.PrimaryLast.Seq)
	assert.False(t, st.PossibleLoss(), "commit LSN %d is inside the copied backup ending at %d", st.PrimaryLast.Seq, st.Copy.Seq)

	p.a.mu.Lock()
	p.a.lastCommit = []any{"00000025:0000ffff:0001", "2026/11/27 13:00:01:000"}
	p.a.mu.Unlock()
	st, _ = p.ship.Status(ctx)
	assert.True(t, st.PossibleLoss(), "commit %d after the copied backup %d", st.PrimaryLast.Seq, st.Copy.Seq)
	assert.Equal(t, "2026-11-27T13:00:01Z", st.PrimaryLast.CommitTime.Format(time.RFC3339))
}

// TestSwitchoverCallsAtCutoverWithTheOldPrimaryRestoring pins what the
// runbook's cutover fingerprint finds on SQL Server: the hook runs once,
// after the new primary is recovered and opened for writes, while the old
// primary is still RESTORING from its tail-log backup. The old side cannot
// be read then, so the fingerprint of the failback records an error and
// the cutover-fingerprint check says unknown for it (never pass). A
// switchover without the tail (a defect) rebuilds the old primary at once
// and does not call the hook: the failback keeps no SQL fingerprint, which
// the check reports as unknown too.
func TestSwitchoverCallsAtCutoverWithTheOldPrimaryRestoring(t *testing.T) {
	p := setup(t)
	ctx := context.Background()
	p.a.take()
	p.b.take()
	calls := 0
	var aState, bState string
	var bExecs []string
	require.NoError(t, p.ship.Switchover(ctx, topology.SwitchoverOptions{AtCutover: func(context.Context) {
		calls++
		p.a.mu.Lock()
		aState = p.a.state
		p.a.mu.Unlock()
		p.b.mu.Lock()
		bState, bExecs = p.b.state, append([]string(nil), p.b.execs...)
		p.b.mu.Unlock()
	}}))
	assert.Equal(t, 1, calls)
	assert.Equal(t, "RESTORING", aState, "the old primary cannot be read at the cutover")
	assert.Equal(t, "ONLINE", bState)
	require.NotEmpty(t, bExecs)
	assert.Contains(t, bExecs[len(bExecs)-1], "SET READ_WRITE", "the hook runs once the new primary is open for writes")

	p = setup(t)
	calls = 0
	require.NoError(t, p.ship.Switchover(ctx, topology.SwitchoverOptions{SkipFinalLogBackup: true,
		AtCutover: func(context.Context) { calls++ }}))
	assert.Zero(t, calls, "without the tail the old primary is rebuilt at once: no cutover to fingerprint")
}
