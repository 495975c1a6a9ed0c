package miniorepl

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/require"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/bcdr-harness/bcdr/topology"
)

// localMinIO returns a minio/minio image present in the local Docker, or "".
func localMinIO() string {
	out, err := exec.Command("docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", "minio/minio").Output()
	if err != nil {
		return ""
	}
	for _, l := range strings.Fields(string(out)) {
		if !strings.HasSuffix(l, ":<none>") {
			return l
		}
	}
	return ""
}

// ContainerExec adapts a testcontainers container to Exec.
func containerExec(c testcontainers.Container) Exec {
	return ExecFunc(func(ctx context.Context, cmd []string) (string, error) {
		code, r, err := c.Exec(ctx, cmd)
		if err != nil {
			return "", err
		}
		out, _ := io.ReadAll(r)
		if code != 0 {
			return string(out), fmt.Errorf("%s exited %d", cmd[0], code)
		}
		return string(out), nil
	})
}

func TestE2EMinIOBucketReplication(t *testing.T) {
	image := localMinIO()
	if image == "" {
		t.Skip("image minio/minio is not present locally; to run: docker pull minio/minio && go test ./topology/miniorepl/ -run E2E")
	}
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	ctx := context.Background()
	runID := fmt.Sprintf("miniorepl-e2e-%d", time.Now().UnixNano())
	labels := map[string]string{"bcdr.run": runID}
	nw, err := network.New(ctx, network.WithLabels(labels))
	testcontainers.CleanupNetwork(t, nw)
	require.NoError(t, err)

	ctrs := map[topology.RegionName]testcontainers.Container{}
	sites := map[topology.RegionName]Site{}
	for _, r := range []topology.RegionName{"a", "b"} {
		c, err := testcontainers.Run(ctx, image,
			testcontainers.WithCmd("server", "/data"),
			testcontainers.WithEnv(map[string]string{"MINIO_ROOT_USER": "bcdrroot", "MINIO_ROOT_PASSWORD": "bcdrrootsecret"}),
			testcontainers.WithExposedPorts("9000/tcp"),
			testcontainers.WithLabels(map[string]string{"bcdr.run": runID, "bcdr.region": string(r)}),
			network.WithNetwork([]string{"minio-" + string(r)}, nw),
			testcontainers.WithWaitStrategy(wait.ForHTTP("/minio/health/ready").WithPort("9000/tcp").WithStartupTimeout(time.Minute)),
		)
		testcontainers.CleanupContainer(t, c)
		require.NoError(t, err)
		hp, err := c.PortEndpoint(ctx, "9000/tcp", "")
		require.NoError(t, err)
		cl, err := minio.New(hp, &minio.Options{Creds: credentials.NewStaticV4("bcdrroot", "bcdrrootsecret", "")})
		require.NoError(t, err)
		ctrs[r] = c
		sites[r] = Site{Region: r, Client: cl, Exec: containerExec(c), LocalURL: "http://127.0.0.1:9000",
			PeerEndpoint: "minio-" + string(r.Other()) + ":9000"}
	}
	repl, err := New(Config{Bucket: "docs", AccessKey: "bcdrroot", Secret: "bcdrrootsecret",
		AppAccessKey: "aos", AppSecret: "aos-secret-1", Source: sites["a"], Dest: sites["b"], SyncTimeout: time.Minute})
	require.NoError(t, err)
	require.NoError(t, repl.Setup(ctx))

	put := func(r topology.RegionName, key string) {
		t.Helper()
		_, err := sites[r].Client.PutObject(ctx, "docs", key, bytes.NewReader([]byte(key)), int64(len(key)), minio.PutObjectOptions{})
		require.NoError(t, err)
	}
	put("a", "inv/1")
	require.NoError(t, repl.SyncNow(ctx), "MinIO replicated inv/1 to region B")

	// Failover: region B becomes the source and takes writes.
	require.NoError(t, repl.Failover(ctx))
	put("b", "inv/2-while-failed-over")
	require.NoError(t, repl.Resync(ctx))
	require.NoError(t, repl.SyncNow(ctx), "B replicates back to A")
	require.NoError(t, repl.Switchover(ctx))
	put("a", "inv/3-after-failback")
	require.NoError(t, repl.SyncNow(ctx))
	st, err := repl.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, topology.RegionA, st.Source)
	require.Zero(t, st.Pending)
}
