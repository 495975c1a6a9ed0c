package containers_test

import (
	"context"
	"fmt"
	"log"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/containers"
)

// Bring the two-region environment up in Docker, lose region A, fail over
// to region B, and release everything. Needs a Docker engine and the local
// images (BCDR_LOCAL_IMAGES=1 scripts/build-images.sh).
func Example() {
	ctx := context.Background()
	spec := topology.DefaultSpec()
	spec.Provider = containers.Name // or BCDR_PROVIDER=containers with topology.Up
	spec.InstancesPerRegion = 2
	env, err := topology.Up(ctx, spec, clock.New(200))
	if err != nil {
		log.Fatal(err)
	}
	defer env.Close(ctx) // removes every container, network and volume of the run

	a := env.Region(topology.RegionA)
	if err := a.Stop(ctx); err != nil { // power loss: every container of region A killed
		log.Fatal(err)
	}
	pos, err := env.SQL().Failover(ctx) // restore what reached B, promote it
	if err != nil {
		log.Fatal(err)
	}
	_ = env.Blob().Failover(ctx)
	_ = env.Router().SwitchTo(topology.RegionB)
	fmt.Println("region B serves from log position", pos.LSN)
}

// Remove whatever a killed run left behind, as `bcdr clean` does.
func ExampleClean() {
	if err := containers.Clean(context.Background(), ""); err != nil {
		log.Fatal(err)
	}
}
