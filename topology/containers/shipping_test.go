package containers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bcdr-harness/bcdr/topology"
)

// TestShippingKeepsUp: under a steady write load the scheduled jobs keep
// the standby within a few log backup intervals of the primary, and every
// job position moves forward.
func TestShippingKeepsUp(t *testing.T) {
	requireDocker(t)
	s := topology.DefaultSpec()
	s.Provider = Name
	s.InstancesPerRegion = 2
	e := up(t, s, 200) // log backup every 5m service = 1.5s wall
	ctx := context.Background()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = postJournal(e.Router().URL(), fmt.Sprintf("k-%d", i))
		}
	}()
	defer func() { close(stop); <-done }()
	first, err := e.SQL().Status(ctx)
	require.NoError(t, err)
	var worst time.Duration
	var last topology.ShippingStatus
	for i := 0; i < 25; i++ {
		time.Sleep(300 * time.Millisecond)
		last, err = e.SQL().Status(ctx)
		require.NoError(t, err)
		if l := last.Lag(time.Now()); l > worst {
			worst = l
		}
	}
	t.Logf("backup %s copy %s restore %s; worst restore lag %s wall", last.Backup.LSN, last.Copy.LSN, last.Restore.LSN, worst.Round(time.Millisecond))
	require.Greater(t, last.Backup.Seq, first.Backup.Seq, "log backups were taken")
	require.Greater(t, last.Copy.Seq, first.Copy.Seq, "log backups were copied")
	require.Greater(t, last.Restore.Seq, first.Restore.Seq, "log backups were restored")
	require.Less(t, worst, 3*e.clk.Wall(s.LogBackupInterval)+time.Second, "restore lag within three log backup intervals")
	require.Zero(t, last.BackupErrors+last.CopyErrors)
}
