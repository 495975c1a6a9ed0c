package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/aos"
)

// Runbook is the DR procedure under test. It watches the primary region,
// and when the region is lost it waits the decision window, gates on
// sign-off when the secondary lags, fails over, enters limited mode, and
// fails back once the region has returned. It acts only through the
// topology's mechanisms and records every step as an event.
type Runbook struct {
	cfg  RunbookConfig
	env  topology.Environment
	rec  *history.Recorder
	http *http.Client

	// OnFailedOver is called right after the failover completed, for the
	// harness to take its snapshot of the promoted region.
	OnFailedOver func(ctx context.Context, promoted topology.RegionName)
	// Notifier is the sink the runbook posts its customer notices to
	// before it moves their traffic (Run: an HTTPNotifier to the run's
	// NotificationSink; nil: every notice fails). Webhook, when set, is
	// posted to as well (the notify-url setting); only the sink's records
	// are judged.
	Notifier Notifier
	Webhook  Notifier

	mu         sync.Mutex
	primary    topology.RegionName
	failedOver bool
	failedAt   time.Time
	failedBack bool
	lastUp     time.Time
	detectedAt time.Time // when the current outage was detected
	loss       *Notice   // the possible loss decide found (SignOff, ExpectedLoss, LossSince), nil if none
	cutovers   []assertions.Cutover
	err        error
	done       chan struct{} // closed when failback finished
	over       chan struct{} // closed when failover finished
}

// NewRunbook prepares the runbook; Run starts it.
func NewRunbook(cfg RunbookConfig, env topology.Environment, rec *history.Recorder) *Runbook {
	return &Runbook{cfg: cfg, env: env, rec: rec, primary: topology.RegionA,
		http: &http.Client{Timeout: time.Second}, done: make(chan struct{}), over: make(chan struct{})}
}

// Directions of a customer notice.
const (
	NoticeFailover = "failover"
	NoticeFailback = "failback"
)

// Notice is what the runbook tells customers before it moves their
// traffic (the BCDR article: customers are notified when Microsoft fails
// over and when it fails back): the direction, the regions, and for a
// failover the runbook judged possibly lossy (the one that needs the
// customer's sign-off) the writes that may be lost.
type Notice struct {
	Direction string // NoticeFailover or NoticeFailback
	From, To  topology.RegionName
	// SignOff is set for a failover the runbook judged possibly lossy;
	// ExpectedLoss is then the service time of writes that may be lost:
	// those committed after LossSince (the newest commit the secondary
	// holds, wall time; zero when nothing reached it) up to the detection
	// of the outage.
	SignOff      bool
	ExpectedLoss time.Duration
	LossSince    time.Time
}

// Message is the notice as a sentence for customers.
func (n Notice) Message() string {
	switch {
	case n.Direction == NoticeFailback:
		return fmt.Sprintf("Your environment is failing back from region %s to region %s: expect a short interruption; limited mode ends with the failback.", n.From, n.To)
	case n.SignOff:
		return fmt.Sprintf("Your environment is failing over from region %s to region %s after a region outage: writes committed in the last %s before the outage was detected may be lost; the environment runs in limited mode until failback.",
			n.From, n.To, n.ExpectedLoss.Round(time.Second))
	}
	return fmt.Sprintf("Your environment is failing over from region %s to region %s after a region outage; no data loss is expected; the environment runs in limited mode until failback.", n.From, n.To)
}

// Notifier is where the runbook posts customer notices: HTTPNotifier to
// the run's NotificationSink, which records what it received.
type Notifier interface {
	Notify(ctx context.Context, n Notice) error
}

// notify posts a notice before a traffic switch (unless the
// skip-customer-notice defect is set), to the notification sink and then
// to the scenario's webhook if it has one. The runbook records only what
// failed (history.EvCustomerNoticeFailed, target "sink" or "webhook"):
// what customers received is the sink's to record. A notice that fails
// does not stop the runbook; customer-notice finds it missing.
func (rb *Runbook) notify(ctx context.Context, n Notice) {
	if rb.cfg.SkipCustomerNotice {
		return
	}
	failed := func(target string, err error) {
		rb.rec.Event(history.EvCustomerNoticeFailed, map[string]any{"direction": n.Direction, "target": target, "error": err.Error()})
	}
	if rb.Notifier == nil {
		failed("sink", errors.New("no notification sink to post to"))
	} else if err := rb.Notifier.Notify(ctx, n); err != nil {
		failed("sink", err)
	}
	if rb.Webhook != nil {
		if err := rb.Webhook.Notify(ctx, n); err != nil {
			failed("webhook", err)
		}
	}
}

// switchFrontDoor sends traffic to r and records it
// (history.EvFrontDoorSwitched) for the checks that order events around
// the switch.
func (rb *Runbook) switchFrontDoor(r topology.RegionName, direction string) error {
	if err := rb.env.Router().SwitchTo(r); err != nil {
		return err
	}
	rb.rec.Event(history.EvFrontDoorSwitched, map[string]any{"region": string(r), "direction": direction})
	return nil
}

// FailedOver is closed once the failover finished.
func (rb *Runbook) FailedOver() <-chan struct{} { return rb.over }

// FailedBack is closed once the failback finished.
func (rb *Runbook) FailedBack() <-chan struct{} { return rb.done }

// Err is the first error that stopped the runbook.
func (rb *Runbook) Err() error { rb.mu.Lock(); defer rb.mu.Unlock(); return rb.err }

func (rb *Runbook) healthy(ctx context.Context, r topology.RegionName) bool {
	reg := rb.env.Region(r)
	if reg == nil {
		return false
	}
	// Probe the way customers reach the region: a region cut off from its
	// clients is down for them even if its own load balancer answers.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, topology.ProbeEndpoint(reg)+"/health", nil)
	if err != nil {
		return false
	}
	resp, err := rb.http.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (rb *Runbook) probeEvery() time.Duration {
	d := rb.env.Clock().Wall(rb.env.Spec().ProbeInterval)
	if d < 20*time.Millisecond {
		d = 20 * time.Millisecond
	}
	return d
}

func (rb *Runbook) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Run watches and acts until ctx ends or the failback is done.
func (rb *Runbook) Run(ctx context.Context) {
	err := rb.run(ctx)
	if err != nil && ctx.Err() == nil {
		rb.mu.Lock()
		rb.err = err
		rb.mu.Unlock()
		rb.rec.Event(history.EvRunbookError, map[string]any{"error": err.Error()})
	}
}

func (rb *Runbook) run(ctx context.Context) error {
	for {
		if err := rb.detect(ctx); err != nil {
			return err
		}
		ok, err := rb.decide(ctx)
		if err != nil {
			return err
		}
		if ok {
			break
		}
	}
	if err := rb.failover(ctx); err != nil {
		return fmt.Errorf("failover: %w", err)
	}
	if err := rb.awaitReturn(ctx); err != nil {
		return err
	}
	if err := rb.failback(ctx); err != nil {
		return fmt.Errorf("failback: %w", err)
	}
	return nil
}

// detect waits for DetectAfter failed health probes in a row on the primary.
func (rb *Runbook) detect(ctx context.Context) error {
	fails := 0
	for {
		if rb.healthy(ctx, rb.primary) {
			fails = 0
			rb.mu.Lock()
			rb.lastUp = time.Now()
			rb.mu.Unlock()
		} else if fails++; fails >= rb.cfg.DetectAfter {
			rb.rec.Event(history.EvOutageDetected, map[string]any{"region": string(rb.primary), "failed_probes": fails})
			rb.mu.Lock()
			rb.detectedAt = time.Now()
			rb.mu.Unlock()
			return nil
		}
		if err := rb.sleep(ctx, rb.probeEvery()); err != nil {
			return err
		}
	}
}

// decide waits the decision window; it reports false if the region came
// back in time (no failover), true if the failover must go ahead (after
// sign-off where the secondary lags).
func (rb *Runbook) decide(ctx context.Context) (bool, error) {
	clk := rb.env.Clock()
	deadline := time.Now().Add(clk.Wall(rb.cfg.DecisionWindow))
	ups := 0
	for time.Now().Before(deadline) {
		if rb.healthy(ctx, rb.primary) {
			if ups++; ups >= 2 {
				rb.rec.Event(history.EvFailoverAborted, map[string]any{"region": string(rb.primary), "reason": "region returned within the decision window"})
				return false, nil
			}
		} else {
			ups = 0
		}
		if err := rb.sleep(ctx, rb.probeEvery()); err != nil {
			return false, err
		}
	}
	// Ship whatever can still be shipped, then judge the possible loss.
	_ = rb.env.SQL().CopyLogs(ctx)
	st, err := rb.env.SQL().Status(ctx)
	if err != nil {
		return false, fmt.Errorf("read log shipping status: %w", err)
	}
	rb.mu.Lock()
	detected := rb.detectedAt
	rb.mu.Unlock()
	lossy, why := possibleLoss(st, detected)
	rb.mu.Lock()
	rb.loss = nil
	if lossy {
		rb.loss = expectedLoss(st, detected, clk)
	}
	rb.mu.Unlock()
	if !lossy || rb.cfg.SkipSignOffGate {
		return true, nil
	}
	req := map[string]any{"possible_loss": true, "reason": why, "primary_last_commit": st.PrimaryLast.CommitTime,
		"primary_last_lsn": st.PrimaryLast.LSN, "copied_lsn": st.Copy.LSN}
	if !st.PrimaryLast.At.IsZero() {
		req["primary_last_read"] = st.PrimaryLast.At
	}
	if !st.Copy.CommitTime.IsZero() && !st.PrimaryLast.CommitTime.IsZero() {
		req["exposure_service_s"] = clk.Between(st.Copy.CommitTime, st.PrimaryLast.CommitTime).Seconds()
	}
	rb.rec.Event(history.EvSignOffRequested, req)
	if rb.cfg.SignOff != "approve" {
		rb.rec.Event(history.EvSignOffRefused, map[string]any{"region": string(rb.primary)})
		// Without sign-off the environment waits for the region; it never fails over.
		for !rb.healthy(ctx, rb.primary) {
			if err := rb.sleep(ctx, rb.probeEvery()); err != nil {
				return false, err
			}
		}
		rb.rec.Event(history.EvFailoverAborted, map[string]any{"region": string(rb.primary), "reason": "sign-off refused; region returned"})
		return false, errStandDown
	}
	rb.rec.Event(history.EvSignOffGranted, map[string]any{"region": string(rb.primary)})
	return true, nil
}

// errStandDown ends the runbook without failing over.
// possibleLoss tells whether failing over now could lose committed data,
// and why. The positions tell when the primary was seen committing beyond
// what reached the secondary. But the primary's newest commit is known only
// as of its last reading: read before the outage was detected, it cannot
// rule out commits acknowledged after it (the region went on serving until
// it was lost), so such a failover is possibly lossy whatever the positions
// say.
func possibleLoss(st topology.ShippingStatus, detected time.Time) (bool, string) {
	switch {
	case st.PossibleLoss():
		return true, "the primary was seen committing beyond what reached the secondary"
	case st.PrimaryLast.At.IsZero() || st.PrimaryLast.At.Before(detected):
		return true, "the primary was not read since the outage was detected: commits after its last reading cannot be ruled out"
	}
	return false, ""
}

var errStandDown = fmt.Errorf("runbook stood down: sign-off refused")

// expectedLoss is the loss a possibly lossy failover tells customers to
// expect: the writes committed after the newest commit that reached the
// secondary, up to the detection of the outage (or the primary's newest
// commit seen, if later). With nothing shipped, everything since the run
// began.
func expectedLoss(st topology.ShippingStatus, detected time.Time, clk *clock.Clock) *Notice {
	since := st.Copy.CommitTime
	if st.Restore.CommitTime.After(since) {
		since = st.Restore.CommitTime
	}
	end := detected
	if st.PrimaryLast.CommitTime.After(end) {
		end = st.PrimaryLast.CommitTime
	}
	from := since
	if from.IsZero() {
		from = clk.WallAt(0)
	}
	loss := clk.Between(from, end)
	if loss < 0 {
		loss = 0
	}
	return &Notice{SignOff: true, ExpectedLoss: loss, LossSince: since}
}

func (rb *Runbook) setMode(ctx context.Context, r topology.RegionName, limited bool) error {
	return rb.setModeTo(ctx, r, aos.ModeRequest{Limited: limited})
}

func (rb *Runbook) setModeTo(ctx context.Context, r topology.RegionName, mode aos.ModeRequest) error {
	limited := mode.Limited
	body, _ := json.Marshal(mode)
	var last error
	for i := 0; i < 20; i++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, rb.env.Region(r).Endpoint()+"/admin/mode", bytes.NewReader(body))
		if err != nil {
			return err
		}
		resp, err := rb.http.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		last = err
		if err := rb.sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("set limited mode=%v in region %s: %w", limited, r, last)
}

func (rb *Runbook) failover(ctx context.Context) error {
	from, to := rb.primary, rb.primary.Other()
	n := Notice{Direction: NoticeFailover, From: from, To: to}
	rb.mu.Lock()
	if rb.loss != nil {
		n.SignOff, n.ExpectedLoss, n.LossSince = true, rb.loss.ExpectedLoss, rb.loss.LossSince
	}
	rb.mu.Unlock()
	rb.notify(ctx, n)
	rb.fenceOld(ctx, from)
	rb.rec.Event(history.EvFailoverStart, map[string]any{"from": string(from), "to": string(to)})
	var pos topology.Position
	if err := rb.step(ctx, "promote SQL secondary", func() (err error) {
		pos, err = rb.env.SQL().Failover(ctx)
		return err
	}); err != nil {
		return err
	}
	if err := rb.step(ctx, "make blob store "+string(to)+" writable", func() error { return rb.env.Blob().Failover(ctx) }); err != nil {
		return err
	}
	if !rb.cfg.SkipLimitedMode {
		if err := rb.step(ctx, "limited mode on in "+string(to), func() error { return rb.setMode(ctx, to, true) }); err != nil {
			return err
		}
		rb.rec.Event(history.EvLimitedModeOn, map[string]any{"region": string(to)})
	}
	// The promoted region as of the cutover, before traffic reaches it.
	rb.fingerprintFailover(ctx, from, to)
	if err := rb.switchFrontDoor(to, NoticeFailover); err != nil {
		return fmt.Errorf("switch front door: %w", err)
	}
	rb.mu.Lock()
	rb.primary, rb.failedOver, rb.failedAt = to, true, time.Now()
	rb.mu.Unlock()
	rb.rec.Event(history.EvFailoverDone, map[string]any{"from": string(from), "to": string(to),
		"restored_lsn": pos.LSN, "restored_commit": pos.CommitTime})
	if rb.OnFailedOver != nil {
		// New writes in the promoted region carry new keys, so a snapshot
		// taken now still shows exactly what the failover kept.
		rb.OnFailedOver(ctx, to)
	}
	close(rb.over)
	return nil
}

// fenceOld stops the old primary from acknowledging writes the failover
// will drop: the front door stops sending traffic, and the old primary's
// database is fenced if it still answers. A lost region does not answer
// (the attempt is bounded and the failover goes on), but a region declared
// lost while it still runs (a false detection) would otherwise keep taking
// writes that the promotion discards.
func (rb *Runbook) fenceOld(ctx context.Context, from topology.RegionName) {
	_ = rb.env.Router().Drain()
	fctx, cancel := context.WithTimeout(ctx, fenceTimeout)
	defer cancel()
	ev := map[string]any{"region": string(from), "fenced": true}
	if err := rb.env.SQL().Fence(fctx); err != nil {
		ev["fenced"], ev["error"] = false, err.Error()
	}
	rb.rec.Event(EvOldPrimaryFenced, ev)
}

// fenceTimeout bounds the attempt to fence a lost primary (wall time).
const fenceTimeout = 3 * time.Second

// failoverAttempts bounds the retries of one failover step.
const failoverAttempts = 5

// step runs one failover step, retrying it (each step is idempotent) with
// exponential backoff while it fails: an operator whose promote timed out
// on a struggling host runs it again rather than giving up the failover.
// Each retry is recorded as a failover-retry event, and the step's end as
// a failover-step event with its wall time, so the rto check can say where
// the recovery time went.
func (rb *Runbook) step(ctx context.Context, name string, f func() error) error {
	start := time.Now()
	first := rb.env.Clock().Wall(time.Minute)
	if first < 200*time.Millisecond {
		first = 200 * time.Millisecond
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = first, 8*first, 0
	attempt := 0
	err := backoff.Retry(func() error {
		attempt++
		err := f()
		if err != nil && attempt < failoverAttempts && ctx.Err() == nil {
			rb.rec.Event(EvFailoverRetry, map[string]any{"step": name, "attempt": attempt, "error": err.Error()})
		}
		return err
	}, backoff.WithContext(backoff.WithMaxRetries(b, failoverAttempts-1), ctx))
	if err != nil {
		return fmt.Errorf("%s (%d attempts): %w", name, attempt, err)
	}
	rb.rec.Event(history.EvFailoverStep, map[string]any{"step": name, "wall_ms": time.Since(start).Milliseconds(), "attempts": attempt})
	return nil
}

// awaitReturn waits until the failed-over period is over and the old
// primary region answers health probes again. Halfway through, the
// customer asks support to restore financial reporting.
func (rb *Runbook) awaitReturn(ctx context.Context) error {
	clk := rb.env.Clock()
	half := rb.cfg.FailedOverFor / 2
	if err := rb.sleep(ctx, clk.Wall(half)); err != nil {
		return err
	}
	rb.restoreReporting(ctx)
	if err := rb.sleep(ctx, clk.Wall(rb.cfg.FailedOverFor-half)); err != nil {
		return err
	}
	old := rb.primary.Other()
	for !rb.healthy(ctx, old) {
		if err := rb.sleep(ctx, rb.probeEvery()); err != nil {
			return err
		}
	}
	return nil
}

// restoreReporting carries out the customer's support request to restore
// financial reporting while failed over (the BCDR article): the promoted
// region stays in limited mode, maintenance and package deployment stay
// refused, and financial reports are served again. It records the request
// (history.EvSupportRequest), then the restoration
// (history.EvReportingRestored) or its failure.
func (rb *Runbook) restoreReporting(ctx context.Context) {
	rb.mu.Lock()
	r := rb.primary
	rb.mu.Unlock()
	rb.rec.Event(history.EvSupportRequest, map[string]any{"request": history.RequestRestoreReporting, "region": string(r)})
	if rb.cfg.IgnoreReportingRequest {
		return
	}
	mode := aos.ModeRequest{Limited: !rb.cfg.SkipLimitedMode && !rb.cfg.ReportingRequestLiftsLimitedMode, Reporting: true}
	if err := rb.setModeTo(ctx, r, mode); err != nil {
		if ctx.Err() == nil {
			rb.rec.Event(history.EvSupportRequestFailed, map[string]any{"request": history.RequestRestoreReporting, "error": err.Error()})
		}
		return
	}
	rb.rec.Event(history.EvReportingRestored, map[string]any{"region": string(r), "limited": mode.Limited})
}

func (rb *Runbook) failback(ctx context.Context) error {
	from, to := rb.primary, rb.primary.Other()
	rb.rec.Event(history.EvFailbackStart, map[string]any{"from": string(from), "to": string(to)})
	rb.notify(ctx, Notice{Direction: NoticeFailback, From: from, To: to})
	// A second fault may strike while failing back (region B's SQL or AOS):
	// each attempt is retried, and between attempts traffic stays on the
	// region that has the data.
	wait := rb.env.Clock().Wall(5 * time.Minute)
	if wait < 200*time.Millisecond {
		wait = 200 * time.Millisecond
	}
	const attempts = 10
	var p failbackProgress
	for attempt := 1; ; attempt++ {
		err := rb.failbackOnce(ctx, from, to, &p)
		if err == nil {
			break
		}
		if ctx.Err() != nil || attempt == attempts {
			return err
		}
		moved := p.moved()
		rb.rec.Event(history.EvFailbackRetry, map[string]any{"attempt": attempt, "error": err.Error(),
			"sql_moved": p.sql, "blob_moved": p.blob})
		pause := wait
		if moved {
			// Past the point of no return: a role already serves from
			// the new region, so the old one cannot take traffic back.
			// The front door stays drained and the rest of the switch is
			// retried soon.
			pause = max(rb.env.Clock().Wall(30*time.Second), 200*time.Millisecond)
		} else if err := rb.switchFrontDoor(from, "resume"); err != nil {
			return fmt.Errorf("resume traffic on %s after a failed failback: %w", from, err)
		}
		if err := rb.sleep(ctx, pause); err != nil {
			return err
		}
	}
	if !rb.cfg.SkipLimitedModeOff {
		rb.rec.Event(history.EvLimitedModeOff, map[string]any{"region": string(to)})
	}
	rb.mu.Lock()
	rb.primary, rb.failedBack = to, true
	rb.mu.Unlock()
	rb.rec.Event(history.EvFailbackDone, map[string]any{"from": string(from), "to": string(to)})
	close(rb.done)
	rb.awaitStandby(ctx, from)
	return nil
}

// awaitStandby records when log shipping runs again after the failback
// (history.EvStandbyRebuilt): the old primary is rebuilt as a standby after
// the traffic switch, and until then the failback is not over, so the
// failback checks judge requests up to that moment.
//
// The rebuild (a base backup from the new primary, the standby started
// on it) is machine work, like the planned switch: the clock runs at
// MachineScale until it is done, so whatever it costs the workload (on 2
// cores, a base backup's checkpoint and copy stall writes for a wall
// second or so) is judged at its wall value, not as minutes of business
// time multiplied by the drill's scale; and the after phase, counted in
// service time, is spent after it rather than behind it. A rebuild that
// outlasts RebuildMachineTime is no longer the machine's ordinary work (a
// fault in the way, a retry): the clock returns to the drill's scale
// then, and the checks judge what follows at that scale.
func (rb *Runbook) awaitStandby(ctx context.Context, standby topology.RegionName) {
	start := time.Now()
	poll := rb.probeEvery() // at the drill's scale: the hold would stretch it
	release := rb.machineTime("rebuild the old primary as the standby")
	defer release()
	bound := time.AfterFunc(RebuildMachineTime, release)
	defer bound.Stop()
	for {
		if st, err := rb.env.SQL().Status(ctx); err == nil && st.Shipping {
			rb.rec.Event(history.EvStandbyRebuilt, map[string]any{"region": string(standby),
				"wall_ms": time.Since(start).Milliseconds()})
			return
		}
		if rb.sleep(ctx, poll) != nil {
			return
		}
	}
}

// failbackOnce is one attempt: resync, drain, planned switch, undrain.
//
// The planned switch (fence, final log backup, copy, restore, promote, the
// blob switch, limited mode off, the front door back) is machine work: it
// costs the same wall seconds at any time scale, so the clock runs at
// MachineScale while it lasts (a wall second is a service second) and the
// failback-interruption check judges that cost at its wall value instead
// of multiplying it by the scale. A deliberate delay (the slow-switchover
// defect) is policy and runs at the drill's own scale.
func (rb *Runbook) failbackOnce(ctx context.Context, from, to topology.RegionName, p *failbackProgress) error {
	rb.observeProgress(ctx, to, p)
	if !p.returnedRead {
		// The region lost at the failover, back and not yet resynced,
		// still holds what it held when it was lost: compare it with the
		// promoted one before the resync rewrites it.
		p.returnedRead = true
		rb.fingerprintReturned(ctx, to, from)
	}
	if !p.sql {
		if err := rb.env.SQL().Resync(ctx); err != nil {
			return fmt.Errorf("resync SQL in %s from %s: %w", to, from, err)
		}
	}
	if !p.blob && !p.blobResynced {
		if err := rb.env.Blob().Resync(ctx); err != nil {
			return fmt.Errorf("resync blob store in %s: %w", to, err)
		}
		p.blobResynced = true
	}
	resynced := rb.rec.Event(history.EvResyncDone, map[string]any{"region": string(to)})
	var staked time.Time
	if rb.cfg.SkipFinalLogBackup && !p.sql {
		// The defect must have something to lose: a write taken after
		// the resync's base backup and the newest log backup (see
		// awaitUnshippedWrite).
		staked = rb.awaitUnshippedWrite(ctx, from, resynced.Wall)
	}
	// Planned switch: stop traffic, move the roles with nothing left behind.
	release := rb.machineTime("planned switch: drain, SQL and blob switchover")
	defer release()
	if err := rb.env.Router().Drain(); err != nil {
		return err
	}
	rb.rec.Event(history.EvFrontDoorDrained, nil)
	if rb.cfg.SkipFinalLogBackup && !p.sql {
		rb.checkUnshippedWrite(ctx, staked)
	}
	if !p.sql {
		t := time.Now()
		opts := topology.SwitchoverOptions{SkipFinalLogBackup: rb.cfg.SkipFinalLogBackup,
			// Both databases as of the cutover: the fingerprint is
			// machine work, inside this hold.
			AtCutover: func(ctx context.Context) { rb.fingerprintFailbackSQL(ctx, from, to) }}
		if err := rb.env.SQL().Switchover(ctx, opts); err != nil {
			return fmt.Errorf("SQL switchover to %s: %w", to, err)
		}
		p.sql = true
		rb.rec.Event(EvSQLSwitched, map[string]any{"region": string(to), "wall_ms": time.Since(t).Milliseconds()})
	}
	if !p.blob {
		t := time.Now()
		if err := rb.env.Blob().Switchover(ctx); err != nil {
			return fmt.Errorf("blob switchover to %s: %w", to, err)
		}
		p.blob = true
		rb.rec.Event(EvBlobSwitched, map[string]any{"region": string(to), "wall_ms": time.Since(t).Milliseconds()})
		rb.fingerprintFailbackBlob(ctx, from, to)
	}
	if d := rb.cfg.SlowSwitchover; d > 0 {
		// The slow-switchover defect: the switch takes this much longer
		// while the front door stays drained.
		release()
		// Recorded as a deliberate sleep: the noise band does not count
		// the CPU waits of other processes while this chain is a timer.
		rb.rec.Event(history.EvPolicySleep, map[string]any{"what": "slow switchover", "begin": true})
		err := rb.env.Clock().Sleep(ctx, d)
		rb.rec.Event(history.EvPolicySleep, map[string]any{"what": "slow switchover", "begin": false})
		if err != nil {
			return err
		}
		release = rb.machineTime("planned switch: limited mode off, front door back")
		defer release()
	}
	if !rb.cfg.SkipLimitedModeOff {
		t := time.Now()
		if err := rb.setMode(ctx, to, false); err != nil {
			return err
		}
		if d := time.Since(t); d > 100*time.Millisecond {
			rb.rec.Event(EvModeSlow, map[string]any{"region": string(to), "wall_ms": d.Milliseconds()})
		}
	}
	if err := rb.switchFrontDoor(to, NoticeFailback); err != nil {
		return fmt.Errorf("switch front door: %w", err)
	}
	return nil
}

// failbackProgress is what the attempts of one failback have done so far.
// Each step runs once: a retry resumes where the last attempt stopped
// instead of switching a role that already moved back again.
type failbackProgress struct {
	// sql and blob are set once that store's role is in the target region.
	sql, blob bool
	// blobResynced is set once replication towards the target runs.
	blobResynced bool
	// returnedRead is set once the region lost at the failover was
	// compared with the promoted one (first attempt, before any resync).
	returnedRead bool
}

// moved tells whether any role already serves from the target region.
func (p failbackProgress) moved() bool { return p.sql || p.blob }

// observeProgress marks a role as moved when its engine says it is in the
// target region already: a switchover that failed after its promote left
// it there, and running it again would move it back.
func (rb *Runbook) observeProgress(ctx context.Context, to topology.RegionName, p *failbackProgress) {
	if !p.sql {
		if st, err := rb.env.SQL().Status(ctx); err == nil && st.Primary == to {
			p.sql = true
		}
	}
	if !p.blob {
		if st, err := rb.env.Blob().Status(ctx); err == nil && st.Source == to {
			p.blob = true
		}
	}
}

// MachineScale is the time scale of the runbook's machine steps (the
// planned switch of a failback, the rebuild of the old primary as the
// standby after it): a wall second is a service second.
const MachineScale = 1

// RebuildMachineTime bounds the wall time the old primary's rebuild after
// a failback runs at MachineScale (it takes about 3 s on 2 idle cores).
var RebuildMachineTime = 30 * time.Second

// machineTime runs the clock at MachineScale until the returned function is
// called, and records both ends (history.EvMachineTime).
func (rb *Runbook) machineTime(what string) (release func()) {
	clk := rb.env.Clock()
	start := time.Now()
	rb.rec.Event(history.EvMachineTime, map[string]any{"what": what, "scale": MachineScale, "begin": true})
	hold := clk.Hold(MachineScale)
	var once sync.Once
	return func() {
		once.Do(func() {
			hold()
			rb.rec.Event(history.EvMachineTime, map[string]any{"what": what, "scale": clk.Current(), "begin": false,
				"wall_ms": time.Since(start).Milliseconds()})
		})
	}
}
