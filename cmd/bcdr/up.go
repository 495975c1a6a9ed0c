package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/control"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/blob"
)

func upUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, `Usage: bcdr up [NAME | --file SCENARIO.yaml] [--detach] [--state DIR] [--out DIR] [--set knob=value ...]

Stands the two-region environment up (the topology of the built-in scenario
NAME, default region-outage, or of a scenario file, with any --set knobs) and
keeps it running: in the foreground until Ctrl-C or bcdr down, or with
--detach as a background process that logs to DIR/up.log.

It prints the endpoints, and writes DIR/env.json (mode 0600, in a 0700
directory) with the control API's address and token and the environment's
credentials (SQL connection strings, S3 keys). bcdr inject, recover, status
and down read it. Unless --workload=false, a finance workload (%d writes per
wall second unless the rate knob is set) keeps data flowing so that
replication lag means something; --runbook lets the DR runbook react to a
loss of region a as in a drill (detect, decision window, sign-off, failover,
limited mode, failback once the region is back), and then watch again.

Whatever ends the session (bcdr down, Ctrl-C, the control API stopping), the
recorded history (workload, faults, runbook, lag) is saved before the
environment goes, in the run folder --out names (default
runs/up-NAME-TIME): result.json, history.jsonl, junit.xml and report.html as a
drill writes them, so bcdr report and bcdr trend read it. The verdict comes
from the checks a drill of the injected faults runs (validity; rpo, rto and
failback-loss after a region loss), on the data of the active region taken at
teardown; what a session cannot tell (no fault injected, no --runbook to fail
over, a session ended within the RTO budget) is unknown, never pass. The
folder is printed at the end, and by bcdr down.

Flags:
`, upDefaultRate)
	printFlags(w, fs)
	fmt.Fprintf(w, "\nKnobs: as for bcdr drill (bcdr drill --help lists them).\n")
}

func cmdUp(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var sf scenarioFlags
	sf.register(fs)
	dir := stateFlag(fs)
	detach := fs.Bool("detach", false, "run in the background; return once the environment is up")
	workload := fs.Bool("workload", true, "run the finance workload through the front door")
	runbook := fs.Bool("runbook", false, "run the DR runbook: fail over on a region outage, fail back when it returns")
	out := fs.String("out", "", "run folder the session's history is saved in at teardown (default runs/up-NAME-TIME)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			upUsage(stdout, fs)
			return exitPass, nil
		}
		return exitUsage, usagef("up: %v", err)
	}
	if len(pos) > 1 {
		return exitUsage, usagef("up: unexpected argument %q", pos[1])
	}
	name := ""
	if len(pos) == 1 {
		name = pos[0]
	} else if sf.file == "" {
		name = "region-outage"
	}
	sc, base, err := sf.build(name)
	if err != nil {
		return exitUsage, err
	}
	rateSet := false
	for _, s := range sf.sets {
		rateSet = rateSet || strings.HasPrefix(strings.TrimSpace(s), "rate=")
	}
	if !rateSet && (sf.file == "" || !fileSets(sf.file)["rate"]) {
		sc.Workload.Rate = upDefaultRate
		if sc.Workload.Clients > 4 {
			sc.Workload.Clients = 4
		}
	}
	if st, err := control.ReadState(*dir); err == nil {
		if control.Alive(st.Pid) {
			return exitUsage, usagef("up: an environment is already up under %s (pid %d, since %s); bcdr down first, or --state another directory",
				*dir, st.Pid, st.Started.Format(time.RFC3339))
		}
		fmt.Fprintf(stderr, "bcdr: removing the state file of a run that is gone (pid %d)\n", st.Pid)
		_ = control.RemoveState(*dir)
	}
	// A run folder that cannot be written is a bad argument: find out
	// before anything starts, not at teardown.
	outDir := *out
	if outDir == "" {
		outDir = upOutDir(sc)
	}
	if err := probeOut("up", outDir); err != nil {
		return exitUsage, err
	}
	if abs, err := filepath.Abs(outDir); err == nil {
		outDir = abs
	}
	if *detach && os.Getenv(upChildEnv) == "" {
		// The background process saves into the folder checked here.
		return detachUp(ctx, *dir, append(append([]string(nil), args...), "--out", outDir), stdout, stderr)
	}
	replay := "bcdr up" + strings.TrimPrefix(sf.replay(sc, base), "bcdr drill")
	if *runbook {
		replay += " --runbook"
	}
	if !*workload {
		replay += " --workload=false"
	}
	return runUp(ctx, sc, upOptions{state: *dir, out: outDir, replay: replay, workload: *workload, runbook: *runbook}, stdout, stderr)
}

// upOptions are the settings of one bcdr up session.
type upOptions struct {
	state, out, replay string
	workload, runbook  bool
}

// runUp keeps an environment up in this process until ctx ends or a client
// asks it to go down. Whatever ends it, the recorded history is saved in
// o.out before the environment is closed.
func runUp(ctx context.Context, sc harness.Scenario, o upOptions, stdout, stderr io.Writer) (int, error) {
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	dir, workload, runbook := o.state, o.workload, o.runbook
	ln, token, err := openControl(dir)
	if err != nil {
		return exitInternal, err
	}
	defer ln.Close()
	clk := clock.New(sc.TimeScale())
	sess := newUpSession(sc, o.out, o.replay, runbook, clk)
	rec := sess.rec
	// The folder is named last, after every teardown line.
	saved := false
	defer func() {
		if saved {
			fmt.Fprintln(stdout, savedLine(o.out))
		}
	}()
	save := func(env topology.Environment, reason string) {
		res, err := sess.save(env, reason, logf)
		if err != nil {
			logf("save the history in %s: %v (the teardown goes on)", o.out, err)
			return
		}
		saved = true
		printSummary(stdout, res, o.out)
	}
	logf("bringing up the %s environment (%s, blob %s, %d instances per region over %d fault domains, scale %g)",
		sc.Spec.Provider, sc.Spec.SQLEngine, sc.BlobEngine(), sc.Spec.InstancesPerRegion, sc.Spec.FaultDomains, clk.Scale)
	sess.phase("bring-up")
	start := time.Now()
	env, err := topology.Up(ctx, sc.Spec, clk)
	if err != nil {
		if ctx.Err() != nil {
			logf("interrupted during bring-up; everything started was released")
			save(nil, "interrupted during bring-up")
			return exitUnknown, nil
		}
		save(nil, "bring-up failed: "+err.Error())
		return exitInternal, fmt.Errorf("bring up: %w", err)
	}
	defer func() {
		logf("tearing the environment down")
		if err := env.Close(context.Background()); err != nil {
			logf("tear down: %v", err)
		}
		_ = control.RemoveState(dir)
		logf("down")
	}()
	logf("up in %.1fs", time.Since(start).Seconds())
	if err := harness.AwaitInSync(ctx, env, rec, harness.InSyncLimit); err != nil {
		// A live session is still useful out of sync: say so, go on.
		logf("the pair is not in sync after bring-up: %v", err)
	}
	harness.RecordHealth(ctx, rec, env, "before")
	sess.live()

	life, stopLife := context.WithCancel(context.Background())
	defer stopLife()
	srv := control.NewServer(life, env, rec, token)
	srv.Scenario = sc.Name
	served := make(chan error, 1)
	go func() { served <- srv.Serve(life, ln) }()

	stopDrivers := startDrivers(life, sc, env, clk, sess, workload, runbook, logf)
	// Every way out of here saves the history, after the workload and the
	// runbook stopped and before the environment is closed (the deferred
	// Close above runs after this).
	defer func() {
		_ = control.RemoveState(dir)
		stopDrivers()
		logf("saving the history in %s", o.out)
		save(env, "")
	}()

	st := upState(sc, env, clk, ln.Addr().String(), token, dir, o.out)
	if err := control.WriteState(dir, st); err != nil {
		return exitInternal, err
	}
	printEndpoints(stdout, st, dir)

	code := exitPass
	select {
	case <-ctx.Done():
		logf("interrupted: the usual way to stop a foreground bcdr up")
	case <-srv.Down():
		logf("bcdr down asked for teardown")
	case err := <-served:
		logf("control API stopped: %v", err)
		code = exitInternal
	}
	// Nobody may act on the environment while it goes down; the deferred
	// save stops the workload and the runbook first.
	_ = control.RemoveState(dir)
	return code, nil
}

// openControl prepares the state directory and opens the control API's
// listener on loopback with a fresh token.
func openControl(dir string) (net.Listener, string, error) {
	if err := control.PrepareDir(dir); err != nil {
		return nil, "", err
	}
	token, err := control.NewToken()
	if err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("control API: %w", err)
	}
	return ln, token, nil
}

// startDrivers starts what acts on the environment beside the control
// API: the noise meter, the lag sampler, and the workload and the runbook
// when asked. stop ends them, waits for them and records the noise.
func startDrivers(ctx context.Context, sc harness.Scenario, env topology.Environment, clk *clock.Clock, sess *upSession, workload, runbook bool, logf func(string, ...any)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	rec := sess.rec
	noise := harness.StartNoiseMeter(ctx)
	var wl *harness.Workload
	if workload {
		wl = harness.NewWorkload(sc.Workload, env.Router().URL(), rec, clk, sc.Seed, sc.Budgets.RetryBudget, topology.ProviderAttempt(sc.Spec.Provider))
		wl.Run(ctx)
		wl.Probes(ctx)
	}
	sampled := harness.StartLagSampler(ctx, rec, env)
	rbDone := make(chan struct{})
	if runbook {
		go func() {
			defer close(rbDone)
			watchRunbook(ctx, sc, env, sess, logf)
		}()
	} else {
		close(rbDone)
	}
	return func() {
		cancel()
		if wl != nil {
			wl.Wait()
		}
		<-sampled
		<-rbDone
		noise.Record(rec, wl, harness.LagSampleEvery(clk))
	}
}

// watchRunbook runs the runbook until ctx ends, again each time it has
// failed over and back to region a; it stops watching when the runbook
// fails or leaves another region active.
func watchRunbook(ctx context.Context, sc harness.Scenario, env topology.Environment, sess *upSession, logf func(string, ...any)) {
	for ctx.Err() == nil {
		rb := harness.NewRunbook(sc.Runbook, env, sess.rec)
		rb.OnFailedOver = sess.onFailedOver(env)
		rb.Run(ctx)
		sess.keepCutovers(rb.Cutovers())
		switch {
		case ctx.Err() != nil:
			return
		case rb.Err() != nil:
			logf("runbook stopped: %v", rb.Err())
			return
		case env.Router().Active() != topology.RegionA:
			logf("runbook: region a is not active after failback; not watching again")
			return
		}
		logf("runbook: failed over and back; watching region a again")
	}
}

// upState is the state file of a session that is up: its process, its
// control API, and each region's endpoints (the load balancer, the client
// endpoint and the SQL DSN where the provider has them), the blob
// credentials where the provider has them.
func upState(sc harness.Scenario, env topology.Environment, clk *clock.Clock, addr, token, dir, out string) control.State {
	st := control.State{Pid: os.Getpid(), Control: addr, Token: token, Started: time.Now(), Scenario: sc.Name,
		Provider: sc.Spec.Provider, SQLEngine: sc.Spec.SQLEngine, TimeScale: clk.Scale, Router: env.Router().URL(),
		Regions: map[string]control.RegionEndpoints{}, Out: out}
	if os.Getenv(upChildEnv) != "" {
		st.Log = filepath.Join(dir, control.LogFile)
	}
	dsn, hasDSN := env.SQL().(interface {
		SQLAddr(topology.RegionName) string
		DSN(addr string) string
	})
	for _, r := range []topology.RegionName{topology.RegionA, topology.RegionB} {
		reg := env.Region(r)
		if reg == nil {
			continue
		}
		e := control.RegionEndpoints{LoadBalancer: reg.Endpoint()}
		if ce, ok := reg.(topology.ClientEndpointer); ok {
			e.Client = ce.ClientEndpoint()
		}
		if hasDSN {
			e.SQL = dsn.DSN(dsn.SQLAddr(r))
		}
		st.Regions[string(r)] = e
	}
	if bc, ok := env.(interface{ BlobCredentials() blob.Credentials }); ok {
		c := bc.BlobCredentials()
		st.S3AccessKey, st.S3Secret, st.S3Bucket = c.AppAccessKey, c.AppSecret, blob.Bucket
	}
	return st
}

// detachUp starts `bcdr up` again as a background process in its own
// session and returns once its state file shows the environment up.
func detachUp(ctx context.Context, dir string, args []string, stdout, stderr io.Writer) (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return exitInternal, fmt.Errorf("find own executable: %w", err)
	}
	if err := control.PrepareDir(dir); err != nil {
		return exitInternal, err
	}
	logPath := filepath.Join(dir, control.LogFile)
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return exitInternal, fmt.Errorf("up log: %w", err)
	}
	defer lf.Close()
	cmd := exec.Command(exe, append([]string{"up"}, args...)...)
	cmd.Env = append(os.Environ(), upChildEnv+"=1")
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return exitInternal, fmt.Errorf("start the background process: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Fprintf(stderr, "bcdr: starting the environment in the background (pid %d, log %s)\n", cmd.Process.Pid, logPath)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Minute)
	for {
		select {
		case <-tick.C:
			st, err := control.ReadState(dir)
			if err == nil && st.Pid == cmd.Process.Pid {
				printEndpoints(stdout, st, dir)
				return exitPass, nil
			}
		case err := <-exited:
			return exitInternal, fmt.Errorf("the background process exited before the environment was up (%v); its log:\n%s", err, tail(logPath, 20))
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-exited
			return exitUnknown, fmt.Errorf("interrupted while the environment came up; it was torn down")
		case <-deadline:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			return exitInternal, fmt.Errorf("the environment was not up after 5 minutes; see %s", logPath)
		}
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

func printEndpoints(w io.Writer, st control.State, dir string) {
	fmt.Fprintf(w, "environment up: %s on %s (%s), time scale %g, pid %d\n", st.Scenario, st.Provider, st.SQLEngine, st.TimeScale, st.Pid)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  front door\t%s\n", st.Router)
	var regions []string
	for r := range st.Regions {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	for _, r := range regions {
		e := st.Regions[r]
		line := "load balancer " + e.LoadBalancer
		if e.Client != "" {
			line += "   client path " + e.Client
		}
		fmt.Fprintf(tw, "  region %s\t%s\n", r, line)
	}
	fmt.Fprintf(tw, "  control API\t%s (bearer token in the state file)\n", st.Control)
	fmt.Fprintf(tw, "  credentials\t%s (mode 0600: SQL connection strings, S3 keys, token)\n", filepath.Join(dir, control.StateFile))
	if st.Log != "" {
		fmt.Fprintf(tw, "  log\t%s\n", st.Log)
	}
	if st.Out != "" {
		fmt.Fprintf(tw, "  history\t%s (saved when the session ends)\n", st.Out)
	}
	tw.Flush()
	fmt.Fprintf(w, "next: bcdr status | bcdr inject FAULT [param=value ...] | bcdr recover | bcdr down\n")
}
