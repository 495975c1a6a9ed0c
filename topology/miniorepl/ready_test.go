package miniorepl

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// startingMinIO answers the two readiness pages as a MinIO server would at a
// stage of its start.
func startingMinIO(t *testing.T, status, metrics string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/minio/health/ready":
			if status != "" {
				w.Header().Set("X-Minio-Server-Status", status)
			}
		case "/minio/metrics/v3/cluster/iam":
			_, _ = w.Write([]byte(metrics))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

const iamPage = `# HELP minio_cluster_iam_last_sync_duration_millis Last successful IAM data sync duration in milliseconds
minio_cluster_iam_last_sync_duration_millis 5
# TYPE minio_cluster_iam_sync_successes counter
minio_cluster_iam_sync_successes %s
`

func TestReadyWaitsForTheIAMLoad(t *testing.T) {
	ctx := context.Background()
	loaded := startingMinIO(t, "", strings.Replace(iamPage, "%s", "1", 1))
	require.NoError(t, Ready(ctx, loaded))

	// The health page says 200 at every stage below; Ready must not.
	notLoaded := startingMinIO(t, "", strings.Replace(iamPage, "%s", "0", 1))
	require.ErrorContains(t, Ready(ctx, notLoaded), "has not loaded its IAM data")
	noCounter := startingMinIO(t, "", "# no IAM metrics yet\n")
	require.ErrorContains(t, Ready(ctx, noCounter), "has not loaded its IAM data")
	offline := startingMinIO(t, "offline", strings.Replace(iamPage, "%s", "1", 1))
	require.ErrorContains(t, Ready(ctx, offline), "object layer not up")
}
