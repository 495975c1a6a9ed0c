package containers

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"

	"github.com/bcdr-harness/bcdr/topology"
)

// The blast-radius guard on Docker: a fault acts only on the containers,
// networks and Toxiproxy proxies this run created (recorded in the Env's
// registry as they are made), and a container must still carry this run's
// label when a fault strikes (read from the engine).

// Owns tells whether the run created the target (topology.Owner).
func (e *Env) Owns(ctx context.Context, t topology.Target) error { return e.reg.Owns(ctx, t) }

// own sets up the run's registry: the client links and the label check.
func (e *Env) own() {
	e.reg = topology.NewRegistry(e.runID)
	e.client.Own(e.reg)
	e.reg.Verify(topology.TargetContainer, func(ctx context.Context, t topology.Target) error {
		cli, err := docker(ctx)
		if err != nil {
			return fmt.Errorf("cannot read its labels: %w", err)
		}
		res, err := cli.ContainerInspect(ctx, t.ID, client.ContainerInspectOptions{})
		if err != nil {
			return fmt.Errorf("cannot read its labels: %w", err)
		}
		var labels map[string]string
		if res.Container.Config != nil {
			labels = res.Container.Config.Labels
		}
		return checkRunLabel(labels, e.runID)
	})
}

// checkRunLabel fails unless labels carry the run's id.
func checkRunLabel(labels map[string]string, runID string) error {
	got, ok := labels[LabelRun]
	switch {
	case !ok:
		return fmt.Errorf("it has no %s label (this run labels everything %s=%s)", LabelRun, LabelRun, runID)
	case got != runID:
		return fmt.Errorf("its label is %s=%s, another run's (this run is %s)", LabelRun, got, runID)
	}
	return nil
}

// ctrTarget names a container of the run.
func ctrTarget(c *ctr) topology.Target {
	return topology.Target{Kind: topology.TargetContainer, ID: c.ID(), Name: c.spec.Name}
}

// Targets names the instance's container (topology.Targeter).
func (in *Instance) Targets() []topology.Target { return []topology.Target{ctrTarget(in.c)} }

// PartTargets names the containers of a part of the region
// (topology.PartTargeter).
func (r *Region) PartTargets(part string) []topology.Target {
	var out []topology.Target
	if part == topology.PartAll {
		for _, in := range r.AOS {
			out = append(out, in.Targets()...)
		}
	}
	if c := r.env.sql.ctrs[r.RegionName]; c != nil && (part == topology.PartSQL || part == topology.PartAll) {
		out = append(out, ctrTarget(c))
	}
	if s := r.env.s3s[r.RegionName]; s != nil && s.c != nil && (part == topology.PartBlob || part == topology.PartAll) {
		out = append(out, ctrTarget(s.c))
	}
	return out
}

// remoteProxyTarget names a proxy of the run's Toxiproxy container.
func remoteProxyTarget(link, proxy, container string) topology.Target {
	return topology.Target{Kind: topology.TargetProxy, ID: proxy + "@" + shortID(container), Name: "link " + link}
}

// Targets names the link's proxies and the Toxiproxy container that runs
// them (topology.Targeter).
func (l *remoteLink) Targets() []topology.Target {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []topology.Target
	if l.ctr != nil {
		out = append(out, ctrTarget(l.ctr))
	}
	for _, p := range l.proxies {
		out = append(out, remoteProxyTarget(l.name, p.Name, l.ctr.ID()))
	}
	return out
}
