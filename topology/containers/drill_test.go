package containers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/aos"
	"github.com/bcdr-harness/bcdr/topology/appdb"
)

func postJournal(url, key string) (int, error) {
	body, _ := json.Marshal(aos.JournalRequest{Key: key, Lines: []appdb.Line{{Account: "cash", Debit: 100}, {Account: "revenue", Credit: 100}}})
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post(url+"/journal", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func postInvoice(url, key string) (int, error) {
	body, _ := json.Marshal(aos.InvoiceRequest{Key: key, Amount: 4200, Document: []byte("invoice " + key)})
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post(url+"/invoices", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// write posts entries through the front door and returns the keys acknowledged.
func write(t *testing.T, e *Env, prefix string, n int) []string {
	t.Helper()
	var ok []string
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("%s-%d", prefix, i)
		st, err := postJournal(e.Router().URL(), key)
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, st, "journal %s", key)
		ok = append(ok, key)
	}
	return ok
}

// TestRegionDrill runs the mechanism of a region drill on containers:
// writes, a log-shipping round, a power loss of region A, failover to B,
// writes in B, region A back, resync, and a planned switchover (with the
// tail) back to A, checking the surviving data at each step.
func TestRegionDrill(t *testing.T) {
	requireDocker(t)
	e := up(t, testSpec(), 100)
	ctx := context.Background()
	sql, blob := e.SQL(), e.Blob()

	shipped := write(t, e, "before", 20)
	st, err := postInvoice(e.Router().URL(), "inv-before")
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, st)
	require.NoError(t, sql.BackupLog(ctx))
	// The log backup is in the backup directory once archive_command has
	// run (its own process): copy and restore until region B has it.
	require.Eventually(t, func() bool {
		if sql.CopyLogs(ctx) != nil || sql.RestoreLogs(ctx) != nil {
			return false
		}
		s, err := e.Snapshot(ctx, topology.RegionB)
		return err == nil && s.Has(shipped[len(shipped)-1])
	}, 20*time.Second, 100*time.Millisecond, "region B restores the log backup taken before the outage")
	require.NoError(t, blob.SyncNow(ctx))
	lost := write(t, e, "stranded", 5) // never backed up: lost with region A

	t0 := time.Now()
	require.NoError(t, e.Region(topology.RegionA).Stop(ctx))
	require.False(t, e.Region(topology.RegionA).Up())
	_, err = postJournal(e.Region(topology.RegionA).Endpoint(), "refused")
	require.Error(t, err, "region A's load balancer is gone")

	pos, err := sql.Failover(ctx)
	require.NoError(t, err)
	require.NoError(t, blob.Failover(ctx))
	require.NoError(t, e.Router().SwitchTo(topology.RegionB))
	t.Logf("failover in %s, restored to %s (commit %s)", time.Since(t0).Round(time.Millisecond), pos.LSN, pos.CommitTime.Format(time.RFC3339Nano))
	require.NoError(t, e.regions[topology.RegionB].waitHealthy(ctx, 30*time.Second))
	during := write(t, e, "failed-over", 10)

	snap, err := e.Snapshot(ctx, topology.RegionB)
	require.NoError(t, err)
	for _, k := range append(shipped, during...) {
		require.True(t, snap.Has(k), "region B has %s", k)
	}
	for _, k := range lost {
		require.False(t, snap.Has(k), "region B cannot have %s: it never left region A", k)
	}
	require.Contains(t, snap.Objects, aos.ObjectKey("inv-before"), "document replicated before the outage")

	// Failback: region A returns, is rebuilt from B, then a planned switch.
	t1 := time.Now()
	require.NoError(t, e.Region(topology.RegionA).Start(ctx))
	require.NoError(t, sql.Resync(ctx))
	require.NoError(t, blob.Resync(ctx))
	tail := write(t, e, "tail", 5) // only the final log backup carries these
	require.NoError(t, e.Router().Drain())
	require.NoError(t, sql.Switchover(ctx, topology.SwitchoverOptions{}))
	require.NoError(t, blob.Switchover(ctx))
	require.NoError(t, e.Router().SwitchTo(topology.RegionA))
	t.Logf("failback in %s", time.Since(t1).Round(time.Millisecond))
	require.NoError(t, e.regions[topology.RegionA].waitHealthy(ctx, 30*time.Second))
	after := write(t, e, "after", 5)

	snap, err = e.Snapshot(ctx, topology.RegionA)
	require.NoError(t, err)
	for _, k := range append(append(append(shipped, during...), tail...), after...) {
		require.True(t, snap.Has(k), "region A has %s after failback", k)
	}
	// The switchover rebuilds region B as the standby in the background;
	// Resync waits for that rebuild (and would redo a failed one).
	require.NoError(t, sql.Resync(ctx))
	status, err := sql.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, topology.RegionA, status.Primary)
	require.True(t, status.Shipping)

	// Shipping runs again A to B.
	require.NoError(t, sql.BackupLog(ctx))
	require.NoError(t, sql.CopyLogs(ctx))
	require.NoError(t, sql.RestoreLogs(ctx))
	require.Eventually(t, func() bool {
		s, err := e.Snapshot(ctx, topology.RegionB)
		return err == nil && s.Has(after[len(after)-1])
	}, 20*time.Second, 200*time.Millisecond, "region B follows region A again")
}
