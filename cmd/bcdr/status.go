package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bcdr-harness/bcdr/control"
	"github.com/bcdr-harness/bcdr/history"
)

func cmdStatus(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := stateFlag(fs)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	watch := fs.Duration("watch", 0, "print the status again every interval (e.g. 2s) until Ctrl-C")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, `Usage: bcdr status [--json] [--watch D] [--state DIR]

Shows the environment bcdr up started: each region's role (front door, SQL,
blob store), the active region, limited mode, SQL log-shipping and blob
replication lag (service and wall time), the AOS instances per fault domain
with their health, the links that are cut, the injected faults, the
workload's writes and the newest runbook events.

Flags:
`)
			printFlags(stdout, fs)
			return errHelp
		}
		return usagef("status: %v", err)
	}
	if len(pos) > 0 {
		return usagef("status: unexpected argument %q", pos[0])
	}
	c, err := control.Dial(*dir)
	if err != nil {
		return err
	}
	for {
		st, err := c.Status(ctx)
		if err != nil {
			if *watch > 0 && ctx.Err() != nil {
				return nil
			}
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(st); err != nil {
				return err
			}
		} else {
			if *watch > 0 {
				if f, ok := stdout.(*os.File); ok && isTerminal(f.Fd()) {
					fmt.Fprint(stdout, "\033[H\033[2J") // clear the screen between readings
				} else {
					fmt.Fprintf(stdout, "--- %s\n", time.Now().Format("15:04:05"))
				}
			}
			printStatus(stdout, st)
		}
		if *watch <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*watch):
		}
	}
}

func svc(seconds float64) string { return shortService(time.Duration(seconds * float64(time.Second))) }

// printStatus prints the environment's status for a person: the regions,
// replication, fault domains, faults and links, workload and recent events.
func printStatus(w io.Writer, st control.Status) {
	printRegions(w, st)
	fmt.Fprintln(w)
	printReplication(w, st.SQL, st.Blob)
	printFaultDomains(w, st.Regions)
	printFaults(w, st.Links, st.Faults)
	printActivity(w, st.Workload, st.Events)
}

// printRegions prints the scenario line, the active region and limited
// mode, and a table of the regions.
func printRegions(w io.Writer, st control.Status) {
	lim := "unknown (" + st.LimitedModeError + ")"
	if st.LimitedMode != nil {
		lim = map[bool]string{true: "ON (maintenance refused, financial reporting unavailable)", false: "off"}[*st.LimitedMode]
	}
	fmt.Fprintf(w, "%s on %s (%s), scale %g, up %s wall / %s service\n", st.Scenario, st.Provider, st.SQLEngine, st.TimeScale,
		time.Duration(st.UpWallS*float64(time.Second)).Round(time.Second), svc(st.UpServiceS))
	fmt.Fprintf(w, "active region: %s    limited mode: %s\n\n", st.Active, lim)

	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "REGION\tROLE\tSQL\tBLOB\tPOWER\tINSTANCES HEALTHY\n")
	for _, r := range st.Regions {
		h := 0
		for _, in := range r.Instances {
			if in.Healthy {
				h++
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\n", r.Name, r.Role, r.SQLRole, r.BlobRole, map[bool]string{true: "up", false: "DOWN"}[r.Up], h, len(r.Instances))
	}
	tw.Flush()
}

// printReplication prints SQL log shipping and blob replication with
// their lags, or why their status is unavailable.
func printReplication(w io.Writer, s control.SQLStatus, b control.BlobStatus) {
	if s.Error != "" {
		fmt.Fprintf(w, "SQL log shipping: status unavailable: %s\n", s.Error)
	} else {
		state := "shipping"
		if !s.Shipping {
			state = "NOT shipping"
		}
		fmt.Fprintf(w, "SQL log shipping %s -> %s: %s, lag %s service (%.1fs wall)\n", s.Primary, s.Secondary, state, svc(s.LagServiceS), s.LagWallS)
		fmt.Fprintf(w, "  newest log backup %s, copied %s, restored %s; errors: backup %d, copy %d\n",
			orDash(s.Backup.LSN), orDash(s.Copy.LSN), orDash(s.Restore.LSN), s.BackupErrors, s.CopyErrors)
	}
	if b.Error != "" {
		fmt.Fprintf(w, "blob replication: status unavailable: %s\n", b.Error)
	} else {
		state := "replicating"
		if !b.Replicating {
			state = "NOT replicating"
		}
		fmt.Fprintf(w, "blob replication %s -> %s: %s, %d pending, lag %s service (%.1fs wall), %d errors\n",
			b.Source, b.Destination, state, b.Pending, svc(b.LagServiceS), b.LagWallS, b.Errors)
	}
}

// printFaultDomains prints, per region, each fault domain's healthy and
// total instances, marking the unhealthy ones.
func printFaultDomains(w io.Writer, regions []control.RegionStatus) {
	fmt.Fprintf(w, "\ninstances per fault domain (healthy/total; ! marks an instance down or failing its probe):\n")
	for _, r := range regions {
		byFD := map[int][]control.InstanceStatus{}
		var fds []int
		for _, in := range r.Instances {
			if _, ok := byFD[in.FaultDomain]; !ok {
				fds = append(fds, in.FaultDomain)
			}
			byFD[in.FaultDomain] = append(byFD[in.FaultDomain], in)
		}
		sort.Ints(fds)
		var cells []string
		for _, fd := range fds {
			h := 0
			var bad []string
			for _, in := range byFD[fd] {
				if in.Healthy {
					h++
				} else {
					bad = append(bad, fmt.Sprintf("!%d", in.Index))
				}
			}
			cell := fmt.Sprintf("fd%d %d/%d", fd, h, len(byFD[fd]))
			if len(bad) > 0 {
				cell += " " + strings.Join(bad, ",")
			}
			cells = append(cells, cell)
		}
		fmt.Fprintf(w, "  region %s: %s\n", r.Name, strings.Join(cells, "   "))
	}
}

// printFaults prints the links cut and the faults injected, each with
// whether it took effect.
func printFaults(w io.Writer, links []control.LinkStatus, faults []control.ActiveFault) {
	var cut []string
	for _, l := range links {
		if l.Cut != nil && *l.Cut {
			cut = append(cut, l.Name)
		}
	}
	if len(cut) > 0 {
		fmt.Fprintf(w, "\nlinks cut: %s\n", strings.Join(cut, ", "))
	}
	if len(faults) > 0 {
		fmt.Fprintf(w, "\ninjected faults:\n")
		for _, f := range faults {
			eff := "took effect"
			if !f.Verified {
				eff = "NOT confirmed: " + f.VerifyError
			}
			fmt.Fprintf(w, "  %d  %s %s  since %s (%s ago), %s\n", f.ID, f.Name, formatParams(f.Params), f.Injected.Format("15:04:05"),
				time.Since(f.Injected).Round(time.Second), eff)
		}
	} else {
		fmt.Fprintf(w, "\nno fault injected\n")
	}
}

// printActivity prints the workload's counts and the eight newest events.
func printActivity(w io.Writer, wl control.WorkloadCounts, events []control.Event) {
	fmt.Fprintf(w, "\nworkload: %d acknowledged writes, %d failed, %d unknown", wl.Acknowledged, wl.Failed, wl.Unknown)
	if !wl.LastOK.IsZero() {
		fmt.Fprintf(w, "; last acknowledged %s ago", time.Since(wl.LastOK).Round(100*time.Millisecond))
	}
	fmt.Fprintln(w)
	if len(events) > 0 {
		fmt.Fprintf(w, "recent events:\n")
		evs := events
		if len(evs) > 8 {
			evs = evs[len(evs)-8:]
		}
		for _, e := range evs {
			fmt.Fprintf(w, "  %s  %s\n", e.Wall.Format("15:04:05"), describe(history.Op{Key: e.Name, Value: e.Value}))
		}
	}
}
