package pgship_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/pgship"
)

// A pair on a 60x clock: a 5-minute log backup interval is 5 wall seconds.
// The caller owns the work dir; Close leaves it in place.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "pgship-example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	pair, err := pgship.New(ctx, pgship.Config{
		WorkDir:        dir,
		Clock:          clock.New(60),
		BackupInterval: 5 * time.Minute, CopyInterval: time.Minute, RestoreInterval: time.Minute,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pair.Close()
	pair.Run(ctx) // the three jobs, until Close

	fmt.Println(pair.DSN(pair.SQLAddr(topology.RegionA))) // the application's database

	// ... region a is lost ...
	_ = pair.Kill(topology.RegionA)
	restored, _ := pair.Failover(ctx) // everything after restored is lost
	fmt.Println("restored up to", restored.LSN, "committed at", restored.CommitTime)

	// ... region a is back: reverse shipping, then a planned switch back.
	_ = pair.Start(ctx, topology.RegionA)
	_ = pair.Resync(ctx)
	_ = pair.Switchover(ctx, topology.SwitchoverOptions{})
}
