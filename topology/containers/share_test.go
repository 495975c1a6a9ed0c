package containers

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bcdr-harness/bcdr/topology/sqlserver"
)

// A lost region's backup share answers nothing, so the copy job ships
// nothing from it (even with the WAN up) until the region returns.
func TestLostRegionShareCannotBeRead(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "000000010000000000000003"), []byte("wal"), 0o644); err != nil {
		t.Fatal(err)
	}
	var lost atomic.Bool
	srv := httptest.NewServer(lostShareGate("a", &lost, sqlserver.ShareHandler(sqlserver.DirShare{Path: dir})))
	defer srv.Close()
	share := sqlserver.HTTPShare{BaseURL: srv.URL, Client: srv.Client()}
	ctx := t.Context()
	names, err := share.List(ctx)
	if err != nil || len(names) != 1 {
		t.Fatalf("the share of a live region: %v %v", names, err)
	}
	lost.Store(true)
	if names, err := share.List(ctx); err == nil {
		t.Fatalf("the share of a lost region listed %v", names)
	}
	resp, err := srv.Client().Get(srv.URL + "/000000010000000000000003")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "region a is lost") {
		t.Errorf("a lost region's log backup was served: HTTP %d %s", resp.StatusCode, body)
	}
	lost.Store(false)
	if names, err := share.List(ctx); err != nil || len(names) != 1 {
		t.Errorf("the share once the region returned: %v %v", names, err)
	}
}
