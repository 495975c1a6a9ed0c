package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/report"
	"github.com/bcdr-harness/bcdr/topology"
)

// Outcome is everything a run produced.
type Outcome struct {
	Result  report.Result
	History history.History
	// Evidence is what the checks read besides the history (nil when the
	// run ended before its checks).
	Evidence *assertions.Evidence
}

// Save writes the run's folder: result.json, history.jsonl, evidence.json,
// junit.xml and report.html. Rejudge reads it back.
func (o *Outcome) Save(dir string) error {
	return report.WriteRun(dir, o.Result, o.History, o.Evidence)
}

// Check returns the result of a named check.
func (o *Outcome) Check(name string) (assertions.Result, bool) {
	return findCheck(o.Result.Checks, name)
}

// DecidingScale is the time scale to run the same drill again at when a
// check was too close to call (assertions.Result.TooClose): the scale at
// which the harness's noise would be a tenth of that check's budget, the
// lowest over such checks. It is 0 when no check was too close or the run
// was that slow already. Running again there is a finer measurement, not
// the same one tried again.
func (o *Outcome) DecidingScale() (float64, string) {
	scale, why := 0.0, ""
	for _, c := range o.Result.Checks {
		if c.TooClose && c.DecideScale > 0 && (scale == 0 || c.DecideScale < scale) {
			scale = c.DecideScale
			why = fmt.Sprintf("check %s was too close to call at scale %g (%.0fs over its budget, noise %.0fs service)",
				c.Name, o.Result.TimeScale, c.ObservedServiceS-c.BudgetServiceS, c.NoiseServiceS)
		}
	}
	if scale == 0 || scale >= o.Result.TimeScale {
		return 0, ""
	}
	return scale, why
}

// MaxRerunSlowdown bounds RerunScale: a rerun at a scale this many times
// lower than the run's would last about this many times longer.
const MaxRerunSlowdown = 4

// RerunScale is DecidingScale (or, for a run too starved to drive its
// workload, half its scale) when a run there would last at most
// slowdown times as long as this one (slowdown <= 0: MaxRerunSlowdown), and
// 0 otherwise: a run too close to call by that much stays unknown, since a
// machine that noisy would make the rerun take hours of wall time.
func (o *Outcome) RerunScale(slowdown float64) (float64, string) {
	if slowdown <= 0 {
		slowdown = MaxRerunSlowdown
	}
	scale, why := o.DecidingScale()
	if scale == 0 {
		scale, why = o.underDrivenScale()
	}
	if scale == 0 || scale*slowdown < o.Result.TimeScale {
		return 0, why
	}
	return scale, why
}

// underDrivenScale is half the run's scale when validity found the run too
// starved to drive its workload before the fault
// (assertions.Result.UnderDriven): at half the scale the same service
// minutes last twice the wall time, so the same writes have twice the
// machine time to be made. It is 0 for any other run.
func (o *Outcome) underDrivenScale() (float64, string) {
	v, ok := o.Check("validity")
	if !ok || !v.UnderDriven || o.Result.TimeScale <= 1 {
		return 0, ""
	}
	return o.Result.TimeScale / 2, fmt.Sprintf("the machine did not drive the workload at scale %g (%s)", o.Result.TimeScale, v.Explanation)
}

// Options tune a run without changing the scenario.
type Options struct {
	// Logf receives progress lines (phases, faults, runbook steps).
	Logf func(format string, args ...any)
	// OnOp is called for every recorded operation (live displays).
	OnOp func(history.Op)
	// Base is the built-in scenario the replay command is relative to.
	Base *Scenario
	// OnEnv is called once the environment is up (tests use it to check
	// that everything is released afterwards).
	OnEnv func(topology.Environment)
}

// base is the scenario the replay command is relative to: Base, or the
// default one.
func (o Options) base() Scenario {
	if o.Base != nil {
		return *o.Base
	}
	return DefaultScenario()
}

// prepared is a scenario whose faults were all built and checked.
type prepared struct {
	step  FaultStep
	fault faults.Fault
	def   faults.Definition
}

// Validate checks the scenario and builds its faults, before anything starts.
func Validate(sc Scenario) error {
	_, _, _, err := prepare(sc)
	return err
}

// prepare expands a random schedule step (see schedule.go), checks the
// scenario and builds every fault, before anything starts. It returns the
// scenario as it will run.
func prepare(sc Scenario) (Scenario, []prepared, *Schedule, error) {
	sc, sched, err := expandSchedule(sc)
	if err != nil {
		return sc, nil, nil, err
	}
	steps, err := prepareSteps(sc)
	return sc, steps, sched, err
}

func prepareSteps(sc Scenario) ([]prepared, error) {
	// Every knob in its range, also in a scenario built in Go.
	if err := CheckKnobs(sc); err != nil {
		return nil, err
	}
	if err := sc.Spec.Validate(); err != nil {
		return nil, &KnobError{Knob: "topology", Err: err}
	}
	for i, st := range sc.Faults {
		if err := CheckFaultTimes(st); err != nil {
			return nil, &faults.Error{Msg: fmt.Sprintf("faults[%d] (%s): %v", i, st.Name, err)}
		}
	}
	if err := checkNames("checks", sc.Checks); err != nil {
		return nil, err
	}
	if err := checkNames("skip-checks", sc.SkipChecks); err != nil {
		return nil, err
	}
	var out []prepared
	regionLoss := false
	for _, st := range sc.Faults {
		f, def, err := faults.New(st.Name, st.Params)
		if err != nil {
			return nil, err
		}
		if err := faults.CheckProvider(def, sc.Spec.Provider); err != nil {
			return nil, err
		}
		regionLoss = regionLoss || def.RegionLoss
		out = append(out, prepared{step: st, fault: f, def: def})
	}
	for _, p := range out {
		if ev := p.after(); ev != "" && failoverEvents[ev] && !regionLoss {
			return nil, &faults.Error{Msg: fmt.Sprintf("fault %s waits for %s, but no fault of the scenario takes a region away, so the runbook will never get there", p.step.Name, ev)}
		}
	}
	return out, nil
}

// failoverEvents happen only after a region-loss fault.
var failoverEvents = map[string]bool{history.EvFailoverStart: true, history.EvFailoverDone: true,
	history.EvLimitedModeOn: true, history.EvFailbackStart: true, history.EvFailbackDone: true, history.EvLimitedModeOff: true}

// after is the recorded event the step waits for ("" = none).
func (p prepared) after() string {
	if p.step.After != "" {
		return p.step.After
	}
	return p.def.After
}

// Run executes a scenario end to end: bring up, steady state, faults and
// runbook, checks, teardown. The environment is always released, also on
// error, panic or cancellation; what was recorded until then is returned.
func Run(ctx context.Context, sc Scenario, opt Options) (out *Outcome, err error) {
	logf := opt.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	sc, steps, sched, err := prepare(sc)
	if err != nil {
		return nil, err
	}
	// A panic in any goroutine of the run stops it (panics.go).
	ctx, trap, stopTrap := withPanicTrap(ctx)
	defer stopTrap()
	testPanic := readTestPanic(time.Now())
	testPanic.start(ctx)
	clk := clock.New(sc.TimeScale())
	rec := newRecorder(clk, sched, opt.OnOp, logf)
	res := NewResult(sc, clk.Scale, sc.ReplayCommand(opt.base()), time.Now(), faultNames(sc))
	out = &Outcome{}
	var judged *Judged // set once the checks ran
	finish := func(reason string) {
		out.History = rec.Ops()
		out.Result = FinishResult(res, clk, out.History, judged, reason)
	}

	ph := &phases{ctx: ctx, rec: rec, clk: clk, logf: logf, due: testPanic.due}
	phase := ph.enter
	// However the run ends (a panic here or in one of its goroutines
	// included), the environment is released and a panic is returned as a
	// *PanicError with what was recorded, never raised again.
	var env topology.Environment
	defer func() {
		if p := recover(); p != nil {
			trap.catch("the runner", p)
		}
		if env != nil {
			cerr := env.Close(context.Background())
			if err == nil && cerr != nil {
				err = fmt.Errorf("tear down: %w", cerr)
			}
		}
		if pe := trap.Err(); pe != nil {
			logf("%v", pe)
			finish(pe.Error())
			out.Evidence, err = nil, pe
		}
	}()
	phase("bring-up")
	env, err = bringUp(ctx, sc, clk, opt.OnEnv)
	if err != nil {
		finish("bring-up failed: " + err.Error())
		return out, fmt.Errorf("bring up %s environment: %w", sc.Spec.Provider, err)
	}
	ph.blob, _ = env.Blob().(topology.ReplicationDescriber)
	defer ph.describing.Wait() // before the teardown
	if why, err := ready(ctx, sc, env, rec, steps); err != nil {
		finish(why)
		return out, err
	}

	// The customers' notification sink, on loopback, for as long as the
	// runbook may post to it; it records what it receives.
	sink, err := startNotices(rec, sc.NotificationSinkDown, sc.NotifyURL)
	if err != nil {
		finish(err.Error())
		return out, err
	}
	defer sink.Close()

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	RecordHealth(runCtx, rec, env, "before")

	noise := StartNoiseMeter(runCtx)
	StartMachineWait(runCtx, rec, processRoots(runCtx, env))
	wl, stopWL := startWorkload(runCtx, sc, env, rec, clk)

	var afterFailover *topology.Snapshot
	rbCtx, stopRB := context.WithCancel(runCtx)
	defer stopRB()
	rb, rbDone := startRunbook(rbCtx, sc, env, rec, sink, &afterFailover)

	runErr := driveFaults(runCtx, sc, steps, env, rec, clk, wl, rb, rbDone, phase, logf)
	stopWL()
	stopRB()
	<-rbDone
	noise.Record(rec, wl, LagSampleEvery(clk))
	phase("checks")
	if runErr != nil {
		finish(interrupted(runErr))
		return out, runErr
	}
	j := judgeRun(ctx, sc, env, rec, rb, afterFailover)
	judged = &j
	finish("")
	out.Evidence = &j.Evidence
	return out, nil
}

// bringUp brings the scenario's environment up (with the scenario's blob
// engine) and hands it to onEnv. On error no environment is returned: a
// provider's nil one, typed, would look like one to close.
func bringUp(ctx context.Context, sc Scenario, clk *clock.Clock, onEnv func(topology.Environment)) (topology.Environment, error) {
	spec := sc.Spec
	spec.BlobEngine = sc.BlobEngine()
	env, err := topology.Up(ctx, spec, clk)
	if err != nil {
		return nil, err
	}
	if onEnv != nil {
		onEnv(env)
	}
	return env, nil
}

// startWorkload starts the customers' workload and its probes, and the
// lag sampler beside them, under a context of their own (ctx ending ends
// them too); stop ends them and waits for them.
func startWorkload(ctx context.Context, sc Scenario, env topology.Environment, rec *history.Recorder, clk *clock.Clock) (wl *Workload, stop func()) {
	wl = NewWorkload(sc.Workload, env.Router().URL(), rec, clk, sc.Seed, sc.Budgets.RetryBudget, topology.ProviderAttempt(sc.Spec.Provider))
	ctx, cancel := context.WithCancel(ctx)
	// The sampler's first reading comes before the first business write:
	// the primary seen with nothing the secondary lacks dates the data at
	// risk from then, not from the bring-up's last restored commit.
	sampler := StartLagSampler(ctx, rec, env)
	wl.Run(ctx)
	wl.Probes(ctx)
	return wl, func() {
		cancel()
		wl.Wait()
		<-sampler
	}
}

// newRecorder starts the run's history: each operation also to onOp, the
// schedule first.
func newRecorder(clk *clock.Clock, sched *Schedule, onOp func(history.Op), logf func(string, ...any)) *history.Recorder {
	rec := history.NewRecorder(clk)
	if onOp != nil {
		rec.OnAppend(onOp)
	}
	if sched != nil {
		logf("%s", sched.String())
		rec.Event(EvSchedule, sched.Event())
	}
	return rec
}

// ready makes the environment ready for the steady state: the faults'
// targets and blast radius checked, the pair in sync, the secondary
// under-provisioned as the scenario's defect asks. On error it says why
// the run could not be judged.
func ready(ctx context.Context, sc Scenario, env topology.Environment, rec *history.Recorder, steps []prepared) (why string, err error) {
	if err := guardFaults(ctx, env, steps); err != nil {
		return err.Error(), err
	}
	if err := AwaitInSync(ctx, env, rec, InSyncLimit); err != nil {
		return "the pair was not in sync after bring-up: " + err.Error(), fmt.Errorf("before the steady state: %w", err)
	}
	if err := underProvision(env, rec, sc.SecondaryLinkLatencyMS); err != nil {
		return err.Error(), err
	}
	return "", nil
}

// startRunbook runs the runbook beside the drill until ctx ends (done
// closes then), its notices posted to sink; once failed over it snapshots
// the promoted region into *afterFailover.
func startRunbook(ctx context.Context, sc Scenario, env topology.Environment, rec *history.Recorder, sink *NotificationSink, afterFailover **topology.Snapshot) (rb *Runbook, done <-chan struct{}) {
	rb = NewRunbook(sc.Runbook, env, rec)
	sink.Use(rb, sc.NotifyURL)
	rb.OnFailedOver = func(ctx context.Context, promoted topology.RegionName) {
		s, err := env.Snapshot(ctx, promoted)
		if err != nil {
			rec.Event(history.EvSnapshotError, map[string]any{"error": err.Error()})
			return
		}
		*afterFailover = s
	}
	rbDone := make(chan struct{})
	goSafe(ctx, "the runbook", func() { defer close(rbDone); rb.Run(ctx) })
	return rb, rbDone
}

// interrupted says why a run that stopped early could not be judged.
func interrupted(err error) string {
	if errors.Is(err, context.Canceled) {
		return "run cancelled before it finished"
	}
	return "run interrupted: " + err.Error()
}

func faultNames(sc Scenario) []string {
	var names []string
	for _, st := range sc.Faults {
		names = append(names, st.Name)
	}
	return names
}

// phases enters the run's phases: an event and a log line each, and the
// blob engine's own report at each phase, read beside the run (an mc exec
// costs wall time the schedule must not wait for), and before the checks
// once the others are done.
type phases struct {
	ctx  context.Context
	rec  *history.Recorder
	clk  *clock.Clock
	logf func(string, ...any)
	due  func() // the test-only panic's moment (panics.go)
	// blob is the blob engine's reporter, set once the environment is up.
	blob       topology.ReplicationDescriber
	describing sync.WaitGroup
}

func (p *phases) enter(name string) {
	p.due()
	p.rec.Event(history.EvPhase, map[string]any{"phase": name})
	p.logf("phase %s (service %s)", name, clock.Round(p.clk.Now()))
	if p.blob == nil {
		return
	}
	if name == "checks" {
		p.describing.Wait()
		describeBlob(p.ctx, p.rec, p.logf, p.blob, name)
		return
	}
	p.describing.Add(1)
	goSafe(p.ctx, "the blob engine's report", func() {
		defer p.describing.Done()
		describeBlob(p.ctx, p.rec, p.logf, p.blob, name)
	})
}

// guardFaults checks, before anything starts, that each fault's target
// exists and that the blast-radius guard lets it strike (it checks again
// as the fault strikes: faults.Strike).
func guardFaults(ctx context.Context, env topology.Environment, steps []prepared) error {
	for _, p := range steps {
		if t, ok := p.fault.(faults.Targeted); ok {
			if err := t.CheckTarget(env); err != nil {
				return err
			}
		}
		if err := faults.Guard(ctx, env, p.fault); err != nil {
			return err
		}
	}
	return nil
}

// driveFaults runs the steady state, the faults, and as long as the
// runbook needs: whatever fault made it fail over (a region loss, or any
// fault that outlasted the decision window), the drill waits for the
// failback, then runs its after phase; a failover that starts late
// (during the after phase) is waited for the same way, so no run ends in
// the middle of a failover or a failback.
func driveFaults(ctx context.Context, sc Scenario, steps []prepared, env topology.Environment, rec *history.Recorder, clk *clock.Clock,
	wl *Workload, rb *Runbook, rbDone <-chan struct{}, phase func(string), logf func(string, ...any)) error {
	phase("steady-state")
	err := clk.Sleep(ctx, sc.SteadyState)
	// A workload sized from latency measures only the steady state.
	wl.EndWarmup()
	if err != nil {
		return err
	}
	phase("faults")
	if err := runFaults(ctx, sc, steps, env, rec, rb, logf); err != nil {
		return err
	}
	regionLoss := false
	for _, p := range steps {
		regionLoss = regionLoss || p.def.RegionLoss
	}
	failoverStarted := func() bool { _, ok := rec.Ops().FirstEvent(history.EvFailoverStart); return ok }
	settled := func() bool {
		select {
		case <-rb.FailedBack():
			return true
		case <-rbDone:
			return true
		default:
			return false
		}
	}
	for pass := 0; ; pass++ {
		if (pass == 0 && regionLoss || failoverStarted()) && !settled() {
			phase("failback")
			if err := awaitFailback(ctx, rb, rbDone); err != nil {
				return err
			}
		}
		phase("after")
		if err := clk.Sleep(ctx, sc.After); err != nil {
			return err
		}
		if !failoverStarted() {
			return nil
		}
		if settled() {
			return awaitFailbackDecided(ctx, sc, rec, clk, logf)
		}
		logf("the runbook started a failover during the after phase: waiting for its failback")
	}
}

// awaitFailbackDecided lengthens the after phase of a run that failed
// back until the failback checks can decide, each from the observation it
// ends its count with (assertions.BatchBackAfterFailback,
// assertions.WritesBackAfterFailback): a batch probe that succeeded after
// the failback was over (failback-done, or the standby rebuilt after it)
// with no batch outage still open, and a write acknowledged by the region
// failed back to after that moment. The probes run every ProbeEvery on the
// wall clock and each may retry for seconds, and the standby's rebuild is
// machine work, so on a loaded machine the after phase alone can end
// before either: the run would be judged unknown for the machine's
// slowness. It waits, for each, until two probe intervals past the moment
// its check can call the stretch still open a failure (the budget from
// where it opened, and for batch at least from failback-start): a service
// still down then is the check's failure to report.
func awaitFailbackDecided(ctx context.Context, sc Scenario, rec *history.Recorder, clk *clock.Clock, logf func(string, ...any)) error {
	start, ok := rec.Ops().FirstEvent(history.EvFailbackStart)
	if !ok {
		return nil
	}
	poll := max(clk.Wall(sc.Workload.ProbeEvery)/4, 10*time.Millisecond)
	margin := 2 * sc.Workload.ProbeEvery
	logged := map[string]bool{}
	for {
		h := rec.Ops()
		batchBack, batchOpen, over, finished := assertions.BatchBackAfterFailback(h)
		if !finished {
			return nil
		}
		writesBack, writesOpen, _, _ := assertions.WritesBackAfterFailback(h)
		now := clk.Now()
		waits := []struct {
			what  string
			back  bool
			limit time.Duration
		}{
			{"batch probe has succeeded with no batch outage open", batchBack,
				max(start.Service, batchOpen.Service) + sc.Budgets.BatchOutage + margin},
			{"write has been acknowledged by the region failed back to", writesBack,
				max(over.Service, writesOpen.Service+sc.Budgets.FailbackInterruption) + margin},
		}
		waiting := false
		for _, w := range waits {
			if w.back || now >= max(w.limit, over.Service+margin) {
				continue
			}
			waiting = true
			if !logged[w.what] {
				logf("after phase: no %s since the failback was over (%s at service %s); waiting for one (until service %s)",
					w.what, over.Key, clock.Round(over.Service), clock.Round(max(w.limit, over.Service+margin)))
				logged[w.what] = true
			}
		}
		if !waiting {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
	}
}

// judgeRun records how the run ended (the runbook's error, the health
// after, the final snapshot) and judges it by the scenario's checks.
func judgeRun(ctx context.Context, sc Scenario, env topology.Environment, rec *history.Recorder, rb *Runbook, afterFailover *topology.Snapshot) Judged {
	if rb.Err() != nil && !errors.Is(rb.Err(), errStandDown) {
		rec.Event(history.EvRunbookFailed, map[string]any{"error": rb.Err().Error()})
	}
	RecordHealth(ctx, rec, env, "after")
	final, ferr := env.Snapshot(ctx, env.Router().Active())
	if ferr != nil {
		rec.Event(history.EvSnapshotError, map[string]any{"error": ferr.Error()})
	}
	return JudgeScenario(sc, assertions.Input{History: rec.Ops(), AfterFailover: afterFailover, Final: final, Budgets: sc.Budgets, Cutovers: rb.Cutovers()})
}

// awaitFailback waits until the runbook has failed back, or has stopped:
// standing down after a refused sign-off is the runbook doing its job (there
// is no failback to wait for); any other stop is the run's error.
func awaitFailback(ctx context.Context, rb *Runbook, rbDone <-chan struct{}) error {
	select {
	case <-rb.FailedBack():
		return nil
	case <-rbDone:
		if err := rb.Err(); err != nil && !errors.Is(err, errStandDown) {
			return err
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// findCheck returns the result of the named check among rs.
func findCheck(rs []assertions.Result, name string) (assertions.Result, bool) {
	for _, r := range rs {
		if r.Name == name {
			return r, true
		}
	}
	return assertions.Result{}, false
}

// runFaults injects each fault at its time and recovers it after its hold.
// A step with an After event waits for that event first; its At counts
// from the event.
func runFaults(ctx context.Context, sc Scenario, steps []prepared, env topology.Environment, rec *history.Recorder, rb *Runbook, logf func(string, ...any)) error {
	clk := env.Clock()
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].step.At < steps[j].step.At })
	start := clk.Now()
	errc := make(chan error, len(steps))
	for _, p := range steps {
		p := p
		go func() {
			// A panic in the fault still answers, so the others are waited for.
			err := fmt.Errorf("fault %s panicked", p.step.Name)
			defer func() { errc <- err }()
			defer recoverTo(ctx, "fault "+p.step.Name)
			err = runOne(ctx, sc, p, env, rec, rb, logf, start+p.step.At)
		}()
	}
	var errs []error
	for range steps {
		errs = append(errs, <-errc)
	}
	return errors.Join(errs...)
}

// EvFaultSkipped records a fault that never struck (the event it waited
// for never happened); EvSchedule records a random schedule before the run;
// EvFailoverRetry records a failover step that failed and is run again;
// EvOldPrimaryFenced records the attempt to fence the old primary before a
// failover (fenced false with the error when it did not answer).
const (
	EvFaultSkipped     = "fault-skipped"
	EvSchedule         = "schedule"
	EvFailoverRetry    = "failover-retry"
	EvOldPrimaryFenced = "old-primary-fenced"
	// EvSQLSwitched and EvBlobSwitched time the steps of a planned switch
	// (the front door is drained while they run); EvModeSlow records a
	// limited-mode change that took over 100 ms of wall time.
	EvSQLSwitched  = "sql-switched"
	EvBlobSwitched = "blob-switched"
	EvModeSlow     = "limited-mode-slow"
)

// waitEvent waits until the recorder holds the named event and returns its
// wall time. It gives up (false) when the runbook has stopped without it.
func waitEvent(ctx context.Context, rec *history.Recorder, rb *Runbook, name string) (time.Time, bool, error) {
	seen := 0
	for {
		h := rec.Ops()
		for _, op := range h.Ops[seen:] {
			if op.Kind == history.Event && op.Key == name {
				return op.Wall, true, nil
			}
		}
		seen = len(h.Ops)
		if rb != nil && rb.Err() != nil {
			return time.Time{}, false, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, false, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// runOne runs one fault step: it strikes at the service instant at (or At
// after the event it waits for).
func runOne(ctx context.Context, sc Scenario, p prepared, env topology.Environment, rec *history.Recorder, rb *Runbook, logf func(string, ...any), at time.Duration) error {
	clk := env.Clock()
	if ev := p.after(); ev != "" {
		t, ok, err := waitEvent(ctx, rec, rb, ev)
		if err != nil {
			return err
		}
		if !ok {
			why := fmt.Sprintf("the runbook stopped before %s", ev)
			if rb.Err() != nil {
				why += ": " + rb.Err().Error()
			}
			logf("skip %s: %s", p.step.Name, why)
			rec.Event(EvFaultSkipped, map[string]any{"fault": p.step.Name, "params": p.step.Params, "reason": why})
			return nil
		}
		at = clk.At(t) + p.step.At
	}
	if err := clk.SleepUntil(ctx, at); err != nil {
		return err
	}
	applied, err := faults.Apply(ctx, env, rec, p.fault, p.def, p.step.Params, logf)
	if err != nil {
		return err
	}
	hold := p.step.Duration
	var wait <-chan struct{}
	if hold == 0 && p.def.RegionLoss {
		wait = rb.FailedOver()
		hold = sc.Runbook.FailedOverFor / 2
	} else if s, ok := p.fault.(faults.Spanner); ok && hold == 0 {
		hold = s.Span()
	} else if hold == 0 {
		hold = sc.FaultHold
	}
	if wait != nil {
		if refused, err := awaitFailover(ctx, wait, rec, rb); err != nil {
			return err
		} else if refused {
			// No failover will come: the environment waits for the region,
			// which comes back after the scenario's hold.
			logf("%s: sign-off refused, the region returns after %s", p.step.Name, sc.FaultHold)
			hold = sc.FaultHold
		}
	}
	if err := clk.Sleep(ctx, hold); err != nil {
		return err
	}
	return applied.Recover(ctx)
}

// awaitFailover waits until the runbook has failed over, or reports true
// when it never will: sign-off was refused or the runbook stopped.
func awaitFailover(ctx context.Context, over <-chan struct{}, rec *history.Recorder, rb *Runbook) (bool, error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	seen := 0
	for {
		select {
		case <-over:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		case <-tick.C:
		}
		if rb.Err() != nil {
			return true, nil
		}
		h := rec.Ops()
		for _, op := range h.Ops[seen:] {
			if op.Kind == history.Event && op.Key == history.EvSignOffRefused {
				return true, nil
			}
		}
		seen = len(h.Ops)
	}
}

// healthWait bounds a health check before or after the faults.
const healthWait = 5 * time.Second

// RecordHealth probes the active region through its load balancer and
// records the result (a drill does before and after its faults; the
// validity check reads both). It gives up after healthWait.
func RecordHealth(ctx context.Context, rec *history.Recorder, env topology.Environment, when string) {
	ctx, cancel := context.WithTimeout(ctx, healthWait)
	defer cancel()
	c := &http.Client{Timeout: 2 * time.Second}
	active := env.Router().Active()
	ok := false
	var last string
	for i := 0; i < 40 && !ok; i++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.Region(active).Endpoint()+"/health", nil)
		if err != nil {
			last = err.Error()
			break
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			ok = resp.StatusCode == http.StatusOK
			last = fmt.Sprintf("HTTP %d", resp.StatusCode)
		} else {
			last = err.Error()
		}
		if !ok {
			select {
			case <-ctx.Done():
				i = 40
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	ev := map[string]any{"when": when, "ok": ok, "active": string(active)}
	if !ok {
		ev["error"] = fmt.Sprintf("region %s unhealthy (%s)", active, last)
	}
	rec.Event(history.EvHealth, ev)
}

// EvBlobEngineStatus records what the blob engine itself reports of its
// replication (MinIO: mc replicate status) at the start of each phase.
const EvBlobEngineStatus = "blob-engine-status"

// describeBlob logs and records the blob engine's own report; a failed
// read is recorded too (a region may be down).
func describeBlob(ctx context.Context, rec *history.Recorder, logf func(string, ...any), d topology.ReplicationDescriber, phase string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	text, err := d.Describe(ctx)
	if err != nil {
		text = "unreadable: " + err.Error()
	}
	rec.Event(EvBlobEngineStatus, map[string]any{"phase": phase, "status": text})
	logf("blob replication as its engine reports it: %s", text)
}

// LagSampleEvery is the lag sampler's period: a service minute, at least
// 100 wall milliseconds.
func LagSampleEvery(clk *clock.Clock) time.Duration {
	return max(clk.Wall(time.Minute), 100*time.Millisecond)
}

// StartLagSampler records SQL and blob replication lag every
// LagSampleEvery until ctx ends; the channel closes when it has stopped.
// The lag is the data at risk: the age, in service time, of the oldest
// write the secondary does not have (0 when it has everything). Each
// sample also carries the wall cost of the engines' recent jobs (machine
// work, read as timing noise by the checks).
func StartLagSampler(ctx context.Context, rec *history.Recorder, env topology.Environment) <-chan struct{} {
	done := make(chan struct{})
	s := &lagSampler{rec: rec, env: env}
	// The first reading is taken before returning: a workload started
	// next finds the primary seen with nothing the secondary lacks.
	s.sample(ctx)
	goSafe(ctx, "the lag sampler", func() {
		defer close(done)
		t := time.NewTicker(LagSampleEvery(env.Clock()))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			s.sample(ctx)
		}
	})
	return done
}

// lagSampler takes the lag samples StartLagSampler records.
type lagSampler struct {
	rec *history.Recorder
	env topology.Environment
	sql topology.LagTracker
}

// sample reads both stores' status and records one EvLag event.
func (s *lagSampler) sample(ctx context.Context) {
	clk := s.env.Clock()
	now := time.Now()
	v := map[string]any{}
	if st, err := s.env.SQL().Status(ctx); err == nil {
		lag := time.Duration(0)
		since, atRisk := s.sql.AtRiskSince(st)
		if atRisk {
			lag = max(clk.Between(since, now), 0)
		}
		v["sql_lag_s"] = lag.Seconds()
		// A lag of 0 means nothing when the secondary has restored
		// nothing and no commit was seen at risk either.
		v["sql_restored"] = !st.Restore.CommitTime.IsZero() || atRisk
		v["sql_primary"] = string(st.Primary)
		v["sql_shipping"] = st.Shipping
		v["sql_backup_errors"] = st.BackupErrors
		v["sql_copy_errors"] = st.CopyErrors
		if w := st.ShipWall(); w > 0 {
			v["sql_ship_wall_ms"] = ms(w)
		}
		if w, svc, ok := st.ChainDelay(); ok {
			// What the machine could have added to this sample's lag:
			// the jobs' worst delays, plus the copy and restore ticks
			// a late chain may miss (assertions.Noise's band for
			// replication-lag).
			v["sql_chain_wall_ms"] = ms(w)
			v["sql_chain_ticks_s"] = svc.Seconds()
		}
		if w, svc, ok := st.LossChainDelay(); ok {
			// The same for a failover's loss window (rpo's band): the
			// backup and the copy that would have carried a write.
			v["sql_loss_chain_wall_ms"] = ms(w)
			v["sql_loss_chain_ticks_s"] = svc.Seconds()
		}
	}
	if st, err := s.env.Blob().Status(ctx); err == nil && st.Stale {
		// The source could not be read: its last figures measure
		// nothing now, and a lag of 0 would pass unseen.
		v["blob_stale"] = true
	} else if err == nil {
		lag := time.Duration(0)
		if !st.OldestPending.IsZero() {
			lag = max(clk.Between(st.OldestPending, now), 0)
		}
		v["blob_lag_s"] = lag.Seconds()
		v["blob_pending"] = st.Pending
		if st.RoundWall > 0 {
			v["blob_round_wall_ms"] = ms(st.RoundWall)
		}
		if st.RoundDelayKnown {
			// What the machine could have added to this sample's
			// blob lag: the rounds' worst delay (replication-lag's
			// band when its worst sample is the blob store's).
			v["blob_chain_wall_ms"] = ms(st.RoundDelay)
		}
	}
	if ctx.Err() != nil {
		return // a status cut short by the teardown is no sample
	}
	s.rec.Event(history.EvLag, v)
}
