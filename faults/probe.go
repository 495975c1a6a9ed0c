package faults

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/bcdr-harness/bcdr/topology"
)

// ProxyLister is a link that tells the addresses of its proxies (name to
// dial address), so a probe can send real bytes through it. The embedded
// provider's links (package netlink) have it.
type ProxyLister interface {
	Proxies() map[string]string
}

// probeOutcome is what one request through a link saw.
type probeOutcome struct {
	Proxy string
	Addr  string
	Took  time.Duration
	Bytes int
	// Result is "ok" (an answer came back), "refused" (no listener),
	// "closed" (the connection ended with no answer), "reset" (reset by
	// peer) or "hang" (no answer before the deadline).
	Result string
	Err    string
}

func (o probeOutcome) String() string {
	s := fmt.Sprintf("%s via %s: %s after %s", o.Proxy, o.Addr, o.Result, o.Took.Round(time.Millisecond))
	if o.Err != "" {
		s += " (" + o.Err + ")"
	}
	return s
}

// proxyAddr is one proxy of a link and the address clients dial.
type proxyAddr struct{ name, addr string }

// linkProxies lists the proxies of a link that probes can send through,
// HTTP-speaking upstreams first, then SQL ones.
func linkProxies(env topology.Environment, link string) ([]proxyAddr, error) {
	l, ok := env.Links().Get(link)
	if !ok {
		return nil, fmt.Errorf("no link %s", link)
	}
	pl, ok := l.(ProxyLister)
	if !ok {
		return nil, fmt.Errorf("link %s does not expose its proxy addresses on this provider, so no request can be sent through it to observe the fault", link)
	}
	var out []proxyAddr
	for n, a := range pl.Proxies() {
		out = append(out, proxyAddr{n, a})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("link %s has no proxies", link)
	}
	sort.Slice(out, func(i, j int) bool {
		si, sj := strings.HasPrefix(out[i].name, "sql"), strings.HasPrefix(out[j].name, "sql")
		if si != sj {
			return !si
		}
		return out[i].name < out[j].name
	})
	return out, nil
}

// probeLink sends one request through the first proxy of a link and reads
// the answer. pad adds that many bytes to the request.
func probeLink(ctx context.Context, env topology.Environment, link string, pad int, timeout time.Duration) (probeOutcome, error) {
	ps, err := linkProxies(env, link)
	if err != nil {
		return probeOutcome{}, err
	}
	return probeAddr(ctx, ps[0].name, ps[0].addr, pad, timeout), nil
}

// probeAddr speaks just enough of the upstream's protocol to get an answer:
// PostgreSQL's SSLRequest (or a padded startup message) for SQL proxies, an
// HTTP GET for the rest.
func probeAddr(ctx context.Context, proxy, addr string, pad int, timeout time.Duration) probeOutcome {
	o := probeOutcome{Proxy: proxy, Addr: addr}
	start := time.Now()
	defer func() { o.Took = time.Since(start) }()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		o.Result, o.Err = classify(err), err.Error()
		o.Took = time.Since(start)
		return o
	}
	defer conn.Close()
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	var req []byte
	if strings.HasPrefix(proxy, "sql") {
		req = pgProbe(pad)
	} else {
		h := "GET /bcdr-link-probe HTTP/1.1\r\nHost: bcdr-probe\r\nConnection: close\r\n"
		if pad > 0 {
			h += "X-Bcdr-Pad: " + strings.Repeat("x", pad) + "\r\n"
		}
		req = []byte(h + "\r\n")
	}
	if _, err := conn.Write(req); err != nil {
		o.Result, o.Err = classify(err), err.Error()
		o.Took = time.Since(start)
		return o
	}
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		o.Bytes += n
		if strings.HasPrefix(proxy, "sql") && o.Bytes > 0 {
			break // one answer byte is enough; the server waits for more
		}
		if err != nil {
			if o.Bytes > 0 && errors.Is(err, io.EOF) {
				break
			}
			if o.Bytes == 0 {
				o.Result, o.Err = classify(err), err.Error()
				o.Took = time.Since(start)
				return o
			}
			break
		}
	}
	o.Took = time.Since(start)
	o.Result = "ok"
	return o
}

// pgProbe is an SSLRequest, or with pad a startup message whose
// application_name carries the padding (at most 9000 bytes: PostgreSQL
// refuses startup packets over 10000).
func pgProbe(pad int) []byte {
	if pad <= 0 {
		b := make([]byte, 8)
		binary.BigEndian.PutUint32(b[0:], 8)
		binary.BigEndian.PutUint32(b[4:], 80877103)
		return b
	}
	if pad > 9000 {
		pad = 9000
	}
	body := []byte{0, 3, 0, 0}
	for _, kv := range [][2]string{{"user", "bcdr_probe"}, {"database", "bcdr_probe"}, {"application_name", strings.Repeat("x", pad)}} {
		body = append(body, kv[0]...)
		body = append(body, 0)
		body = append(body, kv[1]...)
		body = append(body, 0)
	}
	body = append(body, 0)
	b := make([]byte, 4, 4+len(body))
	binary.BigEndian.PutUint32(b, uint32(4+len(body)))
	return append(b, body...)
}

func classify(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "hang"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	default:
		return "closed"
	}
}

// probeMedian probes a proxy n times and returns the outcome with the
// median time (a failed probe is returned at once).
func probeMedian(ctx context.Context, via proxyAddr, pad, n int, timeout time.Duration) probeOutcome {
	var outs []probeOutcome
	for i := 0; i < n; i++ {
		o := probeAddr(ctx, via.name, via.addr, pad, timeout)
		if o.Result != "ok" {
			return o
		}
		outs = append(outs, o)
	}
	sort.Slice(outs, func(i, j int) bool { return outs[i].Took < outs[j].Took })
	return outs[len(outs)/2]
}

// httpHealth asks url/health and returns the status (0 when no answer).
func httpHealth(ctx context.Context, url string, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/health", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
