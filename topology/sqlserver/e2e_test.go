package sqlserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/moby/moby/api/types/container"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/bcdr-harness/bcdr/topology"
)

// Image is the SQL Server image the end-to-end test runs.
const Image = "mcr.microsoft.com/mssql/server:2022-latest"

const saPassword = "Bcdr-Harness-2022!"

// requireImage skips the test when the image is not in the local Docker.
func requireImage(t *testing.T, image string) {
	t.Helper()
	if err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", image).Run(); err != nil {
		t.Skipf("image %s is not present locally; to run: docker pull %s && go test ./topology/sqlserver/ -run E2E", image, image)
	}
}

// startServer runs one SQL Server 2022 container whose /var/opt/mssql/bcdr
// is the host directory root (made writable for the server's uid 10001).
func startServer(t *testing.T, ctx context.Context, runID string, r topology.RegionName, root string) *DB {
	t.Helper()
	for _, d := range []string{root, filepath.Join(root, "backup"), filepath.Join(root, "incoming")} {
		require.NoError(t, os.MkdirAll(d, 0o777))
		require.NoError(t, os.Chmod(d, 0o777))
	}
	ctr, err := testcontainers.Run(ctx, Image,
		testcontainers.WithEnv(map[string]string{"ACCEPT_EULA": "Y", "MSSQL_SA_PASSWORD": saPassword, "MSSQL_PID": "Developer"}),
		testcontainers.WithExposedPorts("1433/tcp"),
		testcontainers.WithLabels(map[string]string{"bcdr.run": runID, "bcdr.region": string(r)}),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
			hc.Binds = append(hc.Binds, root+":"+serverRoot)
		}),
		testcontainers.WithWaitStrategy(wait.ForLog("SQL Server is now ready for client connections").WithStartupTimeout(3*time.Minute)),
	)
	testcontainers.CleanupContainer(t, ctr)
	require.NoError(t, err, "start SQL Server in region %s", r)
	hp, err := ctr.PortEndpoint(ctx, "1433/tcp", "")
	require.NoError(t, err)
	db, err := Open(fmt.Sprintf("sqlserver://sa:%s@%s?database=master&encrypt=disable", saPassword, hp))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	require.Eventually(t, func() bool { return db.DB.PingContext(ctx) == nil }, time.Minute, time.Second)
	return db
}

// serveShare serves a directory on loopback and puts an embedded Toxiproxy
// proxy in front of it: the WAN link the copy job crosses.
func serveShare(t *testing.T, dir string) (url string, wan *toxiproxy.Proxy) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: ShareHandler(DirShare{Path: dir})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	wan = toxiproxy.NewProxy(api, "wan-"+filepath.Base(filepath.Dir(dir)), "127.0.0.1:0", ln.Addr().String())
	require.NoError(t, wan.Start())
	t.Cleanup(wan.Stop)
	return "http://" + wan.Listen, wan
}

func TestE2ELogShippingFailoverAndSwitchover(t *testing.T) {
	requireImage(t, Image)
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	ctx := context.Background()
	runID := fmt.Sprintf("sqlserver-e2e-%d", time.Now().UnixNano())
	nodes := map[topology.RegionName]Node{}
	dbs := map[topology.RegionName]*DB{}
	wans := map[topology.RegionName]*toxiproxy.Proxy{}
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		root := filepath.Join(t.TempDir(), string(r))
		dbs[r] = startServer(t, ctx, runID, r, root)
		url, wan := serveShare(t, filepath.Join(root, "backup"))
		wans[r] = wan
		nodes[r] = Node{Region: r, Exec: dbs[r], BackupDir: serverRoot + "/backup", IncomingDir: serverRoot + "/incoming",
			Incoming: DirShare{Path: filepath.Join(root, "incoming")}, Backups: HTTPShare{BaseURL: url}}
	}
	ship, err := New(Config{Database: "bcdr", Primary: nodes["a"], Second: nodes["b"]})
	require.NoError(t, err)
	require.NoError(t, ship.Setup(ctx))

	exec := func(r topology.RegionName, q string) {
		t.Helper()
		_, err := dbs[r].DB.ExecContext(ctx, q)
		require.NoError(t, err, "region %s: %s", r, q)
	}
	count := func(r topology.RegionName) int {
		t.Helper()
		var n int
		require.NoError(t, dbs[r].DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM bcdr.dbo.entries").Scan(&n))
		return n
	}
	exec("a", "CREATE TABLE bcdr.dbo.entries (k varchar(40) PRIMARY KEY)")
	exec("a", "INSERT INTO bcdr.dbo.entries VALUES ('shipped-1'), ('shipped-2')")
	require.NoError(t, ship.BackupLog(ctx))
	require.NoError(t, ship.CopyLogs(ctx))
	require.NoError(t, ship.RestoreLogs(ctx))
	st, err := ship.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, st.Backup.Seq, st.Restore.Seq, "secondary caught up: %+v", st)

	// A write backed up but stranded by a cut WAN is lost in the failover.
	exec("a", "INSERT INTO bcdr.dbo.entries VALUES ('stranded')")
	require.NoError(t, ship.BackupLog(ctx))
	wans["a"].Stop()
	require.Error(t, ship.CopyLogs(ctx), "copy must fail while the WAN is cut")
	_, err = ship.Failover(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, count("b"), "region B has the shipped writes and not the stranded one")
	require.NoError(t, wans["a"].Start())

	// Failback: resync A from B, then a planned switch loses nothing.
	require.NoError(t, ship.Resync(ctx))
	exec("b", "INSERT INTO bcdr.dbo.entries VALUES ('while-failed-over')")
	require.NoError(t, ship.BackupLog(ctx))
	require.NoError(t, ship.CopyLogs(ctx))
	require.NoError(t, ship.RestoreLogs(ctx))
	exec("b", "INSERT INTO bcdr.dbo.entries VALUES ('in-the-tail')")
	require.NoError(t, ship.Switchover(ctx, topology.SwitchoverOptions{}))
	require.Equal(t, 4, count("a"), "region A has every write, the tail included")
	exec("a", "INSERT INTO bcdr.dbo.entries VALUES ('after-failback')")
	st, err = ship.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, topology.RegionA, st.Primary)
	require.True(t, st.Shipping)
}
