package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/topology"
)

// Network faults act on one named link (see LinkNames): real bytes cross an
// embedded Toxiproxy (or a Toxiproxy container), so a toxic or a cut changes
// what every client of the link sees. Magnitudes of delays are wall time:
// a network delay is physical and does not shrink with the time scale.

func init() {
	registerLinkToxics()
	registerPartitions()
}

// linkParam is the link parameter of a fault on one named link, with its
// default.
func linkParam(def string) Param {
	return Param{"link", def, "named link: client-a|b, aos-sql-a|b, aos-blob-a|b, wan"}
}

// pickLink picks one of LinkNames.
func pickLink(rng *rand.Rand) string { names := LinkNames(); return names[rng.IntN(len(names))] }

// registerLinkToxics registers the faults that degrade a named link with
// Toxiproxy toxics: latency, a bandwidth limit, resets, a black hole.
func registerLinkToxics() {
	Register(Definition{Name: "link-latency", Class: Network, Targets: "link",
		Help: "added latency with jitter on every connection of a link (Toxiproxy latency toxic, downstream)",
		Params: []Param{linkParam("wan"), {"latency", "300ms", "added delay per chunk, wall time (1ms-10s)"},
			{"jitter", "50ms", "random +/- around the latency, wall time (0 to latency)"}},
		Build: func(p Params) (Fault, error) {
			link, err := p.Link("link")
			if err != nil {
				return nil, err
			}
			lat, err := p.Duration("latency", time.Millisecond, 10*time.Second)
			if err != nil {
				return nil, err
			}
			jit, err := p.Duration("jitter", 0, lat)
			if err != nil {
				return nil, err
			}
			return &linkFault{name: "link-latency", link: link, expect: "slower", minExtra: (lat - jit) / 2,
				toxics: []toxicSpec{{"latency", "downstream", map[string]any{"latency": lat.Milliseconds(), "jitter": jit.Milliseconds()}}}}, nil
		},
		// The WAN carries only shipping and replication: 100 ms to 1 s of
		// wall latency slows them, which lag and rpo judge. A client-path
		// link (client, aos-sql, aos-blob) is crossed several times by every
		// request, and its latency is wall time the scaled clock multiplies
		// (300 ms is a minute of service at scale 200): a random schedule
		// picks 1 to 10 ms there, a slow network a retry absorbs, so
		// fault-domain-availability judges the slowdown rather than an
		// outage no promise covers. A scenario may still ask for more.
		Pick: func(rng *rand.Rand, _ topology.Spec) Params {
			link := pickLink(rng)
			lat := 100 + rng.IntN(900)
			if link != "wan" {
				lat = 1 + rng.IntN(10)
			}
			return Params{"link": link, "latency": fmt.Sprintf("%dms", lat), "jitter": fmt.Sprintf("%dms", rng.IntN(lat/4+1))}
		}})
	Register(Definition{Name: "link-bandwidth", Class: Network, Targets: "link",
		Help:   "bandwidth limit on a link, both directions (Toxiproxy bandwidth toxic)",
		Params: []Param{linkParam("wan"), {"rate", "16", "KB/s in each direction (1-1000)"}},
		Build: func(p Params) (Fault, error) {
			link, err := p.Link("link")
			if err != nil {
				return nil, err
			}
			rate, err := p.Int("rate", 1, 1000)
			if err != nil {
				return nil, err
			}
			// The probe carries 200 ms worth of bytes at the limit (the
			// toxic sleeps len/rate ms per chunk), capped for PostgreSQL's
			// startup packet on SQL-only links.
			pad := rate * 200
			return &linkFault{name: "link-bandwidth", link: link, expect: "slower", pad: pad, rate: rate,
				toxics: []toxicSpec{{"bandwidth", "upstream", map[string]any{"rate": rate}}, {"bandwidth", "downstream", map[string]any{"rate": rate}}}}, nil
		},
		Pick: func(rng *rand.Rand, _ topology.Spec) Params {
			return Params{"link": pickLink(rng), "rate": strconv.Itoa(4 + rng.IntN(40))}
		}})
	Register(Definition{Name: "link-reset", Class: Network, Targets: "link",
		Help:   "connection resets: every connection of the link is reset as soon as the client sends (Toxiproxy reset_peer, timeout 0)",
		Params: []Param{linkParam("aos-sql-a")},
		Build: func(p Params) (Fault, error) {
			link, err := p.Link("link")
			if err != nil {
				return nil, err
			}
			return &linkFault{name: "link-reset", link: link, expect: "reset",
				toxics: []toxicSpec{{"reset_peer", "upstream", map[string]any{"timeout": 0}}}}, nil
		},
		Pick: func(rng *rand.Rand, _ topology.Spec) Params { return Params{"link": pickLink(rng)} }})
	Register(Definition{Name: "link-blackhole", Class: Network, Targets: "link",
		Help:   "black hole: bytes vanish in both directions and connections hang (Toxiproxy timeout toxic, timeout 0)",
		Params: []Param{linkParam("aos-blob-a")},
		Build: func(p Params) (Fault, error) {
			link, err := p.Link("link")
			if err != nil {
				return nil, err
			}
			return &linkFault{name: "link-blackhole", link: link, expect: "hang",
				toxics: []toxicSpec{{"timeout", "upstream", map[string]any{"timeout": 0}}, {"timeout", "downstream", map[string]any{"timeout": 0}}}}, nil
		},
		Pick: func(rng *rand.Rand, _ topology.Spec) Params { return Params{"link": pickLink(rng)} }})
}

// registerPartitions registers the faults that partition a link, whole or
// one way: any named link, the WAN, or a region's AOS-to-SQL link.
func registerPartitions() {
	Register(Definition{Name: "link-partition", Class: Network, Targets: "link",
		Help:   "full partition of a link: open connections dropped, new ones refused",
		Params: []Param{linkParam("wan")},
		Build: func(p Params) (Fault, error) {
			link, err := p.Link("link")
			if err != nil {
				return nil, err
			}
			return &linkFault{name: "link-partition", link: link, expect: "refused", cut: true}, nil
		},
		Pick: func(rng *rand.Rand, _ topology.Spec) Params { return Params{"link": pickLink(rng)} }})
	Register(Definition{Name: "link-one-way", Class: Network, Targets: "link",
		Help: "one-way partition: bytes in one direction vanish, the other direction flows (Toxiproxy timeout toxic on one stream)",
		Params: []Param{linkParam("wan"),
			{"direction", "downstream", "the direction that is lost: upstream (requests) or downstream (answers)"}},
		Build: func(p Params) (Fault, error) {
			link, err := p.Link("link")
			if err != nil {
				return nil, err
			}
			dir, err := p.OneOf("direction", "upstream", "downstream")
			if err != nil {
				return nil, err
			}
			return &linkFault{name: "link-one-way", link: link, expect: "hang", oneWay: dir,
				toxics: []toxicSpec{{"timeout", dir, map[string]any{"timeout": 0}}}}, nil
		},
		Pick: func(rng *rand.Rand, _ topology.Spec) Params {
			return Params{"link": pickLink(rng), "direction": []string{"upstream", "downstream"}[rng.IntN(2)]}
		}})
	Register(Definition{Name: "wan-partition", Class: Network, Targets: "the WAN link",
		Help:   "partition between the regions: log shipping and blob replication stall while the primary keeps serving",
		Params: []Param{},
		Build: func(p Params) (Fault, error) {
			return &linkFault{name: "wan-partition", link: topology.LinkWAN, expect: "refused", cut: true}, nil
		}})
	Register(Definition{Name: "aos-sql-partition", Class: Network, Targets: "region",
		Help:   "the AOS instances of a region lose their SQL server (its aos-sql link cut); the server itself keeps running",
		Params: []Param{{"region", "a", "region"}},
		Build: func(p Params) (Fault, error) {
			r, err := p.Region("region")
			if err != nil {
				return nil, err
			}
			return &linkFault{name: "aos-sql-partition", link: topology.LinkName(topology.LinkAOSSQL, r), expect: "refused", cut: true}, nil
		}})
}

// toxicSpec is one toxic a link fault adds.
type toxicSpec struct {
	typ, stream string
	attrs       map[string]any
}

// linkFault is the primitive network fault: toxics on, or a cut of, one
// link. Verify sends a request through the link and compares it with the
// same request sent before the fault.
type linkFault struct {
	name     string
	link     string
	toxics   []toxicSpec
	cut      bool
	expect   string        // slower, reset, hang, refused
	minExtra time.Duration // for slower: least extra time a probe must take
	pad      int           // bytes added to the probe
	rate     int           // bandwidth, KB/s (for the expected extra time)
	oneWay   string        // the direction a one-way partition loses

	added    []string
	didCut   bool
	via      *proxyAddr // the proxy probes go through
	baseline *probeOutcome
	baseErr  string
	seen     probeOutcome
}

func (f *linkFault) Name() string     { return f.name }
func (f *linkFault) Claims() []string { return linkClaims(f.link) }

func (f *linkFault) CheckTarget(env topology.Environment) error {
	if _, ok := env.Links().Get(f.link); !ok {
		return &Error{fmt.Sprintf("fault %s: the environment has no link %s (has %v)", f.name, f.link, env.Links().Names())}
	}
	return nil
}

func (f *linkFault) Inject(ctx context.Context, env topology.Environment) error {
	l, ok := env.Links().Get(f.link)
	if !ok {
		return fmt.Errorf("no link %s", f.link)
	}
	// A proxy of the link that answers before the fault, and what the same
	// request costs then: Verify compares with it.
	f.via, f.baseline, f.baseErr = nil, nil, ""
	if ps, err := linkProxies(env, f.link); err != nil {
		f.baseErr = err.Error()
	} else {
		n := 1
		if f.expect == "slower" {
			n = 3
		}
		var seen []string
		for _, p := range ps {
			o := probeMedian(ctx, p, f.pad, n, 3*time.Second)
			if o.Result == "ok" {
				p, o := p, o
				f.via, f.baseline = &p, &o
				break
			}
			seen = append(seen, o.String())
		}
		if f.via == nil {
			f.baseErr = "before the fault: " + strings.Join(seen, "; ")
		}
	}
	if f.cut {
		f.didCut = true
		return l.Cut()
	}
	for i, t := range f.toxics {
		name := fmt.Sprintf("bcdr-%s-%d", f.name, i)
		if err := l.AddToxic(name, t.typ, t.stream, 1, t.attrs); err != nil {
			return fmt.Errorf("%s on link %s: %w", t.typ, f.link, err)
		}
		f.added = append(f.added, name)
	}
	return nil
}

func (f *linkFault) Recover(ctx context.Context, env topology.Environment) error {
	l, ok := env.Links().Get(f.link)
	if !ok {
		return fmt.Errorf("no link %s", f.link)
	}
	var errs []error
	for _, n := range f.added {
		errs = append(errs, l.RemoveToxic(n))
	}
	f.added = nil
	if f.didCut {
		errs = append(errs, l.Restore())
		f.didCut = false
	}
	return errors.Join(errs...)
}

// Verify sends a request through the link and checks that it failed or
// slowed the way this fault should make it.
func (f *linkFault) Verify(ctx context.Context, env topology.Environment) error {
	if f.via == nil {
		return fmt.Errorf("no request through link %s succeeded before the fault, so its effect cannot be told: %s", f.link, f.baseErr)
	}
	if f.expect == "slower" {
		want := f.minExtra
		if f.rate > 0 {
			pad := f.pad
			if strings.HasPrefix(f.via.name, "sql") && pad > 9000 {
				pad = 9000 // PostgreSQL's startup packet limit (see pgProbe)
			}
			want = time.Duration(pad) * time.Millisecond / time.Duration(f.rate) / 2
			if want < 20*time.Millisecond {
				return fmt.Errorf("a limit of %d KB/s adds only %s to the largest probe link %s can carry: too little to observe", f.rate, want*2, f.link)
			}
		}
		o := probeMedian(ctx, *f.via, f.pad, 3, f.baseline.Took+want*4+5*time.Second)
		f.seen = o
		if o.Result != "ok" {
			return fmt.Errorf("request through link %s failed instead of slowing: %s", f.link, o)
		}
		if extra := o.Took - f.baseline.Took; extra < want {
			return fmt.Errorf("request through link %s took %s, only %s more than before the fault (%s); expected at least %s more",
				f.link, o.Took.Round(time.Millisecond), extra.Round(time.Millisecond), f.baseline.Took.Round(time.Millisecond), want)
		}
		return nil
	}
	o := probeAddr(ctx, f.via.name, f.via.addr, 0, time.Second)
	f.seen = o
	ok := o.Result == f.expect
	switch f.expect {
	case "refused": // a cut listener refuses; a proxy that is mid-stop may close;
		// behind Docker's port proxy the connection is accepted, then reset
		ok = o.Result == "refused" || o.Result == "closed" || o.Result == "reset"
	case "reset":
		ok = o.Result == "reset" || o.Result == "closed"
	case "hang":
		// With the answers lost, a server that closes after answering
		// shows as a close with no byte received.
		ok = o.Result == "hang" || o.Result == "closed" && f.oneWay == "downstream"
	}
	if !ok {
		return fmt.Errorf("request through link %s: want %s, saw %s (before the fault: %s)", f.link, f.expect, o, f.baseline)
	}
	return nil
}

func (f *linkFault) Evidence() map[string]any {
	ev := map[string]any{"link": f.link, "probe": f.seen.String()}
	if f.baseline != nil {
		ev["probe_before"] = f.baseline.String()
	}
	return ev
}
