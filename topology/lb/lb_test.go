package lb

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bcdr-harness/bcdr/topology"
)

// instance is a fake AOS whose /health answers with the status held in health.
type instance struct {
	srv    *httptest.Server
	health atomic.Int32
}

func newInstance(t *testing.T) *instance {
	in := &instance{}
	in.health.Store(http.StatusOK)
	in.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.WriteHeader(int(in.health.Load()))
			_, _ = io.WriteString(w, "db down")
			return
		}
		_, _ = io.WriteString(w, "served")
	}))
	t.Cleanup(in.srv.Close)
	return in
}

func (in *instance) addr() string { return strings.TrimPrefix(in.srv.URL, "http://") }

// balancer probes rarely so that the test drives every probe itself.
func balancer(t *testing.T, ins ...*instance) *Balancer {
	var ids, addrs []string
	for i, in := range ins {
		ids, addrs = append(ids, string(rune('x'+i))), append(addrs, in.addr())
	}
	b, err := NewBalancer(topology.RegionA, ids, addrs, time.Hour)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	// The probe loop's first round runs at once; after it, only the test probes.
	require.Eventually(t, func() bool { return b.rounds.Load() > 0 }, 10*time.Second, time.Millisecond)
	return b
}

func get(t *testing.T, b *Balancer) (int, string) {
	resp, err := http.Get("http://" + b.Addr() + "/x")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestOneFailedProbeKeepsTheInstanceTwoTakeItOut(t *testing.T) {
	in := newInstance(t)
	b := balancer(t, in)
	ctx := context.Background()
	b.ProbeNow(ctx)
	require.Equal(t, []string{"x"}, b.Healthy())

	in.health.Store(http.StatusServiceUnavailable)
	b.ProbeNow(ctx)
	require.Equal(t, []string{"x"}, b.Healthy(), "one failed probe is below the unhealthy threshold")
	b.ProbeNow(ctx)
	require.Empty(t, b.Healthy(), "%d failed probes in a row take the instance out", UnhealthyThreshold)
	st, body := get(t, b)
	require.Equal(t, http.StatusServiceUnavailable, st)
	require.Contains(t, body, "no healthy instance")
	require.Contains(t, body, "503 Service Unavailable: db down", "the refusal says why the instance is out")
	require.Contains(t, b.Unhealthy()["x"], "probe: 503")

	in.health.Store(http.StatusOK)
	b.ProbeNow(ctx)
	require.Equal(t, []string{"x"}, b.Healthy(), "one good probe brings it back")
	st, body = get(t, b)
	require.Equal(t, http.StatusOK, st)
	require.Equal(t, "served", body)
}

func TestAFailedRequestTakesTheInstanceOutAtOnce(t *testing.T) {
	good, bad := newInstance(t), newInstance(t)
	b := balancer(t, good, bad)
	b.ProbeNow(context.Background())
	require.Len(t, b.Healthy(), 2)
	bad.srv.Close() // the instance dies between probes
	for i := 0; i < 4; i++ {
		st, _ := get(t, b) // at most one of these reaches the dead instance
		if st == http.StatusBadGateway {
			continue
		}
		require.Equal(t, http.StatusOK, st)
	}
	require.Equal(t, []string{"x"}, b.Healthy(), "the dead instance is out without waiting for a probe")
	require.Contains(t, b.Unhealthy()["y"], "request: ")
}

func TestAnInstanceNeverProbedIsOut(t *testing.T) {
	b := &backend{id: "z"}
	require.False(t, b.healthy.Load())
	require.Equal(t, "not probed yet", b.why())
	b.probed(errors.New("refused"))
	require.False(t, b.healthy.Load(), "a first failed probe does not bring an instance in")
	require.Equal(t, "probe: refused", b.why())
}

// A server that answers on an instance's address but names another
// instance (the instance is down and another server holds its port: the
// other region's instance, say) is not that instance: it stays out of
// rotation, saying who answered. One that names itself, or names nobody,
// is in (positive controls).
func TestAnotherInstanceOnTheAddressIsOut(t *testing.T) {
	named := func(name string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/health" {
				_, _ = io.WriteString(w, `{"region":"b","instance":"`+name+`","fault_domain":0}`)
				return
			}
			_, _ = io.WriteString(w, "served by "+name)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	imposter, itself, anonymous := named("aos-b-0"), named("aos-a-1"), newInstance(t)
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	b, err := NewBalancer(topology.RegionA, []string{"aos-a-0", "aos-a-1", "aos-a-2"},
		[]string{host(imposter), host(itself), anonymous.addr()}, time.Hour)
	require.NoError(t, err)
	t.Cleanup(b.Close)
	require.Eventually(t, func() bool { return b.rounds.Load() > 0 }, 10*time.Second, time.Millisecond)
	require.ElementsMatch(t, []string{"aos-a-1", "aos-a-2"}, b.Healthy())
	why := b.Unhealthy()["aos-a-0"]
	require.Contains(t, why, "aos-b-0 answered on aos-a-0's address")
	for i := 0; i < 6; i++ {
		_, body := get(t, b)
		require.NotContains(t, body, "aos-b-0", "a request reached the other server")
	}
}
