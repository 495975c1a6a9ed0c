package pgship

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Explain says where log shipping stands and why the secondary may not be
// catching up: the three positions, the copy job's last failure, a share
// marked lost, the newest files waiting in the secondary's share and
// restore dirs, the segment its restore_command last missed, its replay
// position and its log's last lines. It is for error messages
// (topology.InitialSync's), so it never fails: what it cannot read it
// says so.
func (p *Shipping) Explain(ctx context.Context) string {
	p.mu.Lock()
	prim, sec := p.nodes[p.primary], p.nodes[p.secondary]
	var b strings.Builder
	fmt.Fprintf(&b, "primary %s, secondary %s, shipping %v; backup %s, copy %s, restore %s; %d backup and %d copy failures",
		p.primary, p.secondary, p.shipping, lsnOrNone(p.backup.LSN), lsnOrNone(p.copy.LSN), lsnOrNone(p.restore.LSN), p.backupErrors, p.copyErrors)
	for r, lost := range p.shareLost {
		if lost {
			fmt.Fprintf(&b, "; region %s's log share is marked lost", r)
		}
	}
	floor := p.copyFloor
	p.mu.Unlock()
	if floor > 0 {
		fmt.Fprintf(&b, "; copies start at segment %X", floor)
	}
	p.copyLog.mu.Lock()
	if p.copyLog.last != "" {
		fmt.Fprintf(&b, "; copy failing (%d times): %s", p.copyLog.failed, p.copyLog.last)
	}
	p.copyLog.mu.Unlock()
	fmt.Fprintf(&b, "; archive of %s: %s", prim.name, newestFiles(listDir(prim.dirs.Archive), 3))
	fmt.Fprintf(&b, "; share of %s: %s", sec.name, newestFiles(listDir(sec.dirs.Incoming), 3))
	fmt.Fprintf(&b, "; restore dir of %s: %s", sec.name, newestFiles(listDir(sec.dirs.Restore), 3))
	if m := readMiss(sec); m != "" {
		fmt.Fprintf(&b, "; its restore_command last missed %s", m)
	}
	if !sec.Running() {
		fmt.Fprintf(&b, "; its server is down")
	} else {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := sec.Connect(qctx)
		if err == nil {
			pos, perr := replayPosition(qctx, conn)
			_ = conn.Close(context.Background())
			err = perr
			if err == nil {
				fmt.Fprintf(&b, "; it has replayed to %s", pos.LSN)
			}
		}
		cancel()
		if err != nil {
			fmt.Fprintf(&b, "; its replay position cannot be read: %v", err)
		}
	}
	fmt.Fprintf(&b, "; its log: %s", strings.ReplaceAll(strings.TrimSpace(sec.LogTail()), "\n", " | "))
	return b.String()
}

// newestFiles names the last n of names in shipping order and how many
// there are.
func newestFiles(names []string, n int) string {
	if len(names) == 0 {
		return "empty"
	}
	sortForShipping(names)
	if len(names) > n {
		return fmt.Sprintf("%d files, newest %s", len(names), strings.Join(names[len(names)-n:], " "))
	}
	return fmt.Sprintf("%d files: %s", len(names), strings.Join(names, " "))
}

func lsnOrNone(lsn string) string {
	if lsn == "" {
		return "none"
	}
	return lsn
}
