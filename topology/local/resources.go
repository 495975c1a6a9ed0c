package local

import "github.com/bcdr-harness/bcdr/topology"

// Resources is everything a local environment holds on this machine.
type Resources struct {
	Pids  []int    // AOS stubs and postgres servers ever started
	Addrs []string // every listening address
	Dirs  []string // directories the environment created
}

// Resources lists what the environment holds, so tests can check that
// Close released all of it.
func (e *Env) Resources() Resources {
	var r Resources
	if e.pair != nil {
		r.Pids = append(r.Pids, e.pair.Pids()...)
		for _, reg := range []topology.RegionName{topology.RegionA, topology.RegionB} {
			r.Addrs = append(r.Addrs, e.pair.SQLAddr(reg), e.pair.ShareAddr(reg))
		}
	}
	for _, reg := range e.regions {
		for _, in := range reg.AOS {
			if pid := in.Pid(); pid != 0 {
				r.Pids = append(r.Pids, pid)
			}
			r.Addrs = append(r.Addrs, in.cfg.Listen)
		}
		if reg.LB != nil {
			r.Addrs = append(r.Addrs, reg.LB.Addr())
		}
	}
	for _, b := range e.blobs {
		r.Addrs = append(r.Addrs, b.Addr())
	}
	if e.router != nil {
		r.Addrs = append(r.Addrs, e.router.URL()[len("http://"):])
	}
	r.Addrs = append(r.Addrs, e.links.Addrs()...)
	if e.ownDir {
		r.Dirs = append(r.Dirs, e.workDir)
	}
	return r
}
