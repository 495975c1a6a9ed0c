package containers

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
)

// requireDocker skips the test, with one line, when Docker or the local
// images are not there.
func requireDocker(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("containers tests bring up Docker environments; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := DockerAvailable(ctx); err != nil {
		t.Skipf("Docker is not reachable (%v); the containers provider needs a Docker engine", err)
	}
	t.Setenv("BCDR_LOCAL_IMAGES", os.Getenv("BCDR_LOCAL_IMAGES"))
	if os.Getenv("BCDR_LOCAL_IMAGES") == "" {
		os.Setenv("BCDR_LOCAL_IMAGES", "1")
	}
	if miss := MissingImages(ctx, ImagesFromEnv()); len(miss) > 0 {
		t.Skipf("images %v are not present; build them with: BCDR_LOCAL_IMAGES=1 scripts/build-images.sh", miss)
	}
}

func testSpec() topology.Spec {
	s := topology.DefaultSpec()
	s.Provider = Name
	s.InstancesPerRegion = 2
	s.FaultDomains = 2
	return s
}

// up brings an environment up and registers its cleanup, which also checks
// that nothing of the run is left in Docker.
func up(t *testing.T, spec topology.Spec, scale float64) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t0 := time.Now()
	e, err := Up(ctx, spec, clock.New(scale))
	require.NoError(t, err)
	t.Logf("environment %s up in %s", e.RunID(), time.Since(t0).Round(time.Millisecond))
	t.Cleanup(func() {
		t0 := time.Now()
		require.NoError(t, e.Close(context.Background()))
		t.Logf("closed in %s", time.Since(t0).Round(time.Millisecond))
		c, n, v, err := Leftovers(context.Background(), e.RunID())
		require.NoError(t, err)
		require.Zero(t, c+n+v, "left behind: %d containers, %d networks, %d volumes", c, n, v)
		_, err = os.Stat(e.workDir)
		require.True(t, os.IsNotExist(err), "work dir %s left behind", e.workDir)
	})
	return e
}

func TestUpAndClose(t *testing.T) {
	requireDocker(t)
	e := up(t, testSpec(), 100)
	require.Len(t, e.Region(topology.RegionA).Instances(), 2)
	st, err := e.SQL().Status(context.Background())
	require.NoError(t, err)
	t.Logf("shipping status: %+v", st)
}
