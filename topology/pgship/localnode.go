package pgship

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/jackc/pgx/v5"

	"github.com/bcdr-harness/bcdr/topology"
)

// A local region is the engine's Node: a postmaster of this process's, its
// directories, and a share server that takes uploads from the other
// region's copy job.

var _ Node = (*region)(nil)

// Region implements Node.
func (r *region) Region() topology.RegionName { return r.name }

// Connect implements Node.
func (r *region) Connect(ctx context.Context) (*pgx.Conn, error) { return r.p.admin(ctx, r) }

// Running implements Node.
func (r *region) Running() bool { return r.srv != nil && r.srv.running() }

// Dirs implements Node.
func (r *region) Dirs() Dirs {
	return Dirs{Archive: r.archive, Incoming: r.share, Restore: r.restore, MissFile: r.missFile()}
}

// ListArchive implements Node: the primary's archive directory is on this
// machine; only the upload crosses the WAN.
func (r *region) ListArchive(ctx context.Context, from Node) ([]string, error) {
	return listDir(from.Dirs().Archive), nil
}

// Fetch implements Node: the file is uploaded to this region's share
// server through WANDial("share", this region).
func (r *region) Fetch(ctx context.Context, from Node, name string) error {
	addr := r.p.wanAddr("share", r.name)
	if err := uploadFile(ctx, r.p.http, addr, filepath.Join(from.Dirs().Archive, name)); err != nil {
		return fmt.Errorf("upload to region %s's share via %s: %w", r.name, addr, err)
	}
	return nil
}

// Rebuild implements Node: a base backup through WANDial("sql", primary).
func (r *region) Rebuild(ctx context.Context, primary topology.RegionName) (uint64, error) {
	addr := r.p.wanAddr("sql", primary)
	floor, err := r.p.rebuildStandby(ctx, r, addr)
	if err != nil {
		return 0, fmt.Errorf("via %s: %w", addr, err)
	}
	return floor, nil
}

func (p *Pair) wanAddr(kind string, to topology.RegionName) string {
	if p.cfg.WANDial != nil {
		if a := p.cfg.WANDial(kind, to); a != "" {
			return a
		}
	}
	if kind == "share" {
		return p.ShareAddr(to)
	}
	return p.SQLAddr(to)
}
