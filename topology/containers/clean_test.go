package containers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
)

// A network created while the teardown runs (a creation in flight when an
// interrupt came) is gone when CleanUntilGone returns; Clean's single
// pass, which the interrupt used to run twice 500 ms apart, misses it.
func TestCleanUntilGoneCatchesACreationInFlight(t *testing.T) {
	if testing.Short() {
		t.Skip("needs Docker; skipped with -short")
	}
	ctx := context.Background()
	if err := DockerAvailable(ctx); err != nil {
		t.Skipf("Docker is not reachable: %v", err)
	}
	cli, err := docker(ctx)
	require.NoError(t, err)
	runID := fmt.Sprintf("clean-test-%d", time.Now().UnixNano())
	labels := map[string]string{LabelRun: runID, LabelCreator: "bcdr"}
	create := func(name string) {
		_, err := cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Labels: labels})
		require.NoError(t, err)
	}
	t.Cleanup(func() { _ = Clean(context.Background(), runID) })
	create(runID + "-a")
	created := make(chan struct{})
	go func() {
		defer close(created)
		time.Sleep(300 * time.Millisecond)
		create(runID + "-b")
	}()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	require.NoError(t, CleanUntilGone(cctx, runID))
	<-created
	l, err := leftovers(ctx, runID)
	require.NoError(t, err)
	require.Empty(t, l["networks"], "the network created during the teardown")
}
