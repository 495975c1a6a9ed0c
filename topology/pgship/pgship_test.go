package pgship

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
)

const (
	a = topology.RegionA
	b = topology.RegionB
)

// newPair starts a pair in a temp dir and, at cleanup, closes it and checks
// that no process or port of it is left.
func newPair(t *testing.T, mod func(*Config)) *Pair {
	t.Helper()
	if err := BinDirAvailable(""); err != nil {
		t.Skip("skipping: PostgreSQL server binaries not found: ", err)
	}
	cfg := Config{WorkDir: t.TempDir(), Logf: t.Logf}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	p, err := New(ctx, cfg)
	require.NoError(t, err)
	t.Logf("pair up in %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { closeAndCheck(t, p) })
	return p
}

// closeAndCheck closes the pair and verifies that none of its processes
// remain (through /proc) and that its ports are free.
func closeAndCheck(t *testing.T, p *Pair) {
	t.Helper()
	pids := p.pids()
	require.NotEmpty(t, pids, "a running pair has processes")
	ports := []string{p.SQLAddr(a), p.SQLAddr(b), p.ShareAddr(a), p.ShareAddr(b)}
	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "Close is idempotent")
	for _, pid := range pids {
		if st, err := readStat(pid); err == nil && st.state != "Z" {
			t.Errorf("process %d of the pair is still alive after Close (state %s)", pid, st.state)
		}
	}
	marker := "bcdr-" + p.id + "-"
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.Contains(string(cmd), marker) {
			t.Errorf("process %s (%q) of the pair survived Close", e.Name(), cmd)
		}
	}
	for _, addr := range ports {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("port %s still in use after Close: %v", addr, err)
			continue
		}
		ln.Close()
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// connect opens an application connection to region r.
func connect(t *testing.T, p *Pair, r topology.RegionName) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN(p.SQLAddr(r)))
	require.NoError(t, err, "connect to region %s", r)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func execSQL(t *testing.T, p *Pair, r topology.RegionName, sql string, args ...any) {
	t.Helper()
	conn := connect(t, p, r)
	_, err := conn.Exec(testCtx(t), sql, args...)
	require.NoError(t, err, "region %s: %s", r, sql)
	conn.Close(context.Background())
}

// insertRows inserts ids from..to, one transaction each.
func insertRows(t *testing.T, p *Pair, r topology.RegionName, from, to int) {
	t.Helper()
	conn := connect(t, p, r)
	defer conn.Close(context.Background())
	for i := from; i <= to; i++ {
		_, err := conn.Exec(testCtx(t), "INSERT INTO ledger (id, note) VALUES ($1, $2)", i, "entry "+strconv.Itoa(i))
		require.NoError(t, err, "region %s: insert %d", r, i)
	}
}

// ids returns the set of ledger ids visible in region r.
func ids(t *testing.T, p *Pair, r topology.RegionName) map[int]bool {
	t.Helper()
	conn := connect(t, p, r)
	defer conn.Close(context.Background())
	rows, err := conn.Query(testCtx(t), "SELECT id FROM ledger")
	require.NoError(t, err)
	out := map[int]bool{}
	for rows.Next() {
		var id int
		require.NoError(t, rows.Scan(&id))
		out[id] = true
	}
	require.NoError(t, rows.Err())
	return out
}

// countRows counts ledger rows in region r (-1 while the table has not
// reached it).
func countRows(t *testing.T, p *Pair, r topology.RegionName) int {
	t.Helper()
	conn := connect(t, p, r)
	defer conn.Close(context.Background())
	var n int
	err := conn.QueryRow(testCtx(t), "SELECT count(*) FROM ledger").Scan(&n)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
		return -1
	}
	require.NoError(t, err)
	return n
}

// requireIDs checks that exactly the wanted ranges are present among ids
// 1..max, and names the missing and unexpected ones.
func requireIDs(t *testing.T, got map[int]bool, max int, present func(int) bool, what string) {
	t.Helper()
	var missing, extra []int
	for i := 1; i <= max; i++ {
		switch {
		case present(i) && !got[i]:
			missing = append(missing, i)
		case !present(i) && got[i]:
			extra = append(extra, i)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("%s: missing ids %v, unexpected ids %v", what, missing, extra)
	}
}

func between(lo, hi int) func(int) bool { return func(i int) bool { return i >= lo && i <= hi } }

func union(fs ...func(int) bool) func(int) bool {
	return func(i int) bool {
		for _, f := range fs {
			if f(i) {
				return true
			}
		}
		return false
	}
}

// ship runs one round of the three jobs and waits until the standby has
// replayed what was copied.
func ship(t *testing.T, p *Pair) topology.ShippingStatus {
	t.Helper()
	ctx := testCtx(t)
	require.NoError(t, p.BackupLog(ctx))
	require.NoError(t, p.CopyLogs(ctx))
	require.NoError(t, p.RestoreLogs(ctx))
	return waitRestored(t, p)
}

// waitRestored polls Status until the restore position reaches the copy
// position.
func waitRestored(t *testing.T, p *Pair) topology.ShippingStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := p.Status(testCtx(t))
		require.NoError(t, err)
		if st.Restore.Seq >= st.Copy.Seq {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("standby did not replay the copied logs: copy %s, restore %s", st.Copy.LSN, st.Restore.LSN)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func createLedger(t *testing.T, p *Pair, r topology.RegionName) {
	execSQL(t, p, r, "CREATE TABLE ledger (id int PRIMARY KEY, note text NOT NULL, pad text)")
}

func inRecovery(t *testing.T, p *Pair, r topology.RegionName) bool {
	conn := connect(t, p, r)
	defer conn.Close(context.Background())
	var rec bool
	require.NoError(t, conn.QueryRow(testCtx(t), "SELECT pg_is_in_recovery()").Scan(&rec))
	return rec
}

func TestShipRoundTrip(t *testing.T) {
	p := newPair(t, nil)
	assert.Equal(t, "postgres", p.Engine())
	createLedger(t, p, a)
	insertRows(t, p, a, 1, 10)

	st0, err := p.Status(testCtx(t))
	require.NoError(t, err)
	assert.True(t, st0.PossibleLoss(), "commits not shipped yet: primary last %d, copy %d", st0.PrimaryLast.Seq, st0.Copy.Seq)

	start := time.Now()
	st := ship(t, p)
	t.Logf("log shipping round trip (backup, copy, restore, replayed): %s", time.Since(start).Round(time.Millisecond))
	assert.Equal(t, a, st.Primary)
	assert.Equal(t, b, st.Secondary)
	assert.True(t, st.Shipping)
	assert.Greater(t, st.Backup.Seq, st0.Backup.Seq, "backup position advances")
	assert.Equal(t, st.Backup.Seq, st.Copy.Seq, "copy reached the backup")
	assert.GreaterOrEqual(t, st.Restore.Seq, st.Copy.Seq, "restore reached the copy")
	assert.False(t, st.Backup.CommitTime.IsZero())
	assert.True(t, st.Restore.CommitTime.Equal(st.Backup.CommitTime), "restored commit %s = backed-up commit %s", st.Restore.CommitTime, st.Backup.CommitTime)
	assert.True(t, st.Copy.CommitTime.Equal(st.Backup.CommitTime))
	assert.True(t, st.PrimaryLast.CommitTime.Equal(st.Backup.CommitTime))
	assert.False(t, st.PossibleLoss(), "everything shipped: primary last %d, copy %d", st.PrimaryLast.Seq, st.Copy.Seq)
	requireIDs(t, ids(t, p, b), 10, between(1, 10), "standby after shipping")

	// A log backup with nothing new written is skipped.
	require.NoError(t, p.BackupLog(testCtx(t)))
	st2, _ := p.Status(testCtx(t))
	assert.Equal(t, st.Backup.Seq, st2.Backup.Seq, "idle log backup adds no segment")
	end, err := p.backupLocked(testCtx(t))
	require.NoError(t, err)
	assert.Equal(t, st.Backup.Seq, end, "an idle log backup's end is the last archived segment's end")

	insertRows(t, p, a, 11, 20)
	st3, _ := p.Status(testCtx(t))
	assert.True(t, st3.PossibleLoss(), "new commits not yet copied")
	st4 := ship(t, p)
	assert.Greater(t, st4.Restore.Seq, st.Restore.Seq)
	assert.True(t, st4.Restore.CommitTime.After(st.Restore.CommitTime))
	requireIDs(t, ids(t, p, b), 20, between(1, 20), "standby after second round")
	assert.Zero(t, st4.BackupErrors)
	assert.Zero(t, st4.CopyErrors)
}

func TestFailoverResyncSwitchback(t *testing.T) {
	p := newPair(t, nil)
	ctx := testCtx(t)
	createLedger(t, p, a)
	insertRows(t, p, a, 1, 20)
	ship(t, p)
	// Written after the last copy: a log backup takes them, but it never
	// crosses the WAN.
	insertRows(t, p, a, 21, 30)
	require.NoError(t, p.BackupLog(ctx))

	require.NoError(t, p.Kill(a))
	assert.False(t, p.Running(a))
	start := time.Now()
	pos, err := p.Failover(ctx)
	require.NoError(t, err)
	t.Logf("failover duration: %s", time.Since(start).Round(time.Millisecond))
	assert.NotZero(t, pos.Seq)
	assert.False(t, pos.CommitTime.IsZero())
	st, _ := p.Status(ctx)
	assert.Equal(t, b, st.Primary)
	assert.False(t, st.Shipping)
	requireIDs(t, ids(t, p, b), 30, between(1, 20), "new primary after failover (21-30 were never copied)")

	// The new primary takes writes; the old one comes back diverged.
	insertRows(t, p, b, 101, 110)
	require.NoError(t, p.Start(ctx, a))
	assert.False(t, inRecovery(t, p, a), "region a restarts as the (diverged) primary it was")
	insertRows(t, p, a, 999, 999)

	start = time.Now()
	require.NoError(t, p.Resync(ctx))
	t.Logf("resync duration: %s", time.Since(start).Round(time.Millisecond))
	st, _ = p.Status(ctx)
	assert.True(t, st.Shipping)
	assert.Equal(t, b, st.Primary)
	assert.True(t, inRecovery(t, p, a))
	insertRows(t, p, b, 111, 120)
	ship(t, p)
	requireIDs(t, ids(t, p, a), 1000, union(between(1, 20), between(101, 120)), "old primary after resync and reverse shipping")

	// Failback: planned, with the final log backup; nothing is lost.
	insertRows(t, p, b, 121, 130)
	start = time.Now()
	require.NoError(t, p.Switchover(ctx, topology.SwitchoverOptions{}))
	t.Logf("switchover duration: %s", time.Since(start).Round(time.Millisecond))
	st, _ = p.Status(ctx)
	assert.Equal(t, a, st.Primary)
	assert.Equal(t, b, st.Secondary)
	assert.True(t, st.Shipping)
	requireIDs(t, ids(t, p, a), 1000, union(between(1, 20), between(101, 130)), "region a after switchover")
	insertRows(t, p, a, 131, 131) // the fence was lifted
	assert.True(t, inRecovery(t, p, b))
	ship(t, p)
	requireIDs(t, ids(t, p, b), 1000, union(between(1, 20), between(101, 131)), "region b as secondary again")
}

func TestSwitchoverSkippingFinalLogBackupLosesTail(t *testing.T) {
	p := newPair(t, nil)
	ctx := testCtx(t)
	createLedger(t, p, a)
	insertRows(t, p, a, 1, 10)
	ship(t, p)
	insertRows(t, p, a, 11, 15)
	start := time.Now()
	require.NoError(t, p.Switchover(ctx, topology.SwitchoverOptions{SkipFinalLogBackup: true}))
	t.Logf("switchover (final log backup skipped) duration: %s", time.Since(start).Round(time.Millisecond))
	requireIDs(t, ids(t, p, b), 15, between(1, 10), "region b after a switchover without the final log backup")
	insertRows(t, p, b, 16, 16)
	st, _ := p.Status(ctx)
	assert.Equal(t, b, st.Primary)
	assert.True(t, st.Shipping)
	assert.True(t, inRecovery(t, p, a))
}

func TestSwitchoverWithFinalLogBackupLosesNothing(t *testing.T) {
	p := newPair(t, nil)
	ctx := testCtx(t)
	createLedger(t, p, a)
	insertRows(t, p, a, 1, 10)
	ship(t, p)
	insertRows(t, p, a, 11, 15)
	start := time.Now()
	require.NoError(t, p.Switchover(ctx, topology.SwitchoverOptions{}))
	t.Logf("switchover duration: %s", time.Since(start).Round(time.Millisecond))
	requireIDs(t, ids(t, p, b), 15, between(1, 15), "region b after a switchover with the final log backup")
	insertRows(t, p, b, 16, 16)
}

func TestCopyThroughDeadWANFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	ln.Close()
	p := newPair(t, func(c *Config) {
		c.WANDial = func(kind string, to topology.RegionName) string {
			if kind == "share" {
				return dead
			}
			return ""
		}
	})
	ctx := testCtx(t)
	createLedger(t, p, a)
	insertRows(t, p, a, 1, 3)
	require.NoError(t, p.BackupLog(ctx))
	err = p.CopyLogs(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), dead)
	st, _ := p.Status(ctx)
	assert.Equal(t, 1, st.CopyErrors)
	assert.Zero(t, st.Copy.Seq, "nothing reached the share")
	require.Error(t, p.CopyLogs(ctx))
	st, _ = p.Status(ctx)
	assert.Equal(t, 2, st.CopyErrors)
	assert.True(t, st.PossibleLoss())
	// The engine says why its secondary is behind: the copy's failure, the
	// files waiting in the primary's archive, the standby's replay position.
	ex := p.Explain(ctx)
	assert.Contains(t, ex, "copy failing (2 times)")
	assert.Contains(t, ex, dead)
	assert.Contains(t, ex, "archive of a: ")
	assert.Contains(t, ex, "it has replayed to ")
	assert.NotContains(t, ex, "archive of a: empty")
}

func TestFenceMakesPrimaryReadOnly(t *testing.T) {
	p := newPair(t, nil)
	ctx := testCtx(t)
	createLedger(t, p, a)
	old := connect(t, p, a)
	require.NoError(t, p.Fence(ctx))
	_, err := old.Exec(ctx, "INSERT INTO ledger (id, note) VALUES (1, 'x')")
	require.Error(t, err, "the fence terminates existing sessions")
	conn := connect(t, p, a)
	_, err = conn.Exec(ctx, "INSERT INTO ledger (id, note) VALUES (1, 'x')")
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "want a read-only error, got %v", err)
	assert.Equal(t, "25006", pgErr.Code, "read_only_sql_transaction")
}

func TestRunShipsOnSchedule(t *testing.T) {
	// 6 s of service time every 100 ms of wall time.
	p := newPair(t, func(c *Config) {
		c.Clock = clock.New(60)
		c.BackupInterval, c.CopyInterval, c.RestoreInterval = 6*time.Second, 6*time.Second, 6*time.Second
	})
	createLedger(t, p, a)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.Run(ctx)
	insertRows(t, p, a, 1, 50)
	deadline := time.Now().Add(20 * time.Second)
	for countRows(t, p, b) < 50 {
		if time.Now().After(deadline) {
			st, _ := p.Status(context.Background())
			t.Fatalf("rows did not reach the standby on schedule: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, _ := p.Status(context.Background())
	assert.Zero(t, st.BackupErrors)
	assert.Zero(t, st.CopyErrors)
}

// A segment that filled up on its own (no log backup closed it) ends with a
// record continued in the next segment: failover must notice that the
// standby cannot go further without waiting for a deadline.
func TestFailoverAfterSegmentsFilledUp(t *testing.T) {
	p := newPair(t, nil)
	ctx := testCtx(t)
	createLedger(t, p, a)
	conn := connect(t, p, a)
	pad := strings.Repeat("x", 1500)  // stays inline, uncompressed: 1.5 kB of WAL a row
	const batches, perBatch = 30, 100 // about 4.5 MB of WAL, in 30 transactions
	for i := 0; i < batches; i++ {
		_, err := conn.Exec(ctx, "INSERT INTO ledger (id, note, pad) SELECT g, 'bulk', $2 || g FROM generate_series($1::int, $1::int + $3 - 1) g",
			i*perBatch+1, pad, perBatch)
		require.NoError(t, err)
	}
	// Wait until the archiver has delivered the filled-up segments, then
	// copy and stage them without a log backup.
	admin, err := p.admin(ctx, p.regions[a])
	require.NoError(t, err)
	var endText string
	require.NoError(t, admin.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&endText))
	admin.Close(ctx)
	end, err := parseLSN(endText)
	require.NoError(t, err)
	require.NotZero(t, end%segSize, "the bulk load ends inside a segment")
	deadline := time.Now().Add(20 * time.Second)
	for {
		require.NoError(t, p.CopyLogs(ctx))
		st, _ := p.Status(ctx)
		if st.Copy.Seq == end-end%segSize {
			t.Logf("copied the filled-up segments up to %s; the load ended at %s", st.Copy.LSN, endText)
			break
		}
		require.True(t, time.Now().Before(deadline), "no filled-up segment archived")
		time.Sleep(50 * time.Millisecond)
	}
	require.NoError(t, p.RestoreLogs(ctx))
	require.NoError(t, p.Kill(a))
	start := time.Now()
	pos, err := p.Failover(ctx)
	require.NoError(t, err)
	took := time.Since(start)
	t.Logf("failover after filled-up segments: %s, restored to %s", took.Round(time.Millisecond), pos.LSN)
	assert.Less(t, took, 10*time.Second)
	assert.Less(t, pos.Seq, end-end%segSize, "the last copied segment ends inside a record: replay stops short of its end")
	got := ids(t, p, b)
	n := len(got)
	require.Greater(t, n, 0)
	require.Zero(t, n%perBatch, "whole transactions only")
	requireIDs(t, got, batches*perBatch, between(1, n), fmt.Sprintf("a prefix of %d rows", n))
}

// TestNothingOutlivesAKilledHarness runs a pair in a child process (this
// test binary again), kills that process with SIGKILL, and checks that every
// postgres process of the pair dies with it.
func TestNothingOutlivesAKilledHarness(t *testing.T) {
	if dir := os.Getenv("PGSHIP_HELPER_WORKDIR"); dir != "" {
		helperHarness(dir)
		return
	}
	if err := BinDirAvailable(""); err != nil {
		t.Skip("skipping: PostgreSQL server binaries not found: ", err)
	}
	cmd := osexec.Command(os.Args[0], "-test.run=^TestNothingOutlivesAKilledHarness$", "-test.v")
	cmd.Env = append(os.Environ(), "PGSHIP_HELPER_WORKDIR="+t.TempDir())
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	var pids []int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
			for _, f := range strings.Fields(rest) {
				pid, err := strconv.Atoi(f)
				require.NoError(t, err)
				pids = append(pids, pid)
			}
			break
		}
	}
	require.NotEmpty(t, pids, "the helper harness did not start a pair")
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for {
			st, err := readStat(pid)
			if err != nil || st.state == "Z" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("postgres process %d (state %s) outlived the killed harness", pid, st.state)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("all %d postgres processes of the killed harness's pair are gone", len(pids))
	// Their shared memory interlock segments are left over; the next pair
	// sweeps them.
	u, err := lookupOSUser()
	require.NoError(t, err)
	uid := u.uid
	if uid < 0 {
		uid = os.Getuid()
	}
	swept := sweepOrphanedShm(uid)
	t.Logf("swept %d orphaned interlock segment(s)", swept)
	b, err := os.ReadFile("/proc/sysvipc/shm")
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 4 {
			for _, pid := range pids {
				if f[4] == strconv.Itoa(pid) {
					t.Errorf("shared memory segment %s of the killed pair (creator %d) was not swept", f[1], pid)
				}
			}
		}
	}
}

func helperHarness(dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := New(ctx, Config{WorkDir: dir})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	var s []string
	for _, pid := range p.pids() {
		s = append(s, strconv.Itoa(pid))
	}
	fmt.Println("READY " + strings.Join(s, " "))
	time.Sleep(time.Minute) // until killed
	os.Exit(1)
}

func TestKillAndStartKeepRoles(t *testing.T) {
	p := newPair(t, nil)
	ctx := testCtx(t)
	createLedger(t, p, a)
	insertRows(t, p, a, 1, 5)
	st0 := ship(t, p)

	// The standby crashes: shipping into its share goes on; it catches up
	// after a restart.
	require.NoError(t, p.Kill(b))
	assert.False(t, p.Running(b))
	st, err := p.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, st0.Restore, st.Restore, "last known restore position while the standby is down")
	insertRows(t, p, a, 6, 10)
	require.NoError(t, p.BackupLog(ctx))
	require.NoError(t, p.CopyLogs(ctx))
	require.NoError(t, p.RestoreLogs(ctx))
	require.NoError(t, p.Start(ctx, b))
	assert.True(t, inRecovery(t, p, b), "the standby restarts as a standby")
	waitRestored(t, p)
	requireIDs(t, ids(t, p, b), 10, between(1, 10), "standby after its restart")

	// The primary crashes: log backups fail and are counted; Status stays
	// quick and reports what is known.
	require.NoError(t, p.Kill(a))
	require.Error(t, p.BackupLog(ctx))
	var took []time.Duration
	for i := 0; i < 20; i++ {
		start := time.Now()
		st, err = p.Status(ctx)
		took = append(took, time.Since(start))
		require.NoError(t, err)
	}
	t.Logf("Status while the primary is down: median %s", median(took))
	assert.Equal(t, 1, st.BackupErrors)
	assert.Equal(t, a, st.Primary)
	assert.NotZero(t, st.Backup.Seq)
	require.NoError(t, p.Start(ctx, a))
	assert.False(t, inRecovery(t, p, a), "the primary restarts as the primary")
	insertRows(t, p, a, 11, 12)
	took = took[:0]
	for i := 0; i < 20; i++ {
		start := time.Now()
		_, err = p.Status(ctx)
		took = append(took, time.Since(start))
		require.NoError(t, err)
	}
	t.Logf("Status with both servers up: median %s", median(took))
	ship(t, p)
	requireIDs(t, ids(t, p, b), 12, between(1, 12), "standby after the primary's restart")
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// A failure half way through New (here: the base backup for the standby)
// releases what was already started: the primary's processes are gone.
func TestNewReleasesEverythingOnFailure(t *testing.T) {
	realBin, err := findBinDir("")
	if err != nil {
		t.Skip("skipping: PostgreSQL server binaries not found: ", err)
	}
	root := t.TempDir()
	require.NoError(t, os.Chmod(root, 0o755))
	bin := root + "/bin"
	require.NoError(t, os.Mkdir(bin, 0o755))
	for _, b := range []string{"postgres", "initdb"} {
		require.NoError(t, os.Symlink(realBin+"/"+b, bin+"/"+b))
	}
	require.NoError(t, os.WriteFile(bin+"/pg_basebackup", []byte("#!/bin/sh\necho 'base backup refused' >&2\nexit 1\n"), 0o755))
	work := root + "/work"
	ctx := testCtx(t)
	p, err := New(ctx, Config{WorkDir: work, BinDir: bin, Logf: t.Logf})
	require.Error(t, err)
	assert.Nil(t, p)
	assert.Contains(t, err.Error(), "base backup refused")
	for _, pid := range withArg(work) {
		cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		t.Errorf("process %d (%q) survived the failed New", pid, cmd)
	}
}

// Roles can change again and again: a -> b unplanned, b -> a unplanned after
// a resync (timeline 3), then a planned switch back to b.
func TestRepeatedRoleChanges(t *testing.T) {
	p := newPair(t, nil)
	ctx := testCtx(t)
	createLedger(t, p, a)
	insertRows(t, p, a, 1, 10)
	ship(t, p)
	require.NoError(t, p.Kill(a))
	_, err := p.Failover(ctx)
	require.NoError(t, err)
	require.NoError(t, p.Resync(ctx))
	insertRows(t, p, b, 11, 20)
	ship(t, p)
	insertRows(t, p, b, 21, 25) // never shipped
	require.NoError(t, p.Kill(b))
	_, err = p.Failover(ctx)
	require.NoError(t, err)
	requireIDs(t, ids(t, p, a), 25, between(1, 20), "region a after the second failover")
	insertRows(t, p, a, 26, 30)
	require.NoError(t, p.Resync(ctx)) // region b is down: rebuilt and started
	assert.True(t, p.Running(b))
	insertRows(t, p, a, 31, 35)
	require.NoError(t, p.Switchover(ctx, topology.SwitchoverOptions{}))
	requireIDs(t, ids(t, p, b), 35, union(between(1, 20), between(26, 35)), "region b after the switch")
	st, _ := p.Status(ctx)
	assert.Equal(t, b, st.Primary)
	assert.True(t, st.Shipping)
}

// The WAN fails while the jobs run on their schedule: copies fail and are
// counted; once it is back, shipping catches up on its own.
func TestRunRecoversFromWANOutage(t *testing.T) {
	var wanDown atomic.Bool
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	ln.Close()
	p := newPair(t, func(c *Config) {
		c.Clock = clock.New(60)
		c.BackupInterval, c.CopyInterval, c.RestoreInterval = 6*time.Second, 6*time.Second, 6*time.Second
		c.WANDial = func(kind string, to topology.RegionName) string {
			if wanDown.Load() {
				return dead
			}
			return ""
		}
	})
	createLedger(t, p, a)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wanDown.Store(true)
	p.Run(ctx)
	insertRows(t, p, a, 1, 20)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := p.Status(ctx)
		if st.CopyErrors >= 3 {
			assert.True(t, st.PossibleLoss())
			break
		}
		require.True(t, time.Now().Before(deadline), "copies through the dead WAN did not fail: %+v", st)
		time.Sleep(20 * time.Millisecond)
	}
	assert.Equal(t, -1, countRows(t, p, b), "nothing crossed the dead WAN")
	wanDown.Store(false)
	for countRows(t, p, b) < 20 {
		require.True(t, time.Now().Before(deadline.Add(10*time.Second)), "shipping did not catch up after the WAN came back")
		time.Sleep(50 * time.Millisecond)
	}
	st, _ := p.Status(ctx)
	assert.False(t, st.PossibleLoss())
}

// With BackgroundRebuild, Switchover returns once the new primary takes
// writes; the old primary becomes its secondary shortly after.
func TestSwitchoverWithBackgroundRebuild(t *testing.T) {
	p := newPair(t, func(c *Config) { c.BackgroundRebuild = true })
	ctx := testCtx(t)
	createLedger(t, p, a)
	insertRows(t, p, a, 1, 10)
	ship(t, p)
	insertRows(t, p, a, 11, 15)
	start := time.Now()
	require.NoError(t, p.Switchover(ctx, topology.SwitchoverOptions{}))
	t.Logf("switchover (background rebuild) duration: %s", time.Since(start).Round(time.Millisecond))
	insertRows(t, p, b, 16, 16) // writable at once
	requireIDs(t, ids(t, p, b), 16, between(1, 16), "region b right after the switch")
	require.NoError(t, p.Resync(ctx)) // waits for the background rebuild
	t.Logf("switchover until shipping again: %s", time.Since(start).Round(time.Millisecond))
	st, _ := p.Status(ctx)
	assert.Equal(t, b, st.Primary)
	assert.True(t, st.Shipping)
	assert.True(t, inRecovery(t, p, a))
	ship(t, p)
	requireIDs(t, ids(t, p, a), 16, between(1, 16), "region a as the new secondary")
}

// Close during a background rebuild stops it and leaves nothing behind.
func TestCloseDuringBackgroundRebuild(t *testing.T) {
	p := newPair(t, func(c *Config) { c.BackgroundRebuild = true })
	ctx := testCtx(t)
	createLedger(t, p, a)
	require.NoError(t, p.Switchover(ctx, topology.SwitchoverOptions{}))
	// closeAndCheck (cleanup) closes while the rebuild is under way.
}
