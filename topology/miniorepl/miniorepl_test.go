package miniorepl

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bcdr-harness/bcdr/topology"
)

// recorder stands in for `docker exec` into the MinIO containers: it
// records every command, per region, in one sequence.
type recorder struct {
	mu   sync.Mutex
	cmds []string
	fail func(region topology.RegionName, cmd string) (string, error)
}

func (r *recorder) site(region topology.RegionName) Exec {
	return ExecFunc(func(ctx context.Context, cmd []string) (string, error) {
		line := strings.Join(cmd, " ")
		r.mu.Lock()
		r.cmds = append(r.cmds, string(region)+": "+line)
		f := r.fail
		r.mu.Unlock()
		if f != nil {
			return f(region, line)
		}
		return "", nil
	})
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.cmds
	r.cmds = nil
	return out
}

// s3 serves an in-memory S3 (gofakes3) that also answers MinIO's
// replication-config and replication-metrics reads the way MinIO does.
func s3(t *testing.T) *minio.Client {
	t.Helper()
	fake := gofakes3.New(s3mem.New()).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodGet && q.Has("replication"):
			w.Header().Set("Content-Type", "application/xml")
			w.Write([]byte(`<ReplicationConfiguration><Rule><ID>r1</ID><Status>Enabled</Status><Priority>1</Priority><Destination><Bucket>arn:minio:replication::1234:docs</Bucket></Destination></Rule></ReplicationConfiguration>`))
		case r.Method == http.MethodGet && q.Has("replication-metrics"):
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"failedReplicationCount":2}`))
		default:
			fake.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := minio.New(strings.TrimPrefix(srv.URL, "http://"), &minio.Options{Creds: credentials.NewStaticV4("root", "rootsecret", "")})
	require.NoError(t, err)
	return c
}

func newRepl(t *testing.T) (*Replication, *recorder, map[topology.RegionName]*minio.Client) {
	t.Helper()
	rec := &recorder{}
	clients := map[topology.RegionName]*minio.Client{"a": s3(t), "b": s3(t)}
	site := func(r topology.RegionName, peer string) Site {
		return Site{Region: r, Client: clients[r], Exec: rec.site(r), LocalURL: "http://127.0.0.1:9000", PeerEndpoint: peer}
	}
	repl, err := New(Config{
		Bucket: "docs", AccessKey: "root", Secret: "rootsecret", AppAccessKey: "aos", AppSecret: "aossecret",
		Source: site("a", "wan:19001"), Dest: site("b", "wan:19002"),
		SyncTimeout: 600 * time.Millisecond, PollInterval: 20 * time.Millisecond,
	})
	require.NoError(t, err)
	return repl, rec, clients
}

const mc = "mc --config-dir /tmp/bcdr-mc --quiet "

func put(t *testing.T, c *minio.Client, key, body string) {
	t.Helper()
	_, err := c.PutObject(context.Background(), "docs", key, bytes.NewReader([]byte(body)), int64(len(body)), minio.PutObjectOptions{})
	require.NoError(t, err)
}

func TestSetupMakesVersionedBucketsUserAndRule(t *testing.T) {
	repl, rec, clients := newRepl(t)
	require.NoError(t, repl.Setup(context.Background()))
	assert.Equal(t, []string{
		"a: " + mc + "alias set self http://127.0.0.1:9000 root rootsecret",
		"a: " + mc + "admin user add self aos aossecret",
		"a: " + mc + "admin policy detach self readonly --user aos",
		"a: " + mc + "admin policy attach self readwrite --user aos",
		"b: " + mc + "alias set self http://127.0.0.1:9000 root rootsecret",
		"b: " + mc + "admin user add self aos aossecret",
		"b: " + mc + "admin policy detach self readwrite --user aos",
		"b: " + mc + "admin policy attach self readonly --user aos",
		"a: " + mc + "replicate add self/docs --remote-bucket http://root:rootsecret@wan:19001/docs --replicate existing-objects,delete,delete-marker --priority 1",
	}, rec.take())
	for r, c := range clients {
		v, err := c.GetBucketVersioning(context.Background(), "docs")
		require.NoError(t, err)
		assert.True(t, v.Enabled(), "bucket in region %s is versioned", r)
	}
	st, err := repl.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, topology.ReplicationStatus{Source: "a", Destination: "b", Replicating: true, Errors: 2, LastSync: st.LastSync}, st)
}

func TestStatusCountsPendingAndOldest(t *testing.T) {
	repl, _, clients := newRepl(t)
	ctx := context.Background()
	require.NoError(t, repl.Setup(ctx))
	before := time.Now().Add(-time.Second)
	put(t, clients["a"], "inv/1", "one")
	put(t, clients["a"], "inv/2", "two")
	put(t, clients["b"], "inv/1", "one") // replicated already
	st, err := repl.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Pending)
	assert.True(t, st.OldestPending.After(before), "oldest pending %s", st.OldestPending)
	assert.Greater(t, st.Lag(time.Now().Add(time.Minute)), 59*time.Second)

	put(t, clients["b"], "inv/2", "two")
	st, _ = repl.Status(ctx)
	assert.Zero(t, st.Pending)
	assert.True(t, st.OldestPending.IsZero())
}

func TestSyncNowWaitsForMinIOOrReportsPending(t *testing.T) {
	repl, _, clients := newRepl(t)
	ctx := context.Background()
	require.NoError(t, repl.Setup(ctx))
	put(t, clients["a"], "inv/1", "one")
	err := repl.SyncNow(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 objects still pending")

	go func() { time.Sleep(100 * time.Millisecond); put(t, clients["b"], "inv/1", "one") }()
	require.NoError(t, repl.SyncNow(ctx), "drained once the replica arrived")
}

func TestFailoverSwapsRolesEvenWithSourceGone(t *testing.T) {
	repl, rec, _ := newRepl(t)
	ctx := context.Background()
	require.NoError(t, repl.Setup(ctx))
	rec.take()
	rec.fail = func(r topology.RegionName, cmd string) (string, error) {
		if r == "a" {
			return "container is not running", assert.AnError
		}
		return "", nil
	}
	require.NoError(t, repl.Failover(ctx))
	assert.Equal(t, []string{
		"b: " + mc + "admin policy detach self readonly --user aos",
		"b: " + mc + "admin policy attach self readwrite --user aos",
		"a: " + mc + "replicate rm --all --force self/docs",
	}, rec.take())
	st, _ := repl.Status(ctx)
	assert.Equal(t, topology.RegionB, st.Source)
	assert.False(t, st.Replicating)
}

func TestResyncReplicatesBackWithExistingObjects(t *testing.T) {
	repl, rec, _ := newRepl(t)
	ctx := context.Background()
	require.NoError(t, repl.Setup(ctx))
	require.NoError(t, repl.Failover(ctx))
	rec.take()
	require.NoError(t, repl.Resync(ctx))
	assert.Equal(t, []string{
		"b: " + mc + "alias set self http://127.0.0.1:9000 root rootsecret",
		"a: " + mc + "alias set self http://127.0.0.1:9000 root rootsecret",
		"a: " + mc + "replicate rm --all --force self/docs",
		"a: " + mc + "admin policy detach self readwrite --user aos",
		"a: " + mc + "admin policy attach self readonly --user aos",
		"b: " + mc + "replicate rm --all --force self/docs",
		"b: " + mc + "replicate add self/docs --remote-bucket http://root:rootsecret@wan:19002/docs --replicate existing-objects,delete,delete-marker --priority 1",
		"b: " + mc + "replicate resync start self/docs --remote-bucket arn:minio:replication::1234:docs",
	}, rec.take())
	st, _ := repl.Status(ctx)
	assert.Equal(t, topology.RegionB, st.Source)
	assert.True(t, st.Replicating)
}

func TestSwitchoverFencesDrainsAndSwaps(t *testing.T) {
	repl, rec, clients := newRepl(t)
	ctx := context.Background()
	require.NoError(t, repl.Setup(ctx))
	require.NoError(t, repl.Failover(ctx))
	require.NoError(t, repl.Resync(ctx))
	put(t, clients["b"], "inv/while-failed-over", "x")
	rec.take()
	// Not drained: the switch must not happen.
	err := repl.Switchover(ctx)
	require.ErrorContains(t, err, "final sync")
	st, _ := repl.Status(ctx)
	assert.Equal(t, topology.RegionB, st.Source, "no role change without the final sync")

	put(t, clients["a"], "inv/while-failed-over", "x")
	rec.take()
	require.NoError(t, repl.Switchover(ctx))
	assert.Equal(t, []string{
		"b: " + mc + "admin policy detach self readwrite --user aos",
		"b: " + mc + "admin policy attach self readonly --user aos",
		"b: " + mc + "replicate rm --all --force self/docs",
		"a: " + mc + "admin policy detach self readonly --user aos",
		"a: " + mc + "admin policy attach self readwrite --user aos",
		"a: " + mc + "replicate add self/docs --remote-bucket http://root:rootsecret@wan:19001/docs --replicate existing-objects,delete,delete-marker --priority 1",
	}, rec.take())
	st, _ = repl.Status(ctx)
	assert.Equal(t, topology.RegionA, st.Source)
	assert.True(t, st.Replicating)
}

func TestSetupReportsMcFailureWithOutput(t *testing.T) {
	repl, rec, _ := newRepl(t)
	rec.fail = func(r topology.RegionName, cmd string) (string, error) {
		if strings.Contains(cmd, "replicate add") {
			return "mc: <ERROR> Unable to configure remote target. Remote service connection error.", assert.AnError
		}
		return "", nil
	}
	err := repl.Setup(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "mc replicate add in region a")
	assert.Contains(t, err.Error(), "Remote service connection error")
}
