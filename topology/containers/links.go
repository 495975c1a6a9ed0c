package containers

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/bcdr-harness/bcdr/topology"
)

// remoteLink is a named link made of proxies in the Toxiproxy container,
// driven through its HTTP API. Cutting it disables every proxy (open
// connections are closed, new ones refused).
type remoteLink struct {
	mu         sync.Mutex
	name       string
	cli        *toxiclient.Client // reads the proxies' state back
	stateBound time.Duration      // 0: proxyStateBound
	proxies    []*toxiclient.Proxy
	toxics     map[string]bool
	addrs      map[string]string // proxy kind ("sql-a", "blob", ...) -> loopback address
	ctr        *ctr              // the Toxiproxy container that runs the proxies
}

// Proxies tells, for each proxy of the link, the loopback address that
// reaches it from the harness (faults.ProxyLister): probes send real bytes
// through the link to observe a fault.
func (l *remoteLink) Proxies() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]string, len(l.addrs))
	for k, v := range l.addrs {
		out[k] = v
	}
	return out
}

var _ topology.Link = (*remoteLink)(nil)

func (l *remoteLink) Name() string { return l.name }

func (l *remoteLink) Cut() error { return l.setAll(false) }

func (l *remoteLink) Restore() error { return l.setAll(true) }

// proxyStateBound bounds one change of a proxy's state, answer and
// confirmation included.
const proxyStateBound = 60 * time.Second

// setAll disables (cut) or enables (restore) every proxy of the link at
// once, so that one slow proxy does not hold the others in their old
// state.
func (l *remoteLink) setAll(enabled bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	verb := "cut"
	if enabled {
		verb = "restore"
	}
	errs := make([]error, len(l.proxies))
	var wg sync.WaitGroup
	for i, p := range l.proxies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := setEnabled(l.cli, p, enabled, l.bound()); err != nil {
				errs[i] = fmt.Errorf("%s link %s (proxy %s): %w", verb, l.name, p.Name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (l *remoteLink) bound() time.Duration {
	if l.stateBound > 0 {
		return l.stateBound
	}
	return proxyStateBound
}

// setEnabled changes one proxy's state and makes sure it took (settle).
func setEnabled(cli *toxiclient.Client, p *toxiclient.Proxy, enabled bool, bound time.Duration) error {
	err := settle(bound, func() error {
		if enabled {
			return p.Enable()
		}
		return p.Disable()
	}, func() (bool, string, error) {
		q, err := cli.Proxy(p.Name)
		if err != nil {
			return false, "", err
		}
		return q.Enabled == enabled, fmt.Sprintf("enabled=%v", q.Enabled), nil
	})
	p.Enabled = enabled
	return err
}

// hasToxic reads back whether a proxy has the named toxic.
func hasToxic(p *toxiclient.Proxy, name string) (bool, error) {
	ts, err := p.Toxics()
	if err != nil {
		return false, err
	}
	for _, t := range ts {
		if t.Name == name {
			return true, nil
		}
	}
	return false, nil
}

// settle runs one change through Toxiproxy's API and makes sure it took.
// The API gives up on a handler after 25 s with a bare 503 while the
// handler carries on (disabling a proxy waits for its accept loop, which
// may be in the middle of dialing the upstream with no timeout), and the
// client has no timeout at all. So a failed or unanswered change is
// followed by reading the state back (reached tells whether the wanted
// state holds, and what the state is) until it holds, within bound; only a
// change that never shows is an error, and it says what the API answered
// and what the state still is.
func settle(bound time.Duration, change func() error, reached func() (bool, string, error)) error {
	start := time.Now()
	callErr := within(bound, change)
	if callErr == nil {
		return nil
	}
	state := "unknown"
	for {
		var ok bool
		var now string
		err := within(5*time.Second, func() (err error) {
			ok, now, err = reached()
			return err
		})
		switch {
		case err != nil:
			state = "unreadable: " + err.Error()
		case ok:
			return nil
		default:
			state = now
		}
		if time.Since(start) >= bound {
			return fmt.Errorf("%w; after %s the state is still %s", callErr, time.Since(start).Round(time.Millisecond), state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// within runs f and waits at most d for it. The Toxiproxy client has no
// timeouts of its own; a call that outlives d goes on in the background
// and its result is dropped.
func within(d time.Duration, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return fmt.Errorf("no answer from the Toxiproxy API within %s", d)
	}
}

func (l *remoteLink) AddToxic(name, typ, stream string, toxicity float64, attrs map[string]any) error {
	if stream == "" {
		stream = "downstream"
	}
	if toxicity == 0 {
		toxicity = 1
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.toxics[name] {
		return fmt.Errorf("link %s already has a toxic named %s", l.name, name)
	}
	for i, p := range l.proxies {
		if err := settle(l.bound(), func() error {
			_, err := p.AddToxic(name, typ, stream, float32(toxicity), toxiclient.Attributes(attrs))
			return err
		}, func() (bool, string, error) {
			has, err := hasToxic(p, name)
			return has, "no toxic " + name, err
		}); err != nil {
			for _, q := range l.proxies[:i] {
				_ = q.RemoveToxic(name)
			}
			return fmt.Errorf("add toxic %s to link %s (proxy %s): %w", name, l.name, p.Name, err)
		}
	}
	l.toxics[name] = true
	return nil
}

func (l *remoteLink) RemoveToxic(name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.toxics[name] {
		return fmt.Errorf("link %s has no toxic named %s", l.name, name)
	}
	delete(l.toxics, name)
	for _, p := range l.proxies {
		if err := settle(l.bound(), func() error { return p.RemoveToxic(name) }, func() (bool, string, error) {
			has, err := hasToxic(p, name)
			return !has, "toxic " + name + " still there", err
		}); err != nil {
			return fmt.Errorf("remove toxic %s from link %s (proxy %s): %w", name, l.name, p.Name, err)
		}
	}
	return nil
}

func (l *remoteLink) Reset() error {
	l.mu.Lock()
	var names []string
	for n := range l.toxics {
		names = append(names, n)
	}
	l.mu.Unlock()
	for _, n := range names {
		if err := l.RemoveToxic(n); err != nil {
			return err
		}
	}
	return l.Restore()
}

// linkSet is every named link of the environment, whichever proxy carries it.
type linkSet struct {
	mu    sync.Mutex
	links map[string]topology.Link
}

func (s *linkSet) put(l topology.Link) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.links == nil {
		s.links = map[string]topology.Link{}
	}
	s.links[l.Name()] = l
}

func (s *linkSet) Get(name string) (topology.Link, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.links[name]
	return l, ok
}

func (s *linkSet) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.links))
	for n := range s.links {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// toxi is the Toxiproxy container's API.
type toxi struct {
	cli   *toxiclient.Client
	links map[string]*remoteLink
	ctr   *ctr               // the Toxiproxy container
	reg   *topology.Registry // the run's record of what it created
}

// proxy creates a proxy listening on a container port and adds it to the
// named link; kind names it among the link's proxies ("sql" first in the
// name makes probes speak the PostgreSQL protocol) and hostAddr is where
// the harness reaches it.
func (t *toxi) proxy(link, name, kind, upstream string, port int, hostAddr string) (*toxiclient.Proxy, error) {
	p, err := t.cli.CreateProxy(name, fmt.Sprintf("0.0.0.0:%d", port), upstream)
	if err != nil {
		return nil, fmt.Errorf("create proxy %s (link %s) to %s: %w", name, link, upstream, err)
	}
	l := t.links[link]
	if l == nil {
		l = &remoteLink{name: link, cli: t.cli, toxics: map[string]bool{}, addrs: map[string]string{}, ctr: t.ctr}
		t.links[link] = l
	}
	l.proxies = append(l.proxies, p)
	l.addrs[kind] = hostAddr
	t.reg.Add(remoteProxyTarget(link, p.Name, t.ctr.ID()))
	return p, nil
}
