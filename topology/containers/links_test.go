package containers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/stretchr/testify/require"
)

// fakeToxiproxy answers the two calls a cut makes, like Toxiproxy does when
// a proxy's stop outlives the API's 25 s handler limit: the POST gets a bare
// 503 and the state changes a while later, or never.
type fakeToxiproxy struct {
	mu       sync.Mutex
	enabled  bool
	applyAt  time.Time // when a requested change takes effect; zero: never
	want     bool
	requests int
	toxics   []string // names of the proxy's toxics
	addToxic string   // a toxic whose creation is pending until applyAt
}

func (f *fakeToxiproxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.applyAt.IsZero() && time.Now().After(f.applyAt) {
		f.enabled = f.want
		if f.addToxic != "" {
			f.toxics, f.addToxic = append(f.toxics, f.addToxic), ""
		}
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/proxies/p/toxics":
		list := []map[string]any{}
		for _, n := range f.toxics {
			list = append(list, map[string]any{"name": n, "type": "latency", "stream": "downstream", "toxicity": 1, "attributes": map[string]any{}})
		}
		_ = json.NewEncoder(w).Encode(list)
	case r.Method == http.MethodPost && r.URL.Path == "/proxies/p/toxics":
		f.requests++
		var in struct{ Name string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		f.addToxic = in.Name
		w.WriteHeader(http.StatusServiceUnavailable)
	case r.Method == http.MethodGet && r.URL.Path == "/proxies/p":
		_ = json.NewEncoder(w).Encode(map[string]any{"name": "p", "listen": "0.0.0.0:1", "upstream": "x:1", "enabled": f.enabled, "toxics": []any{}})
	case r.Method == http.MethodPost && r.URL.Path == "/proxies/p":
		f.requests++
		var in struct{ Enabled bool }
		_ = json.NewDecoder(r.Body).Decode(&in)
		f.want = in.Enabled
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		http.NotFound(w, r)
	}
}

func linkOnFake(t *testing.T, f *fakeToxiproxy) *remoteLink {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cli := toxiclient.NewClient(strings.TrimPrefix(srv.URL, "http://"))
	p, err := cli.Proxy("p")
	require.NoError(t, err)
	return &remoteLink{name: "aos-blob-a", cli: cli, stateBound: 2 * time.Second, proxies: []*toxiclient.Proxy{p}, toxics: map[string]bool{}}
}

// A cut whose API call times out but whose proxy does end up disabled is a
// cut: the link reads the state back instead of failing the fault.
func TestCutConfirmsAStateChangeBehindA503(t *testing.T) {
	f := &fakeToxiproxy{enabled: true, applyAt: time.Now().Add(300 * time.Millisecond)}
	l := linkOnFake(t, f)
	require.NoError(t, l.Cut())
	require.False(t, l.proxies[0].Enabled)
	f.mu.Lock()
	defer f.mu.Unlock()
	require.False(t, f.enabled)
	require.Equal(t, 1, f.requests)
}

// A proxy that never changes state fails the cut, and the error says what
// the API answered and what state the proxy is still in.
func TestCutFailsWhenTheProxyStaysEnabled(t *testing.T) {
	f := &fakeToxiproxy{enabled: true}
	l := linkOnFake(t, f)
	err := l.Cut()
	require.Error(t, err)
	require.Contains(t, err.Error(), "cut link aos-blob-a (proxy p)")
	require.Contains(t, err.Error(), "HTTP 503")
	require.Contains(t, err.Error(), "still enabled=true")
}

// A toxic whose creation the API did not confirm but which shows up on the
// proxy is added; one that never shows up fails with what is there.
func TestAddToxicConfirmsBehindA503(t *testing.T) {
	f := &fakeToxiproxy{enabled: true, applyAt: time.Now().Add(300 * time.Millisecond)}
	l := linkOnFake(t, f)
	require.NoError(t, l.AddToxic("slow", "latency", "", 0, map[string]any{"latency": 100}))

	never := &fakeToxiproxy{enabled: true}
	l = linkOnFake(t, never)
	err := l.AddToxic("slow", "latency", "", 0, map[string]any{"latency": 100})
	require.Error(t, err)
	require.Contains(t, err.Error(), "add toxic slow to link aos-blob-a (proxy p)")
	require.Contains(t, err.Error(), "still no toxic slow")
}
