package miniorepl

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ReadyEnv is what a MinIO server's environment needs for Ready: its
// cluster metrics answer without a token (counters only; the servers bind
// to loopback and the project's own networks).
var ReadyEnv = map[string]string{"MINIO_PROMETHEUS_AUTH_TYPE": "public"}

// iamSyncs is the metric that counts MinIO's completed loads of its IAM
// data (users, policies, their mappings) since the server started.
const iamSyncs = "minio_cluster_iam_sync_successes"

// Ready reports whether the MinIO server at base (http://host:port) is
// ready for mc's admin commands: it answers, its object layer is up, and
// it has loaded its IAM data once. MinIO's own /minio/health/ready answers
// 200 before either (it only sets a header), and until the IAM data has
// loaded an admin command about a user can be answered 503, which mc
// retries silently with backoff for a minute or more: a command that
// seems to hang.
func Ready(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := get(ctx, base+"/minio/health/ready")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s/minio/health/ready: %s", base, resp.Status)
	}
	if st := resp.Header.Get("X-Minio-Server-Status"); st != "" {
		return fmt.Errorf("MinIO at %s: server status %q (object layer not up)", base, st)
	}
	n, err := IAMLoads(ctx, base)
	if err != nil {
		return err
	}
	if n < 1 {
		return fmt.Errorf("MinIO at %s has not loaded its IAM data yet (%s 0)", base, iamSyncs)
	}
	return nil
}

// IAMLoads reads how many times the server at base has loaded its IAM data
// since it started (a metric; the server needs ReadyEnv).
func IAMLoads(ctx context.Context, base string) (int, error) {
	url := base + "/minio/metrics/v3/cluster/iam"
	resp, err := get(ctx, url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return 0, fmt.Errorf("GET %s: %s %s (does the server have MINIO_PROMETHEUS_AUTH_TYPE=public?)", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return parseIAMLoads(resp.Body)
}

// parseIAMLoads finds the IAM load counter in a Prometheus text page; a
// page without it is 0 loads (the server has not reported one).
func parseIAMLoads(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, iamSyncs) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metric %q: %w", line, err)
		}
		return int(v), nil
	}
	return 0, sc.Err()
}

func get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return http.DefaultClient.Do(req)
}
