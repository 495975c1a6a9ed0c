// Package netlink puts every network path of the environment through an
// embedded Toxiproxy proxy, so that a fault acts on real bytes. A Link is a
// named group of proxies (the WAN, for instance, carries log shipping and
// blob replication in both directions); cutting or slowing a link acts on
// each of its proxies.
package netlink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/ports"
)

// Set holds every link of one environment.
type Set struct {
	mu     sync.Mutex
	server *toxiproxy.ApiServer
	links  map[string]*Link
	reg    *topology.Registry
}

// NewSet returns an empty set backed by an embedded Toxiproxy.
func NewSet() *Set {
	return &Set{
		server: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()),
		links:  map[string]*Link{},
	}
}

// Add creates a proxy on 127.0.0.1 for upstream and files it under the named
// link (creating the link on first use). It returns the address to dial
// instead of upstream.
func (s *Set) Add(link, proxy, upstream string) (string, error) {
	listen, err := ports.Free()
	if err != nil {
		return "", fmt.Errorf("proxy %s/%s: %w", link, proxy, err)
	}
	p := toxiproxy.NewProxy(s.server, link+"/"+proxy, listen, upstream)
	if err := p.Start(); err != nil {
		return "", fmt.Errorf("start proxy %s/%s to %s: %w", link, proxy, upstream, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.links[link]
	if !ok {
		l = &Link{name: link, toxics: map[string]toxic{}}
		s.links[link] = l
	}
	l.mu.Lock()
	l.proxies = append(l.proxies, p)
	// A proxy added to a faulted link starts faulted, like its siblings.
	for _, t := range l.toxics {
		if err := t.addTo(p); err != nil {
			l.mu.Unlock()
			return "", err
		}
	}
	if l.cut {
		p.Stop()
	}
	l.mu.Unlock()
	s.reg.Add(proxyTarget(link, p))
	return p.Listen, nil
}

// Own records every proxy of the set, and every one added later, in reg:
// they are the run's (the blast-radius guard, topology.Owner).
func (s *Set) Own(reg *topology.Registry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reg = reg
	for _, l := range s.links {
		for _, t := range l.Targets() {
			reg.Add(t)
		}
	}
}

// proxyTarget names a proxy of a link by its name and listen address.
func proxyTarget(link string, p *toxiproxy.Proxy) topology.Target {
	return topology.Target{Kind: topology.TargetProxy, ID: p.Name + "@" + p.Listen, Name: "link " + link}
}

// Targets names the link's proxies (topology.Targeter).
func (l *Link) Targets() []topology.Target {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]topology.Target, 0, len(l.proxies))
	for _, p := range l.proxies {
		out = append(out, proxyTarget(l.name, p))
	}
	return out
}

// Get returns a link by name.
func (s *Set) Get(name string) (topology.Link, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.links[name]
	if !ok {
		return nil, false
	}
	return l, true
}

// Names lists the links, sorted.
func (s *Set) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.links))
	for n := range s.links {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Close stops every proxy.
func (s *Set) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.links {
		l.mu.Lock()
		for _, p := range l.proxies {
			p.Stop()
		}
		l.mu.Unlock()
	}
}

// Link is a named group of proxies.
type Link struct {
	mu      sync.Mutex
	name    string
	proxies []*toxiproxy.Proxy
	cut     bool
	toxics  map[string]toxic
}

type toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Toxicity   float64        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

func (t toxic) addTo(p *toxiproxy.Proxy) error {
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("toxic %s: %w", t.Name, err)
	}
	if _, err := p.Toxics.AddToxicJson(bytes.NewReader(b)); err != nil {
		return fmt.Errorf("add toxic %s to %s: %w", t.Name, p.Name, err)
	}
	return nil
}

// Name is the link's name.
func (l *Link) Name() string { return l.name }

// Cut closes every connection and refuses new ones.
func (l *Link) Cut() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = true
	for _, p := range l.proxies {
		p.Stop()
	}
	return nil
}

// Restore accepts connections again.
func (l *Link) Restore() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = false
	for _, p := range l.proxies {
		if p.Enabled {
			continue
		}
		if err := p.Start(); err != nil {
			return fmt.Errorf("restore link %s (%s): %w", l.name, p.Name, err)
		}
	}
	return nil
}

// IsCut tells whether the link is cut.
func (l *Link) IsCut() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.cut }

// AddToxic adds a Toxiproxy toxic to every proxy of the link.
func (l *Link) AddToxic(name, typ, stream string, toxicity float64, attrs map[string]any) error {
	if stream == "" {
		stream = "downstream"
	}
	if toxicity == 0 {
		toxicity = 1
	}
	t := toxic{Name: name, Type: typ, Stream: stream, Toxicity: toxicity, Attributes: attrs}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.toxics[name]; dup {
		return fmt.Errorf("link %s already has a toxic named %s", l.name, name)
	}
	for i, p := range l.proxies {
		if err := t.addTo(p); err != nil {
			for _, q := range l.proxies[:i] {
				_ = q.Toxics.RemoveToxic(context.Background(), name)
			}
			return err
		}
	}
	l.toxics[name] = t
	return nil
}

// RemoveToxic removes a toxic from every proxy of the link.
func (l *Link) RemoveToxic(name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.toxics[name]; !ok {
		return fmt.Errorf("link %s has no toxic named %s", l.name, name)
	}
	delete(l.toxics, name)
	for _, p := range l.proxies {
		if err := p.Toxics.RemoveToxic(context.Background(), name); err != nil {
			return fmt.Errorf("remove toxic %s from %s: %w", name, p.Name, err)
		}
	}
	return nil
}

// Reset removes every toxic and restores the link.
func (l *Link) Reset() error {
	l.mu.Lock()
	names := make([]string, 0, len(l.toxics))
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

// Addrs lists the listening address of every proxy.
func (s *Set) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.links {
		l.mu.Lock()
		for _, p := range l.proxies {
			out = append(out, p.Listen)
		}
		l.mu.Unlock()
	}
	return out
}
