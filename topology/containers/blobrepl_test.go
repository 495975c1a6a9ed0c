package containers

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/blob"
)

// TestUnitS3ReplicaStore checks what blob.Replicator sees of an S3
// container: read on its published port, written through the WAN proxy's,
// replica mode switched by PUT /_bcdr/readonly.
func TestUnitS3ReplicaStore(t *testing.T) {
	var got []string
	refuse := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b))
		if refuse {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	_, p, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	port, err := strconv.Atoi(p)
	require.NoError(t, err)

	var st blob.Store = s3Replica{&s3Store{region: topology.RegionB, port: port, wanPort: 41234}}
	require.Equal(t, fmt.Sprintf("127.0.0.1:%d", port), st.Addr())
	require.Equal(t, "127.0.0.1:41234", st.ReplicaAddr())
	require.NoError(t, st.SetReadOnly(context.Background(), true))
	require.NoError(t, st.SetReadOnly(context.Background(), false))
	require.Equal(t, []string{"PUT /_bcdr/readonly true", "PUT /_bcdr/readonly false"}, got)
	refuse = true
	require.ErrorContains(t, st.SetReadOnly(context.Background(), true), "set blob store b read-only=true: 503")
}
