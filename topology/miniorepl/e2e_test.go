package miniorepl

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/require"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/bcdr-harness/bcdr/topology"
)

// e2eImage is the MinIO image the end-to-end test runs: the local build
// with BCDR_LOCAL_IMAGES=1 (make images), the official one otherwise.
// Neither is pulled: "" when it is not present.
func e2eImage(ctx context.Context) (string, string) {
	img := Image
	hint := "docker pull " + Image
	if os.Getenv("BCDR_LOCAL_IMAGES") == "1" {
		img, hint = LocalImage, "make images (scripts/build-images.sh minio)"
	}
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return "", hint
	}
	defer p.Close()
	if _, err := p.Client().ImageInspect(ctx, img); err != nil {
		return "", hint
	}
	return img, hint
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// containerExec adapts a testcontainers container to Exec.
func containerExec(c testcontainers.Container) Exec {
	return ExecFunc(func(ctx context.Context, cmd []string) (string, error) {
		code, r, err := c.Exec(ctx, cmd, tcexec.Multiplexed())
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

// TestE2EMinIOBucketReplication runs the whole life of MinIO replication on
// two real servers: replicate, lose region A with an object MinIO has not
// replicated, fail over (B refuses A from then on), bring A back with its
// rule and its queue and see nothing of it reach B, resync B to A, switch
// back, replicate A to B again; and the status is MinIO's own throughout.
func TestE2EMinIOBucketReplication(t *testing.T) {
	ctx := context.Background()
	image, hint := e2eImage(ctx)
	if image == "" {
		t.Skipf("the MinIO image is not present locally; to run: %s && go test ./topology/miniorepl/ -run E2E", hint)
	}
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	root, rootSecret := "root-"+randomHex(4), randomHex(20)
	runID := fmt.Sprintf("miniorepl-e2e-%d", time.Now().UnixNano())
	nw, err := network.New(ctx, network.WithLabels(map[string]string{"bcdr.run": runID}))
	testcontainers.CleanupNetwork(t, nw)
	require.NoError(t, err)

	ctrs := map[topology.RegionName]testcontainers.Container{}
	sites := map[topology.RegionName]Site{}
	for _, r := range []topology.RegionName{"a", "b"} {
		c, err := testcontainers.Run(ctx, image,
			testcontainers.WithCmd("server", "/data"),
			testcontainers.WithEnv(map[string]string{"MINIO_ROOT_USER": root, "MINIO_ROOT_PASSWORD": rootSecret}),
			testcontainers.WithEnv(ReadyEnv),
			testcontainers.WithExposedPorts("9000/tcp"),
			testcontainers.WithLabels(map[string]string{"bcdr.run": runID, "bcdr.region": string(r)}),
			network.WithNetwork([]string{"minio-" + string(r)}, nw),
			// The local image is FROM scratch: no shell for a port probe
			// inside it; its readiness is polled from outside below.
			testcontainers.WithWaitStrategy(wait.ForLog("API: ").WithStartupTimeout(time.Minute)),
		)
		testcontainers.CleanupContainer(t, c)
		require.NoError(t, err)
		ctrs[r] = c
		sites[r] = Site{Region: r, Exec: containerExec(c), LocalURL: "http://127.0.0.1:9000",
			PeerEndpoint: "minio-" + string(r.Other()) + ":9000"}
	}
	client := func(r topology.RegionName) *minio.Client {
		t.Helper()
		// Published on every interface; reached on loopback whatever host
		// name the Docker provider would resolve.
		port, err := ctrs[r].MappedPort(ctx, "9000/tcp")
		require.NoError(t, err)
		hp := "127.0.0.1:" + port.Port()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
			err := Ready(ctx, "http://"+hp)
			if err == nil {
				break
			}
			require.True(t, time.Now().Before(deadline), "MinIO in region %s not ready at %s: %v", r, hp, err)
		}
		cl, err := minio.New(hp, &minio.Options{Creds: credentials.NewStaticV4(root, rootSecret, "")})
		require.NoError(t, err)
		return cl
	}
	for r, s := range sites {
		s.Client = client(r)
		sites[r] = s
	}
	repl, err := New(Config{Bucket: "docs", AccessKey: root, Secret: rootSecret,
		ReplAccessKey: "repl-" + randomHex(4), ReplSecret: randomHex(20),
		AppAccessKey: "aos-" + randomHex(4), AppSecret: randomHex(20),
		Source: sites["a"], Dest: sites["b"], SyncTimeout: time.Minute})
	require.NoError(t, err)
	require.NoError(t, repl.Setup(ctx))

	put := func(r topology.RegionName, key string) {
		t.Helper()
		_, err := repl.sites[r].Client.PutObject(ctx, "docs", key, bytes.NewReader([]byte(key)), int64(len(key)), minio.PutObjectOptions{})
		require.NoError(t, err)
	}
	has := func(r topology.RegionName, key string) bool {
		_, err := repl.sites[r].Client.StatObject(ctx, "docs", key, minio.StatObjectOptions{})
		return err == nil
	}
	t0 := time.Now()
	put("a", "inv/1")
	require.NoError(t, repl.SyncNow(ctx), "MinIO replicated inv/1 to region B")
	t.Logf("inv/1 replicated (MinIO says COMPLETED) %s after the put", time.Since(t0).Round(time.Millisecond))
	require.True(t, has("b", "inv/1"))
	desc, err := repl.Describe(ctx)
	require.NoError(t, err)
	t.Log(desc)

	// Region A is lost with an object MinIO has not replicated: region B is
	// paused while it is written, then A's server is stopped.
	require.NoError(t, ctrs["b"].Stop(ctx, nil) /* B down: nothing can reach it */)
	put("a", "inv/stranded")
	st, err := repl.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, st.Pending, "MinIO on A says inv/stranded is not replicated")
	require.False(t, st.OldestPending.IsZero())
	stopA := 10 * time.Second
	require.NoError(t, ctrs["a"].Stop(ctx, &stopA))
	require.NoError(t, ctrs["b"].Start(ctx))
	repl.sites["b"].Client = client("b") // a restarted container publishes a new port
	fo := time.Now()
	require.NoError(t, repl.Failover(ctx), "B refuses A's replication, then takes writes")
	t.Logf("failover to B took %s wall (A down: its rule removal timed out or was refused)", time.Since(fo).Round(time.Millisecond))
	put("b", "inv/2-while-failed-over")

	// Region A returns with its rule and its queue (inv/stranded). An
	// object written there now shows MinIO trying: its status goes from
	// PENDING to FAILED, because B refuses the replication user.
	require.NoError(t, ctrs["a"].Start(ctx))
	repl.sites["a"].Client = client("a")
	back := time.Now()
	put("a", "inv/written-after-return")
	status := func(key string) string {
		o, err := repl.sites["a"].Client.StatObject(ctx, "docs", key, minio.StatObjectOptions{})
		if err != nil {
			return err.Error()
		}
		return o.ReplicationStatus
	}
	require.Eventually(t, func() bool { return status("inv/written-after-return") == "FAILED" }, time.Minute, 200*time.Millisecond,
		"MinIO on A tries to replicate and B refuses it (status %q)", status("inv/written-after-return"))
	t.Logf("region A back: MinIO on A tried to replicate a new object and B refused it within %s (inv/stranded: %s)",
		time.Since(back).Round(100*time.Millisecond), status("inv/stranded"))
	require.False(t, has("b", "inv/stranded"), "nothing of the lost region reached region B")
	require.False(t, has("b", "inv/written-after-return"), "nothing of the old source reaches region B")

	require.NoError(t, repl.Resync(ctx))
	require.NoError(t, repl.SyncNow(ctx), "B replicates back to A")
	require.True(t, has("a", "inv/2-while-failed-over"))
	sw := time.Now()
	require.NoError(t, repl.Switchover(ctx))
	t.Logf("switchover back to A took %s wall", time.Since(sw).Round(time.Millisecond))
	put("a", "inv/3-after-failback")
	require.NoError(t, repl.SyncNow(ctx))
	require.True(t, has("b", "inv/3-after-failback"))
	st, err = repl.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, topology.RegionA, st.Source)
	desc, err = repl.Describe(ctx)
	require.NoError(t, err)
	t.Log(desc)
}
