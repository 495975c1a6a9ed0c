package miniorepl

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
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

// fakeMinIO is one region's server as the package reads it: buckets and
// versioning (gofakes3), the replication rule, and a listing with each
// object's replication status, which the test sets as MinIO would.
type fakeMinIO struct {
	mu      sync.Mutex
	objects map[string]fakeObject
}

type fakeObject struct {
	status string
	mod    time.Time
}

func (f *fakeMinIO) set(key, status string, mod time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[key] = fakeObject{status: status, mod: mod}
}

type listContents struct {
	Key          string
	LastModified string
	ETag         string
	Size         int
	UserMetadata struct {
		Status string `xml:"X-Amz-Replication-Status,omitempty"`
	}
}

type listResult struct {
	XMLName     xml.Name `xml:"ListBucketResult"`
	Name        string
	KeyCount    int
	MaxKeys     int
	IsTruncated bool
	Contents    []listContents
}

func (f *fakeMinIO) list(w http.ResponseWriter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	res := listResult{Name: "docs", MaxKeys: 1000}
	var keys []string
	for k := range f.objects {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o := f.objects[k]
		c := listContents{Key: k, LastModified: o.mod.UTC().Format("2006-01-02T15:04:05.000Z"), ETag: `"e"`, Size: 1}
		c.UserMetadata.Status = o.status
		res.Contents = append(res.Contents, c)
	}
	res.KeyCount = len(res.Contents)
	w.Header().Set("Content-Type", "application/xml")
	_ = xml.NewEncoder(w).Encode(res)
}

func newFake(t *testing.T) (*fakeMinIO, *minio.Client) {
	t.Helper()
	f := &fakeMinIO{objects: map[string]fakeObject{}}
	s3 := gofakes3.New(s3mem.New()).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodGet && q.Has("replication"):
			w.Header().Set("Content-Type", "application/xml")
			_, _ = w.Write([]byte(`<ReplicationConfiguration><Rule><ID>r1</ID><Status>Enabled</Status><Priority>1</Priority><Destination><Bucket>arn:minio:replication::1234:docs</Bucket></Destination></Rule></ReplicationConfiguration>`))
		case r.Method == http.MethodGet && q.Get("list-type") == "2" && q.Get("metadata") == "true":
			f.list(w)
		default:
			s3.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := minio.New(strings.TrimPrefix(srv.URL, "http://"), &minio.Options{Creds: credentials.NewStaticV4("root", "rootsecret", "")})
	require.NoError(t, err)
	return f, c
}

func newRepl(t *testing.T) (*Replication, *recorder, map[topology.RegionName]*fakeMinIO) {
	t.Helper()
	rec := &recorder{}
	fakes := map[topology.RegionName]*fakeMinIO{}
	site := func(r topology.RegionName, peer string) Site {
		f, c := newFake(t)
		fakes[r] = f
		return Site{Region: r, Client: c, Exec: rec.site(r), LocalURL: "http://127.0.0.1:9000", PeerEndpoint: peer}
	}
	repl, err := New(Config{
		Bucket: "docs", AccessKey: "root", Secret: "rootsecret", ReplAccessKey: "repl", ReplSecret: "replsecret",
		AppAccessKey: "aos", AppSecret: "aossecret",
		Source: site("a", "wan:19001"), Dest: site("b", "wan:19002"),
		SyncTimeout: 600 * time.Millisecond, PollInterval: 20 * time.Millisecond,
	})
	require.NoError(t, err)
	return repl, rec, fakes
}

const mc = "mc --config-dir /tmp/bcdr-mc --quiet "

func TestSetupMakesVersionedBucketsUsersAndRule(t *testing.T) {
	repl, rec, _ := newRepl(t)
	require.NoError(t, repl.Setup(context.Background()))
	site := func(r, accept, app, revoke string) []string {
		return []string{
			r + ": " + mc + "alias set self http://127.0.0.1:9000 root rootsecret",
			r + ": " + mc + "admin user add self repl replsecret",
			r + ": " + mc + "admin policy attach self readwrite --user repl",
			r + ": " + mc + "admin user " + accept + " self repl",
			r + ": " + mc + "admin user add self aos aossecret",
			r + ": " + mc + "admin policy detach self " + revoke + " --user aos",
			r + ": " + mc + "admin policy attach self " + app + " --user aos",
		}
	}
	want := append(site("a", "disable", "readwrite", "readonly"), site("b", "enable", "readonly", "readwrite")...)
	want = append(want, "a: "+mc+"replicate add self/docs --remote-bucket http://repl:replsecret@wan:19001/docs --replicate existing-objects,delete,delete-marker --priority 1")
	assert.Equal(t, want, rec.take(), "region A's rule signs in to B as the replication user, which only B (the destination) accepts")
	st, err := repl.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, topology.ReplicationStatus{Source: "a", Destination: "b", Replicating: true, LastSync: st.LastSync}, st)
}

func TestStatusIsMinIOsPerObjectReplicationStatus(t *testing.T) {
	repl, _, fakes := newRepl(t)
	ctx := context.Background()
	require.NoError(t, repl.Setup(ctx))
	now := time.Now().Truncate(time.Millisecond)
	fakes["a"].set("inv/1", "COMPLETED", now.Add(-3*time.Minute))
	fakes["a"].set("inv/2", "FAILED", now.Add(-2*time.Minute))
	fakes["a"].set("inv/3", "PENDING", now.Add(-time.Minute))
	fakes["a"].set("inv/4", "REPLICA", now.Add(-4*time.Minute))
	fakes["a"].set("inv/5", "", now) // written while no rule applied
	st, err := repl.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, st.Pending, "FAILED, PENDING and no status are not replicated; COMPLETED and REPLICA are")
	assert.Equal(t, 1, st.Errors, "the FAILED object")
	assert.True(t, st.OldestPending.Equal(now.Add(-2*time.Minute)), "oldest pending %s", st.OldestPending)

	for _, k := range []string{"inv/2", "inv/3", "inv/5"} {
		fakes["a"].set(k, "COMPLETED", now)
	}
	st, err = repl.Status(ctx)
	require.NoError(t, err)
	assert.Zero(t, st.Pending)
	assert.Zero(t, st.Errors)
	assert.True(t, st.OldestPending.IsZero())
}

func TestSyncNowWaitsForMinIOOrReportsPending(t *testing.T) {
	repl, _, fakes := newRepl(t)
	ctx := context.Background()
	require.NoError(t, repl.Setup(ctx))
	fakes["a"].set("inv/1", "PENDING", time.Now())
	err := repl.SyncNow(ctx)
	require.ErrorContains(t, err, "MinIO reports 1 objects not replicated")

	go func() { time.Sleep(100 * time.Millisecond); fakes["a"].set("inv/1", "COMPLETED", time.Now()) }()
	require.NoError(t, repl.SyncNow(ctx), "drained once MinIO said COMPLETED")
}

func TestFailoverFencesTheOldSourceFirstEvenWithItGone(t *testing.T) {
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
		"b: " + mc + "admin user disable self repl",
		"b: " + mc + "admin policy detach self readonly --user aos",
		"b: " + mc + "admin policy attach self readwrite --user aos",
		"a: " + mc + "replicate rm --all --force self/docs",
	}, rec.take(), "B refuses A's replication before it takes writes")
	st, _ := repl.Status(ctx)
	assert.Equal(t, topology.RegionB, st.Source)
	assert.False(t, st.Replicating)
}

func TestFailoverWithoutTheFenceDoesNotSwap(t *testing.T) {
	repl, rec, _ := newRepl(t)
	ctx := context.Background()
	require.NoError(t, repl.Setup(ctx))
	rec.fail = func(r topology.RegionName, cmd string) (string, error) {
		if strings.Contains(cmd, "user disable") {
			return "mc: <ERROR> Unable to disable user", assert.AnError
		}
		return "", nil
	}
	err := repl.Failover(ctx)
	require.ErrorContains(t, err, "fence replication")
	st, _ := repl.Status(ctx)
	assert.Equal(t, topology.RegionA, st.Source, "no role change while region B would still take A's replication")
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
		"a: " + mc + "admin user enable self repl",
		"b: " + mc + "replicate rm --all --force self/docs",
		"b: " + mc + "replicate add self/docs --remote-bucket http://repl:replsecret@wan:19002/docs --replicate existing-objects,delete,delete-marker --priority 1",
		"b: " + mc + "replicate resync start self/docs --remote-bucket arn:minio:replication::1234:docs",
	}, rec.take())
	st, _ := repl.Status(ctx)
	assert.Equal(t, topology.RegionB, st.Source)
	assert.True(t, st.Replicating)
}

func TestSwitchoverDrainsFencesAndSwaps(t *testing.T) {
	repl, rec, fakes := newRepl(t)
	ctx := context.Background()
	require.NoError(t, repl.Setup(ctx))
	require.NoError(t, repl.Failover(ctx))
	require.NoError(t, repl.Resync(ctx))
	fakes["b"].set("inv/while-failed-over", "PENDING", time.Now())
	rec.take()
	// Not drained: the switch must not happen.
	err := repl.Switchover(ctx)
	require.ErrorContains(t, err, "final sync")
	st, _ := repl.Status(ctx)
	assert.Equal(t, topology.RegionB, st.Source, "no role change without the final sync")

	fakes["b"].set("inv/while-failed-over", "COMPLETED", time.Now())
	rec.take()
	require.NoError(t, repl.Switchover(ctx))
	assert.Equal(t, []string{
		"b: " + mc + "admin policy detach self readwrite --user aos",
		"b: " + mc + "admin policy attach self readonly --user aos",
		"b: " + mc + "replicate rm --all --force self/docs",
		"a: " + mc + "admin user disable self repl",
		"b: " + mc + "admin user enable self repl",
		"a: " + mc + "admin policy detach self readonly --user aos",
		"a: " + mc + "admin policy attach self readwrite --user aos",
		"a: " + mc + "replicate add self/docs --remote-bucket http://repl:replsecret@wan:19001/docs --replicate existing-objects,delete,delete-marker --priority 1",
	}, rec.take())
	st, _ = repl.Status(ctx)
	assert.Equal(t, topology.RegionA, st.Source)
	assert.True(t, st.Replicating)
}

func TestErrorsCarryMcOutputButNoSecret(t *testing.T) {
	repl, rec, _ := newRepl(t)
	rec.fail = func(r topology.RegionName, cmd string) (string, error) {
		if strings.Contains(cmd, "replicate add") {
			// A container exec error names the command line, secrets included.
			return "mc: <ERROR> Unable to configure remote target. Remote service connection error.",
				fmt.Errorf("exec %q exited 1", cmd)
		}
		return "", nil
	}
	err := repl.Setup(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "mc replicate add in region a")
	assert.Contains(t, err.Error(), "Remote service connection error")
	for _, secret := range []string{"rootsecret", "replsecret", "aossecret"} {
		assert.NotContains(t, err.Error(), secret)
	}
	assert.Contains(t, err.Error(), "REDACTED")
}

func TestDescribeSummarisesMcReplicateStatusWithoutCredentials(t *testing.T) {
	repl, rec, _ := newRepl(t)
	rec.fail = func(r topology.RegionName, cmd string) (string, error) {
		if strings.Contains(cmd, "replicate status") {
			return `{"op":"status","url":"self/docs","status":"success","replicationstats":{"currStats":{"replicationCount":41,` +
				`"failed":{"lastMinute":{"count":1},"totals":{"count":3}},"queued":{"curr":{"count":2}}}},` +
				`"remoteTargets":[{"endpoint":"toxiproxy:21015","credentials":{"accessKey":"repl","secretKey":"replsecret"},` +
				`"isOnline":true,"latency":{"curr":3000000}}]}`, nil
		}
		return "", nil
	}
	got, err := repl.Describe(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "mc replicate status in region a: replicated 41, replicas 0, queued 2, failed 3 (last minute 1); target toxiproxy:21015 online, latency 3ms", got)
	assert.NotContains(t, got, "replsecret")
	assert.Contains(t, rec.take(), "a: "+mc+"replicate status self/docs --json")
}

func TestRedactRemovesEverySecret(t *testing.T) {
	repl, _, _ := newRepl(t)
	line := strings.Join(repl.AddRuleCommand(repl.sites["a"]), " ") + " " + strings.Join(repl.AliasCommand(repl.sites["a"]), " ")
	got := repl.Redact(line)
	for _, secret := range []string{"rootsecret", "replsecret"} {
		assert.Contains(t, line, secret)
		assert.NotContains(t, got, secret)
	}
}

func TestAddUserErrorCarriesNoSecret(t *testing.T) {
	repl, rec, _ := newRepl(t)
	rec.fail = func(r topology.RegionName, cmd string) (string, error) {
		return "mc: <ERROR> Unable to add new user", fmt.Errorf("exec %q exited 1", cmd)
	}
	err := repl.AddUser(context.Background(), "reader", "readersecret", "readwrite")
	require.ErrorContains(t, err, "Unable to add new user")
	for _, secret := range []string{"readersecret", "rootsecret"} {
		assert.NotContains(t, err.Error(), secret)
	}
}

// Resync returns once the backlog that existed when it started is
// replicated; objects written after it started do not hold it up, and a
// backlog MinIO never replicates is an error naming what is pending.
func TestResyncWaitsForTheBacklogOnly(t *testing.T) {
	repl, _, fakes := newRepl(t)
	ctx := context.Background()
	require.NoError(t, repl.Setup(ctx))
	require.NoError(t, repl.Failover(ctx))
	repl.cfg.CatchUpTimeout = 150 * time.Millisecond

	fakes["b"].set("inv/old", "PENDING", time.Now().Add(-time.Hour))
	err := repl.Resync(ctx)
	require.ErrorContains(t, err, "catching up")
	require.ErrorContains(t, err, "1 objects not replicated")

	fakes["b"].set("inv/old", "COMPLETED", time.Now().Add(-time.Hour))
	fakes["b"].set("inv/new", "PENDING", time.Now().Add(time.Hour))
	require.NoError(t, repl.Resync(ctx), "an object written after the resync started does not hold it up")
}

// An mc command that never returns (a docker exec stuck on a loaded
// daemon) is an error after ExecTimeout, so the runbook can retry the
// switch instead of hanging until the run's deadline.
func TestAnMcCommandThatHangsTimesOut(t *testing.T) {
	repl, rec, _ := newRepl(t)
	ctx := context.Background()
	require.NoError(t, repl.Setup(ctx))
	repl.cfg.ExecTimeout = 100 * time.Millisecond
	for _, s := range repl.sites {
		region := s.Region
		s.Exec = timedExec{rec.site(region), repl.cfg.ExecTimeout,
			func(context.Context) string {
				return "MinIO in region " + string(region) + " has not loaded its IAM data yet"
			}}
	}
	release := make(chan struct{})
	defer close(release)
	rec.mu.Lock()
	rec.fail = func(region topology.RegionName, cmd string) (string, error) {
		select {
		case <-release:
		case <-time.After(time.Minute):
		}
		return "", errors.New("never reached")
	}
	rec.mu.Unlock()
	start := time.Now()
	err := repl.Switchover(ctx)
	require.ErrorContains(t, err, "did not return within 100ms")
	require.ErrorContains(t, err, "has not loaded its IAM data yet", "the error says what state the server was in")
	require.Less(t, time.Since(start), 10*time.Second)
	st, _ := repl.Status(ctx)
	assert.Equal(t, topology.RegionA, st.Source, "no role change")
}
