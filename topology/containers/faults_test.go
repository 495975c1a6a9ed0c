package containers

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bcdr-harness/bcdr/topology"
)

// healthy tells whether region r's load balancer sends to instance id.
func healthy(e *Env, r topology.RegionName, id string) bool {
	e.regions[r].LB.ProbeNow(context.Background())
	return slices.Contains(e.regions[r].LB.Healthy(), id)
}

func TestContainerFaults(t *testing.T) {
	requireDocker(t)
	e := up(t, testSpec(), 100)
	ctx := context.Background()
	a := e.regions[topology.RegionA]
	in := a.AOS[0]
	id := in.ID()
	require.True(t, in.Alive())
	require.Eventually(t, func() bool { return healthy(e, "a", id) }, 10*time.Second, 100*time.Millisecond)

	// Each subtest puts the instance back even when it fails half way, so
	// one failure does not fail the subtests after it.
	t.Run("pause and unpause", func(t *testing.T) {
		require.NoError(t, in.Freeze(ctx))
		defer func() { _ = in.Thaw(ctx) }()
		require.False(t, in.Alive(), "a paused container is not alive")
		require.Eventually(t, func() bool { return !healthy(e, "a", id) }, 10*time.Second, 100*time.Millisecond)
		require.NoError(t, in.Thaw(ctx))
		require.True(t, in.Alive())
		require.Eventually(t, func() bool { return healthy(e, "a", id) }, 10*time.Second, 100*time.Millisecond)
	})

	t.Run("kill and restart", func(t *testing.T) {
		require.NoError(t, in.Kill(ctx))
		defer func() { _ = in.Restart(ctx) }()
		require.False(t, in.Alive())
		// The load balancer takes an instance out after
		// lb.UnhealthyThreshold failed probes in a row, not after one.
		require.Eventually(t, func() bool { return !healthy(e, "a", id) }, 10*time.Second, 100*time.Millisecond)
		// The other instance still serves the region.
		st, err := postJournal(e.Router().URL(), "while-one-is-down")
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, st)
		require.NoError(t, in.Restart(ctx))
		require.Eventually(t, func() bool { return healthy(e, "a", id) }, 20*time.Second, 100*time.Millisecond)
	})

	t.Run("network disconnect and reconnect", func(t *testing.T) {
		require.NoError(t, in.Disconnect(ctx))
		defer func() { _ = in.Reconnect(ctx) }()
		require.Eventually(t, func() bool { return !healthy(e, "a", id) }, 10*time.Second, 100*time.Millisecond,
			"an instance cut off its region's network cannot reach SQL and fails its health check")
		require.NoError(t, in.Reconnect(ctx))
		require.Eventually(t, func() bool { return healthy(e, "a", id) }, 20*time.Second, 100*time.Millisecond)
	})

	t.Run("WAN cut stops the log copy", func(t *testing.T) {
		wan, ok := e.Links().Get(topology.LinkWAN)
		require.True(t, ok)
		require.NoError(t, wan.Cut())
		write(t, e, "wan", 3) // the primary region keeps serving
		st, err := postInvoice(e.Router().URL(), "inv-wan")
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, st)
		require.NoError(t, e.SQL().BackupLog(ctx))
		require.Error(t, e.SQL().CopyLogs(ctx))
		require.Error(t, e.Blob().SyncNow(ctx), "blob replication crosses the WAN too")
		ship, _ := e.SQL().Status(ctx)
		require.Positive(t, ship.CopyErrors)
		repl, _ := e.Blob().Status(ctx)
		require.Equal(t, 1, repl.Pending, "the invoice document waits on the WAN")
		require.NoError(t, wan.Restore())
		require.NoError(t, e.SQL().CopyLogs(ctx))
		require.NoError(t, e.Blob().SyncNow(ctx))
	})

	t.Run("aos-sql link cut fails writes", func(t *testing.T) {
		l, ok := e.Links().Get(topology.LinkName(topology.LinkAOSSQL, "a"))
		require.True(t, ok)
		require.NoError(t, l.Cut())
		st, err := postJournal(e.Router().URL(), "no-sql")
		if err == nil {
			require.NotEqual(t, http.StatusCreated, st)
		}
		require.NoError(t, l.Reset())
		require.Eventually(t, func() bool {
			st, err := postJournal(e.Router().URL(), "sql-back")
			return err == nil && (st == http.StatusCreated || st == http.StatusOK)
		}, 20*time.Second, 200*time.Millisecond)
	})

	t.Run("latency toxic on the client link", func(t *testing.T) {
		l, ok := e.Links().Get(topology.LinkName(topology.LinkClient, "a"))
		require.True(t, ok)
		require.NoError(t, l.AddToxic("slow", "latency", "downstream", 1, map[string]any{"latency": 300}))
		t0 := time.Now()
		_, err := postJournal(e.Router().URL(), "slow")
		require.NoError(t, err)
		require.GreaterOrEqual(t, time.Since(t0), 300*time.Millisecond)
		require.NoError(t, l.Reset())
	})

	require.ElementsMatch(t, []string{"aos-blob-a", "aos-blob-b", "aos-sql-a", "aos-sql-b", "client-a", "client-b", "wan"}, e.Links().Names())
}

// Every container-side link tells the harness where its proxies are, and
// bytes really cross them: a cut link refuses, a restored one answers.
func TestLinksExposeProxies(t *testing.T) {
	requireDocker(t)
	e := up(t, testSpec(), 100)
	wan, _ := e.Links().Get(topology.LinkWAN)
	pl, ok := wan.(interface{ Proxies() map[string]string })
	require.True(t, ok, "the WAN link lists its proxies")
	addrs := pl.Proxies()
	require.Contains(t, addrs, "blob-b")
	require.Contains(t, addrs, "share-a")
	get := func() error {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addrs["share-a"] + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	require.NoError(t, get(), "region A's log share answers across the WAN")
	require.NoError(t, wan.Cut())
	require.Error(t, get(), "nothing crosses a cut WAN")
	require.NoError(t, wan.Restore())
	require.Eventually(t, func() bool { return get() == nil }, 5*time.Second, 100*time.Millisecond)
}
