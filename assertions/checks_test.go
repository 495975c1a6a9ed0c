package assertions

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

// builder writes a synthetic history in service time, one operation after
// the other (the clock only moves forward).
type builder struct {
	h history.History
	t time.Duration
}

func newBuilder() *builder {
	return &builder{h: history.History{Scale: 200, Epoch: time.Unix(1_800_000_000, 0)}}
}

func (b *builder) at(t time.Duration) *builder {
	if t > b.t {
		b.t = t
	}
	return b
}

func (b *builder) add(op history.Op) history.Op {
	op.Index = len(b.h.Ops)
	op.Service = b.t
	op.Wall = b.h.Epoch.Add(time.Duration(float64(b.t) / b.h.Scale))
	b.h.Ops = append(b.h.Ops, op)
	return op
}

func (b *builder) event(name string, v map[string]any) history.Op {
	return b.add(history.Op{Process: -1, Type: history.Info, Kind: history.Event, Key: name, Value: v})
}

// op records an invoke now and its outcome took later.
func (b *builder) op(proc int, kind history.Kind, key string, typ history.Type, status int, region, inst string, took time.Duration, value map[string]any) (history.Op, history.Op) {
	inv := b.add(history.Op{Process: proc, Type: history.Invoke, Kind: kind, Key: key, Value: value})
	b.t += took
	res := history.Op{Process: proc, Type: typ, Kind: kind, Key: key, Region: region, Inst: inst, Status: status, Tries: 1, Value: value}
	if typ != history.OK {
		res.Error = fmt.Sprintf("HTTP %d", status)
	}
	return inv, b.add(res)
}

// drill is a synthetic region drill: writes every 10 s, probes every 2 m,
// lag samples every minute, region a lost at 30m, failover at 47m, failback
// 62m-64m (the front door drained from 63m), 10 minutes after.
type drill struct {
	b               *builder
	acked           []string // acknowledged write keys, in order
	ackAt           map[string]time.Duration
	fault, foStart  time.Duration
	failbackDrained time.Duration
	failbackDone    time.Duration
	signOff         bool
	maintB, reportB int // status of maintenance and reports answered by b while failed over
	sqlLag, blobLag float64
	// blobStale: every lag sample says the blob source could not be read.
	blobStale bool
	n         int
	// askOnly records a sign-off request that is never granted (signOff false).
	askOnly bool
	// quietFailedOver: no client writes while failed over.
	quietFailedOver bool
	// shipWallMS is the wall cost of a log shipping round the lag samples
	// report (timing noise), 0 for none; chainMS the SQL chain's worst job
	// delays they report (with two minutes of copy and restore ticks),
	// lossChainMS the backup's and copy's alone (with a minute's copy tick).
	shipWallMS, chainMS, lossChainMS float64
	// blobChainMS is the blob rounds' worst delay the lag samples report.
	blobChainMS float64
	// standbyRebuilt, when set, records the old primary rebuilt then;
	// failAt makes the write at that moment fail (once).
	standbyRebuilt, failAt time.Duration
	// notice is which customer notices the runbook posts ("" both, with the
	// expected loss when it asked for sign-off; "none"; "no-loss": the
	// failover's without the expected loss; "late": both after their
	// switch); noSwitchEvents leaves out front-door-switched (a history
	// recorded before the event existed).
	notice         string
	noSwitchEvents bool
	// afterMaint and afterReport are the status of maintenance and reports
	// answered by region a after failback (0: 202 and 200).
	afterMaint, afterReport int
	// tookB is how long a write answered by region b takes (0: a second,
	// as every other); keepB keeps one write in keepB while failed over
	// (0 or 1: every one).
	tookB time.Duration
	keepB int
	// waitMS, when set, records a machine-wait tick of that longest wait
	// every 10 s (a loaded machine).
	waitMS float64
	// supportAt, when set, records the customer's support request to
	// restore financial reporting then, and reporting-restored right
	// after unless ignoreSupport; reportBAfter and maintBAfter are the
	// status of reports and maintenance answered by region b after it
	// (0: 200 and maintB).
	supportAt                 time.Duration
	ignoreSupport             bool
	reportBAfter, maintBAfter int
}

func newDrill() *drill {
	return &drill{b: newBuilder(), ackAt: map[string]time.Duration{}, fault: 30 * time.Minute, foStart: 47 * time.Minute,
		failbackDrained: 63 * time.Minute, failbackDone: 64 * time.Minute, signOff: true, maintB: 423, reportB: 423,
		sqlLag: 120, blobLag: 60}
}

func (d *drill) write(region string, typ history.Type) {
	d.n++
	kind, key := history.JournalEntry, fmt.Sprintf("je-%d", d.n)
	value := map[string]any{"amount": int64(100 + d.n)}
	if d.n%3 == 0 {
		kind, key = history.Invoice, fmt.Sprintf("inv-%d", d.n)
		value = map[string]any{"amount": int64(100 + d.n), "sha256": fmt.Sprintf("sum-%d", d.n), "object": "doc/" + key}
	}
	status := 200
	if typ != history.OK {
		status = 503
	}
	took := time.Second
	if region == "b" && d.tookB > 0 {
		took = d.tookB
	}
	_, res := d.b.op(d.n%4, kind, key, typ, status, region, "aos-"+region+"-1", took, value)
	if typ == history.OK {
		d.acked = append(d.acked, key)
		d.ackAt[key] = res.Service
	}
}

func (d *drill) probes(region string, maint, report int) {
	typ := func(s int) history.Type {
		if s >= 200 && s < 300 {
			return history.OK
		}
		return history.Fail
	}
	batch := 200
	if maint == 503 {
		batch = 503
	}
	d.b.op(10, history.Batch, fmt.Sprintf("batch-%d", d.n), typ(batch), batch, region, "aos-"+region+"-2", time.Second, nil)
	d.b.op(11, history.Report, fmt.Sprintf("report-%d", d.n), typ(report), report, region, "aos-"+region+"-2", time.Second, nil)
	d.b.op(12, history.Maintenance, fmt.Sprintf("maint-%d", d.n), typ(maint), maint, region, "aos-"+region+"-2", time.Second, map[string]any{"kind": "update"})
}

// run writes the history from 0 to 75m.
func (d *drill) run() history.History {
	b := d.b
	b.event(history.EvHealth, map[string]any{"when": "before", "ok": true})
	foDone := d.foStart + time.Minute
	for t := 10 * time.Second; t < 75*time.Minute; t += 10 * time.Second {
		b.at(t)
		switch {
		case t == d.fault:
			b.event(history.EvFaultInjected, map[string]any{"fault": "region-outage", "region_loss": true, "verified": true})
		case t == d.fault+2*time.Minute:
			b.event(history.EvOutageDetected, map[string]any{"region": "a"})
		case t == d.foStart:
			if d.signOff || d.askOnly {
				b.event(history.EvSignOffRequested, map[string]any{"possible_loss": true})
			}
			if d.signOff {
				b.event(history.EvSignOffGranted, map[string]any{"region": "a"})
			}
			if d.notice == "" || d.notice == "no-loss" {
				v := map[string]any{"direction": "failover", "from": "a", "to": "b"}
				if (d.signOff || d.askOnly) && d.notice == "" {
					v["sign_off"], v["expected_loss_service_s"] = true, 1020.0
				}
				b.event(history.EvCustomerNotified, v)
			}
			b.event(history.EvFailoverStart, map[string]any{"from": "a", "to": "b"})
		case t == foDone:
			b.event(history.EvFailoverStep, map[string]any{"step": "promote SQL secondary", "wall_ms": int64(7210), "attempts": 2})
			b.event(history.EvLimitedModeOn, map[string]any{"region": "b"})
			d.frontDoor("b", "failover")
			b.event(history.EvFailoverDone, map[string]any{"from": "a", "to": "b"})
		case t == 62*time.Minute:
			b.event(history.EvFailbackStart, map[string]any{"from": "b", "to": "a"})
			if d.notice != "none" && d.notice != "late" {
				b.event(history.EvCustomerNotified, map[string]any{"direction": "failback", "from": "b", "to": "a"})
			}
		case t == d.failbackDrained:
			b.event(history.EvResyncDone, nil)
			b.event(history.EvFrontDoorDrained, nil)
		case t == d.failbackDone:
			b.event(history.EvLimitedModeOff, map[string]any{"region": "a"})
			d.frontDoor("a", "failback")
			b.event(history.EvFailbackDone, map[string]any{"from": "b", "to": "a"})
		case d.supportAt > 0 && t == d.supportAt:
			b.event(history.EvSupportRequest, map[string]any{"request": history.RequestRestoreReporting, "region": "b"})
			if !d.ignoreSupport {
				b.event(history.EvReportingRestored, map[string]any{"region": "b", "limited": true})
			}
		case d.standbyRebuilt > 0 && t == d.standbyRebuilt:
			b.event(history.EvStandbyRebuilt, map[string]any{"region": "b"})
		}
		if t%time.Minute == 0 && t < d.fault {
			v := map[string]any{"sql_lag_s": d.sqlLag, "blob_lag_s": d.blobLag}
			if d.blobStale {
				v = map[string]any{"sql_lag_s": d.sqlLag, "blob_stale": true}
			}
			if d.shipWallMS > 0 {
				v["sql_ship_wall_ms"] = d.shipWallMS
			}
			if d.chainMS > 0 {
				v["sql_chain_wall_ms"], v["sql_chain_ticks_s"] = d.chainMS, 120.0
			}
			if d.lossChainMS > 0 {
				v["sql_loss_chain_wall_ms"], v["sql_loss_chain_ticks_s"] = d.lossChainMS, 60.0
			}
			if d.blobChainMS > 0 {
				v["blob_chain_wall_ms"] = d.blobChainMS
			}
			b.event(history.EvLag, v)
		}

		region, typ := "a", history.OK
		switch {
		case t >= d.fault && t <= foDone:
			region, typ = "", history.Unknown
		case t > foDone && t < d.failbackDrained:
			region = "b"
		case t >= d.failbackDrained && t <= d.failbackDone:
			region, typ = "", history.Fail
		}
		if d.failAt > 0 && t == d.failAt {
			region, typ = "a", history.Fail
		}
		if d.waitMS > 0 {
			b.event(history.EvMachineWait, map[string]any{"max_ms": d.waitMS, "period_ms": 50.0})
		}
		skipB := region == "b" && d.keepB > 1 && int(t/(10*time.Second))%d.keepB != 0
		if !(d.quietFailedOver && region == "b") && !skipB {
			d.write(region, typ)
		}
		if t%(2*time.Minute) == 0 {
			switch {
			case typ != history.OK:
				d.probes(region, 503, 503)
			case region == "b" && d.supportAt > 0 && t > d.supportAt:
				maint, report := d.maintB, 200
				if d.maintBAfter != 0 {
					maint = d.maintBAfter
				}
				if d.reportBAfter != 0 {
					report = d.reportBAfter
				}
				d.probes(region, maint, report)
			case region == "b":
				d.probes(region, d.maintB, d.reportB)
			case t > d.failbackDone && (d.afterMaint != 0 || d.afterReport != 0):
				d.probes(region, d.afterMaint, d.afterReport)
			default:
				d.probes(region, 202, 200)
			}
		}
	}
	b.event(history.EvHealth, map[string]any{"when": "after", "ok": true})
	return b.h
}

// frontDoor records the runbook's switch of the front door, and a late
// notice right after it.
func (d *drill) frontDoor(region, direction string) {
	if !d.noSwitchEvents {
		d.b.event(history.EvFrontDoorSwitched, map[string]any{"region": region, "direction": direction})
	}
	if d.notice == "late" {
		d.b.event(history.EvCustomerNotified, map[string]any{"direction": direction, "to": region})
	}
}

// snapshot holds the acknowledged writes that pass keep, as stored.
func (d *drill) snapshot(region string, keep func(key string) bool) *topology.Snapshot {
	s := &topology.Snapshot{Region: topology.RegionName(region), Journal: map[string]topology.JournalEntry{},
		Invoices: map[string]topology.InvoiceRow{}, Objects: map[string]string{}}
	for i, key := range d.acked {
		if !keep(key) {
			continue
		}
		var n int
		if strings.HasPrefix(key, "inv-") {
			fmt.Sscanf(key, "inv-%d", &n)
			s.Invoices[key] = topology.InvoiceRow{Key: key, ObjectKey: "doc/" + key, SHA256: fmt.Sprintf("sum-%d", n), Amount: int64(100 + n)}
			s.Objects["doc/"+key] = fmt.Sprintf("sum-%d", n)
			continue
		}
		fmt.Sscanf(key, "je-%d", &n)
		amt := int64(100 + n)
		s.Journal[key] = topology.JournalEntry{Key: key, LineCount: 2, Applied: 1,
			Lines: []topology.JournalLine{{Account: "1100-cash", Debit: amt}, {Account: "4000-revenue", Credit: amt}}}
		_ = i
	}
	return s
}

// input is the drill's history with the promoted region having lost the
// last lostBefore of writes before the fault, and every write in the end.
func (d *drill) input(lostBefore time.Duration) Input {
	h := d.run()
	after := d.snapshot("b", func(k string) bool { return d.ackAt[k] < d.fault-lostBefore })
	final := d.snapshot("a", func(string) bool { return true })
	after.LimitedMode = true
	return Input{History: h, AfterFailover: after, Final: final, Budgets: DefaultBudgets(), Cutovers: cutovers(scenario())}
}

func check(t *testing.T, c Check, in Input, want Verdict, mentions ...string) Result {
	t.Helper()
	r := c.Check(in)
	if r.Name != c.Name() {
		t.Errorf("result named %q, check %q", r.Name, c.Name())
	}
	if r.Verdict != want {
		t.Fatalf("%s: want %s, got %s: %s", c.Name(), want, r.Verdict, r.Explanation)
	}
	if r.Explanation == "" {
		t.Errorf("%s: no explanation", c.Name())
	}
	for _, m := range mentions {
		if !strings.Contains(r.Explanation, m) {
			t.Errorf("%s: explanation lacks %q: %s", c.Name(), m, r.Explanation)
		}
	}
	for _, i := range r.Ops {
		if i < 0 || i >= len(in.History.Ops) {
			t.Errorf("%s: op %d outside the history", c.Name(), i)
		}
	}
	t.Logf("%s %s: observed %s budget %s: %s", r.Name, r.Verdict, r.Observed, r.Budget, r.Explanation)
	return r
}

func TestRegistryHasEveryCheck(t *testing.T) {
	for _, n := range []string{"validity", "rpo", "rto", "failback-loss", "failback-interruption", "batch-outage",
		"fault-domain-availability", "ledger", "cross-store", "limited-mode", "sign-off", "replication-lag",
		"customer-notice", "restored-after-failback", "secondary-capacity", "cutover-fingerprint"} {
		if c, ok := Lookup(n); !ok || c.Name() != n {
			t.Errorf("check %s not registered under its name", n)
		}
	}
}

func TestSyntheticDrillPassesEveryCheck(t *testing.T) {
	in := newDrill().input(2 * time.Minute)
	for _, n := range []string{"validity", "rpo", "rto", "failback-loss", "failback-interruption", "batch-outage",
		"ledger", "cross-store", "limited-mode", "sign-off", "replication-lag", "customer-notice", "restored-after-failback", "secondary-capacity", "cutover-fingerprint"} {
		c, _ := Lookup(n)
		check(t, c, in, Pass)
	}
}

func TestRPOFailsBeyondBudget(t *testing.T) {
	r := check(t, RPO{}, newDrill().input(20*time.Minute), Fail, "exceeds the RPO budget", "je-")
	if r.Observed < 19*time.Minute || r.LostCount == 0 || r.Window == nil {
		t.Errorf("rpo observed %s lost %d window %v", r.Observed, r.LostCount, r.Window)
	}
}

func TestRPOWithoutFailoverAllowsNoLoss(t *testing.T) {
	d := newDrill()
	d.fault = 200 * time.Minute // never: no fault, no failover inside the run
	d.foStart, d.failbackDrained, d.failbackDone = 300*time.Minute, 300*time.Minute, 300*time.Minute
	h := d.run()
	final := d.snapshot("a", func(k string) bool { return k != "je-5" })
	in := Input{History: h, Final: final, Budgets: DefaultBudgets()}
	check(t, RPO{}, in, Fail, "je-5", "without any failover")
	in.Final = d.snapshot("a", func(string) bool { return true })
	check(t, RPO{}, in, Pass)
}

func TestFailbackInterruption(t *testing.T) {
	in := newDrill().input(time.Minute)
	r := check(t, FailbackInterruption{}, in, Pass)
	if r.Observed < time.Minute || r.Observed > 2*time.Minute+30*time.Second {
		t.Errorf("interruption %s, want about the 1-minute drain", r.Observed)
	}
	d := newDrill()
	d.failbackDone = 71 * time.Minute // drained 8 minutes
	in = d.input(time.Minute)
	r = check(t, FailbackInterruption{}, in, Fail, "above the budget", "front-door-drained at 1h3m")
	if r.Observed < 8*time.Minute || r.Violations == 0 || r.Window == nil {
		t.Errorf("observed %s violations %d window %v", r.Observed, r.Violations, r.Window)
	}
	if in.History.Ops[r.Window.EndOp].Region != "a" {
		t.Errorf("the stretch must end at the first write acknowledged by region a: %+v", in.History.Ops[r.Window.EndOp])
	}
}

func TestBatchOutage(t *testing.T) {
	d := newDrill()
	d.failbackDone = 71 * time.Minute
	in := d.input(time.Minute)
	check(t, BatchOutage{}, in, Pass, "within the budget")
	in.Budgets.BatchOutage = 3 * time.Minute
	r := check(t, BatchOutage{}, in, Fail, "above the budget", "batch-")
	if r.Violations == 0 || r.Observed < 8*time.Minute {
		t.Errorf("violations %d observed %s", r.Violations, r.Observed)
	}
}

func TestLimitedMode(t *testing.T) {
	check(t, LimitedMode{}, newDrill().input(time.Minute), Pass, "refused with 423")
	d := newDrill()
	d.maintB = 202
	r := check(t, LimitedMode{}, d.input(time.Minute), Fail, "update maint-", "accepted by aos-b-2")
	if r.Violations == 0 {
		t.Error("no violation counted")
	}
	d = newDrill()
	d.reportB = 200
	in := d.input(time.Minute)
	in.AfterFailover.LimitedMode = false
	check(t, LimitedMode{}, in, Fail, "financial report report-", "not in limited mode right after failover")
}

func TestSignOff(t *testing.T) {
	check(t, SignOff{}, newDrill().input(2*time.Minute), Pass, "sign-off was granted first")
	d := newDrill()
	d.signOff = false
	r := check(t, SignOff{}, d.input(2*time.Minute), Fail, "without the customer's written sign-off", "no sign-off was requested")
	if r.LostCount == 0 {
		t.Error("lost writes not named")
	}
	d = newDrill()
	d.signOff = false
	check(t, SignOff{}, d.input(0), Pass, "without sign-off, as the promise allows")
}

func TestSignOffRefusedMustWait(t *testing.T) {
	b := newBuilder()
	b.event(history.EvSignOffRequested, nil)
	b.at(time.Minute)
	ref := b.event(history.EvSignOffRefused, map[string]any{"region": "a"})
	b.at(2 * time.Minute)
	b.op(1, history.JournalEntry, "je-1", history.OK, 200, "a", "aos-a-1", time.Second, nil)
	check(t, SignOff{}, Input{History: b.h}, Pass, "waited")
	b.op(1, history.JournalEntry, "je-2", history.OK, 200, "b", "aos-b-1", time.Second, nil)
	r := check(t, SignOff{}, Input{History: b.h}, Fail, "je-2")
	if r.Ops[0] != ref.Index-1 && r.Ops[len(r.Ops)-1] == ref.Index {
		t.Errorf("ops %v", r.Ops)
	}
	b.event(history.EvFailoverStart, map[string]any{"from": "a", "to": "b"})
	check(t, SignOff{}, Input{History: b.h, AfterFailover: &topology.Snapshot{}}, Fail, "refused sign-off")
}

func TestReplicationLag(t *testing.T) {
	check(t, ReplicationLag{}, newDrill().input(time.Minute), Pass, "stayed within")
	d := newDrill()
	d.blobLag = 1200
	r := check(t, ReplicationLag{}, d.input(time.Minute), Fail, "blob in", "blob replication at 20m0s")
	if r.Observed != 20*time.Minute || r.Violations == 0 || r.Window == nil {
		t.Errorf("observed %s violations %d", r.Observed, r.Violations)
	}
	check(t, ReplicationLag{}, Input{History: newBuilder().h}, Unknown, "samples")
	// The blob source unreadable at every sample: its last figures (a lag
	// of 0) measure nothing, and the check must not pass on SQL alone.
	d = newDrill()
	d.blobStale = true
	check(t, ReplicationLag{}, d.input(time.Minute), Unknown, "no blob replication lag was measured", "could not be read at 29 samples")
	// A blob lag that never rose above 0 names no sample.
	d = newDrill()
	d.blobLag = 0
	check(t, ReplicationLag{}, d.input(time.Minute), Pass, "blob lag stayed at 0s")
}

func TestLedger(t *testing.T) {
	d := newDrill()
	in := d.input(time.Minute)
	check(t, Ledger{}, in, Pass, "balanced")
	e := in.Final.Journal["je-1"]
	e.Lines = []topology.JournalLine{{Account: "1100-cash", Debit: 101}, {Account: "4000-revenue", Credit: 90}}
	in.Final.Journal["je-1"] = e
	p := in.Final.Journal["je-2"]
	p.Lines = p.Lines[:1]
	in.Final.Journal["je-2"] = p
	dup := in.Final.Journal["je-4"]
	dup.Applied = 2
	in.Final.Journal["je-4"] = dup
	in.Final.Journal["je-phantom"] = topology.JournalEntry{Key: "je-phantom", LineCount: 2, Applied: 1,
		Lines: []topology.JournalLine{{Debit: 5}, {Credit: 5}}}
	amt := in.Final.Journal["je-5"]
	amt.Lines = []topology.JournalLine{{Debit: 7}, {Credit: 7}}
	in.Final.Journal["je-5"] = amt
	r := check(t, Ledger{}, in, Fail, "je-1: unbalanced (debits 101, credits 90)", "je-2: unbalanced (debits 102, credits 0), partial (1 of 2", "je-4: applied 2 times",
		"je-phantom: no client posted it")
	if r.Violations != 5 {
		t.Errorf("violations %d, want 5", r.Violations)
	}
	if !strings.Contains(r.Explanation, "and 1 more") { // je-5, the amount that differs
		t.Errorf("explanation should count the rest: %s", r.Explanation)
	}
	check(t, Ledger{}, Input{History: in.History}, Unknown)
}

func TestCrossStore(t *testing.T) {
	d := newDrill()
	in := d.input(time.Minute)
	// A document lost with replication just before the fault is tolerated.
	var recent, old string
	for _, k := range d.acked {
		if strings.HasPrefix(k, "inv-") && d.ackAt[k] < d.fault-2*time.Minute && d.ackAt[k] > d.fault-10*time.Minute {
			recent = k
		}
		if strings.HasPrefix(k, "inv-") && old == "" {
			old = k
		}
	}
	delete(in.AfterFailover.Objects, "doc/"+recent)
	check(t, CrossStore{}, in, Pass, "inside the RPO window")
	delete(in.AfterFailover.Objects, "doc/"+old)
	r := check(t, CrossStore{}, in, Fail, old+": document doc/"+old+" missing from the bucket in region b right after failover")
	if r.Observed < 25*time.Minute || r.Violations != 1 {
		t.Errorf("observed %s violations %d", r.Observed, r.Violations)
	}
	in = d.input(time.Minute)
	in.Final.Objects["doc/"+old] = "other"
	check(t, CrossStore{}, in, Fail, "has checksum other")
}

// faultDomainRun is a run that loses fault domain 0 of region a from 10 to
// 15 min with a write every 10 s: the write at failAt (if any) is refused
// past the retry budget, and missing (if any) is absent from the final data.
func faultDomainRun(failAt time.Duration, missing string) Input {
	b := newBuilder()
	b.event(history.EvHealth, map[string]any{"when": "before", "ok": true})
	final := &topology.Snapshot{Region: "a", Journal: map[string]topology.JournalEntry{}}
	for i := 1; i <= 120; i++ {
		t := time.Duration(i) * 10 * time.Second
		b.at(t)
		if t == 10*time.Minute {
			b.event(history.EvFaultInjected, map[string]any{"fault": "fault-domain-loss", "region_loss": false, "verified": true,
				"params": map[string]string{"region": "a", "domain": "0"}})
		}
		if t == 15*time.Minute {
			b.event(history.EvFaultRecovered, map[string]any{"fault": "fault-domain-loss"})
		}
		key := fmt.Sprintf("je-%d", i)
		if t == failAt {
			b.op(1, history.JournalEntry, key, history.Fail, 503, "a", "", 2*time.Minute, nil)
			continue
		}
		b.op(1, history.JournalEntry, key, history.OK, 200, "a", "aos-a-1", time.Second, nil)
		final.Journal[key] = topology.JournalEntry{Key: key}
	}
	b.event(history.EvHealth, map[string]any{"when": "after", "ok": true})
	delete(final.Journal, missing)
	return Input{History: b.h, Final: final, Budgets: DefaultBudgets()}
}

func TestFaultDomainAvailability(t *testing.T) {
	build := func(failAt time.Duration) Input { return faultDomainRun(failAt, "") }
	check(t, FaultDomainAvailability{}, build(0), Pass, "barely noticed")
	r := check(t, FaultDomainAvailability{}, build(12*time.Minute), Fail, "je-72", "failed past the retry budget", "fault-domain-loss")
	if r.Violations != 1 {
		t.Errorf("violations %d", r.Violations)
	}
	in := build(0)
	delete(in.Final.Journal, "je-80")
	check(t, FaultDomainAvailability{}, in, Fail, "je-80", "missing from region a")
	check(t, FaultDomainAvailability{}, newDrill().input(0), Unknown)
}

// loseFailedOverWrite deletes from in's final data a write region b
// acknowledged while failed over, before the front door's drain, and
// returns its key.
func (d *drill) loseFailedOverWrite(in Input) string {
	for _, k := range d.acked {
		if d.ackAt[k] > 55*time.Minute && d.ackAt[k] < d.failbackDrained {
			delete(in.Final.Journal, k)
			delete(in.Final.Invoices, k)
			return k
		}
	}
	return ""
}

func TestFailbackLoss(t *testing.T) {
	d := newDrill()
	in := d.input(time.Minute)
	check(t, FailbackLoss{}, in, Pass, "survived the failback")
	inB := d.loseFailedOverWrite(in)
	r := check(t, FailbackLoss{}, in, Fail, inB, "final log backup", "the front door's drain")
	if r.LostCount != 1 || r.Lost[0].Region != "b" || r.Observed <= 0 {
		t.Errorf("lost %+v observed %s", r.Lost, r.Observed)
	}
}

func TestRTO(t *testing.T) {
	in := newDrill().input(time.Minute)
	// The explanation says where the recovery time went, step by step.
	r := check(t, RTO{}, in, Pass, "recovered in region b", "promote SQL secondary took 7.21s wall, 2 attempts")
	in.Budgets.RTO = 10 * time.Minute
	r = check(t, RTO{}, in, Fail, "region-outage")
	if r.Observed < 17*time.Minute || r.Window == nil {
		t.Errorf("observed %s", r.Observed)
	}
}

func TestValidity(t *testing.T) {
	in := newDrill().input(time.Minute)
	check(t, Validity{}, in, Pass)
	in.Budgets.MinWritesBeforeFault = 1000
	check(t, Validity{}, in, Unknown, "acknowledged writes before the fault")
}

func TestLedgerOrphanLines(t *testing.T) {
	in := newDrill().input(time.Minute)
	in.AfterFailover.Journal["orphan-entry-268"] = topology.JournalEntry{Key: "orphan-entry-268",
		Lines: []topology.JournalLine{{Debit: 5}, {Credit: 5}}}
	r := check(t, Ledger{}, in, Fail, "orphan-entry-268: 2 journal lines with no entry row", "region b right after failover")
	if r.Violations != 1 {
		t.Errorf("violations %d", r.Violations)
	}
}

// The unknown-on-nothing branches: a check with nothing to judge says
// unknown, never pass.

func TestWorstOfNothingIsUnknown(t *testing.T) {
	if v := Worst(); v != Unknown {
		t.Errorf("the verdict of no checks is %s, want unknown", v)
	}
	if v := Worst(Pass, Unknown); v != Unknown {
		t.Errorf("pass and unknown give %s", v)
	}
	if v := Worst(Pass, Pass); v != Pass {
		t.Errorf("pass and pass give %s", v)
	}
}

func TestRPOUnknownWithNothingToLose(t *testing.T) {
	// A failover with no write acknowledged before it.
	b := newBuilder()
	b.event(history.EvHealth, map[string]any{"when": "before", "ok": true})
	b.at(10 * time.Minute)
	b.event(history.EvFaultInjected, map[string]any{"fault": "region-outage", "region_loss": true, "verified": true})
	b.at(40 * time.Minute)
	b.event(history.EvFailoverStart, map[string]any{"from": "a", "to": "b"})
	b.event(history.EvFailoverDone, map[string]any{"from": "a", "to": "b"})
	b.at(41 * time.Minute)
	b.op(1, history.JournalEntry, "je-1", history.OK, 200, "b", "aos-b-1", time.Second, nil)
	empty := &topology.Snapshot{Region: "b", Journal: map[string]topology.JournalEntry{}}
	check(t, RPO{}, Input{History: b.h, AfterFailover: empty, Final: empty, Budgets: DefaultBudgets()}, Unknown, "no write was acknowledged before the failover")

	// No failover and no write at all.
	b = newBuilder()
	b.event(history.EvFaultInjected, map[string]any{"fault": "instance-crash", "verified": true})
	check(t, RPO{}, Input{History: b.h, Final: empty, Budgets: DefaultBudgets()}, Unknown, "nothing to lose")
}

func TestFailbackLossUnknownWithNothingWrittenWhileFailedOver(t *testing.T) {
	d := newDrill()
	d.quietFailedOver = true
	check(t, FailbackLoss{}, d.input(time.Minute), Unknown, "no write was acknowledged by the failed-over region")
}

func TestFaultDomainAvailabilityUnknownWithoutRequests(t *testing.T) {
	b := newBuilder()
	b.event(history.EvHealth, map[string]any{"when": "before", "ok": true})
	b.at(5 * time.Minute)
	b.op(1, history.JournalEntry, "je-1", history.OK, 200, "a", "aos-a-1", time.Second, nil)
	b.at(10 * time.Minute)
	b.event(history.EvFaultInjected, map[string]any{"fault": "fault-domain-loss", "verified": true})
	b.at(15 * time.Minute)
	b.event(history.EvFaultRecovered, map[string]any{"fault": "fault-domain-loss"})
	final := &topology.Snapshot{Region: "a", Journal: map[string]topology.JournalEntry{"je-1": {Key: "je-1"}}}
	check(t, FaultDomainAvailability{}, Input{History: b.h, Final: final, Budgets: DefaultBudgets()}, Unknown, "no client request")
}

func TestReplicationLagUnknownWhenNothingRestored(t *testing.T) {
	b := newBuilder()
	for i := 1; i <= 10; i++ {
		b.at(time.Duration(i) * time.Minute)
		// The secondary restored nothing yet: its lag reads 0.
		b.event(history.EvLag, map[string]any{"sql_lag_s": 0.0, "sql_restored": false})
	}
	check(t, ReplicationLag{}, Input{History: b.h, Budgets: DefaultBudgets()}, Unknown, "restored nothing")
}

func TestSignOffRequestedNeverGrantedFails(t *testing.T) {
	d := newDrill()
	d.signOff, d.askOnly = false, true
	// Even a failover that happened to lose nothing breaks the rule.
	check(t, SignOff{}, d.input(0), Fail, "never granted", "happened to lose no acknowledged write")
	d = newDrill()
	d.signOff, d.askOnly = false, true
	r := check(t, SignOff{}, d.input(2*time.Minute), Fail, "never granted", "je-")
	if r.LostCount == 0 {
		t.Error("lost writes not named")
	}
}

func TestRTOAfterRefusedSignOff(t *testing.T) {
	build := func(recovers bool) Input {
		b := newBuilder()
		b.at(10 * time.Minute)
		b.event(history.EvFaultInjected, map[string]any{"fault": "region-outage", "region_loss": true, "verified": true})
		b.at(40 * time.Minute)
		b.event(history.EvSignOffRequested, map[string]any{"possible_loss": true})
		b.event(history.EvSignOffRefused, map[string]any{"region": "a"})
		for i := 0; i < 10; i++ {
			b.at(time.Duration(41+i) * time.Minute)
			typ, status := history.Fail, 503
			if recovers && i >= 5 {
				typ, status = history.OK, 200
			}
			b.op(1, history.JournalEntry, fmt.Sprintf("je-%d", i), typ, status, "a", "aos-a-1", time.Second, nil)
		}
		// The run ends with a write in flight: cut short, it says nothing.
		b.at(55 * time.Minute)
		b.add(history.Op{Process: 2, Type: history.Invoke, Kind: history.JournalEntry, Key: "je-cut"})
		b.add(history.Op{Process: 2, Type: history.Unknown, Kind: history.JournalEntry, Key: "je-cut", Error: `Post "http://x/journal": context canceled`})
		return Input{History: b.h, Budgets: DefaultBudgets()}
	}
	r := check(t, RTO{}, build(true), Pass, "sign-off was refused", "recovered in region a")
	if r.Observed < 35*time.Minute {
		t.Errorf("observed %s, want from the fault to the recovery in region a", r.Observed)
	}
	check(t, RTO{}, build(false), Fail, "sign-off was refused", "did not recover in region a")
}

func TestUnjudgedFailuresMeanNoPass(t *testing.T) {
	b := newBuilder()
	b.at(time.Minute)
	b.op(1, history.JournalEntry, "je-1", history.OK, 200, "a", "aos-a-1", time.Second, nil)
	b.at(10 * time.Minute)
	b.event(history.EvFaultInjected, map[string]any{"fault": "fault-domain-loss", "verified": true})
	b.at(11 * time.Minute)
	b.op(1, history.JournalEntry, "je-2", history.Fail, 503, "a", "", 3*time.Minute, nil)
	b.at(15 * time.Minute)
	b.event(history.EvFaultRecovered, map[string]any{"fault": "fault-domain-loss"})
	b.at(30 * time.Minute)
	b.op(1, history.Report, "report-3", history.Fail, 503, "a", "", time.Second, nil)
	in := Input{History: b.h, Budgets: DefaultBudgets()}
	// Availability ran and judged the fault's window: only the report long
	// after it is unjudged.
	why := Unjudged(in, []Result{{Name: "fault-domain-availability", Verdict: Fail}})
	if !strings.Contains(why, "1 customer request") || !strings.Contains(why, "report-3") {
		t.Errorf("unjudged: %q, want the report after the fault", why)
	}
	// Availability skipped (or unknown): both failures are unjudged.
	for _, rs := range [][]Result{nil, {{Name: "fault-domain-availability", Verdict: Unknown}}} {
		if why := Unjudged(in, rs); !strings.Contains(why, "2 customer requests") {
			t.Errorf("unjudged with %v: %q", rs, why)
		}
	}
	// A run whose only failure lies in a judged window has nothing unjudged.
	in.History.Ops = in.History.Ops[:len(in.History.Ops)-2]
	if why := Unjudged(in, []Result{{Name: "fault-domain-availability", Verdict: Pass}}); why != "" {
		t.Errorf("unjudged: %q, want none", why)
	}
}

// stallThenLoss is a synthetic replication-stall-then-loss: the WAN is cut
// at 30m (the fault's injection), region a keeps acknowledging writes until
// it is lost at 70m (region-lost, when lost is true), failover at 90m.
// The promoted region has only what was shipped before the WAN cut.
func stallThenLoss(lost bool) Input {
	b := newBuilder()
	b.event(history.EvHealth, map[string]any{"when": "before", "ok": true})
	after := &topology.Snapshot{Region: "b", Journal: map[string]topology.JournalEntry{}}
	n := 0
	write := func() {
		n++
		key := fmt.Sprintf("je-%d", n)
		_, res := b.op(1, history.JournalEntry, key, history.OK, 200, "a", "aos-a-1", time.Second, nil)
		if res.Service < 30*time.Minute {
			after.Journal[key] = topology.JournalEntry{Key: key}
		}
	}
	for t := time.Minute; t < 70*time.Minute; t += time.Minute {
		b.at(t)
		if t == 30*time.Minute {
			b.event(history.EvFaultInjected, map[string]any{"fault": "replication-stall-then-loss", "region_loss": true, "verified": true})
		}
		write()
	}
	b.at(70 * time.Minute)
	if lost {
		b.event(history.EvRegionLost, map[string]any{"region": "a", "fault": "replication-stall-then-loss"})
	}
	b.at(90 * time.Minute)
	b.event(history.EvSignOffRequested, map[string]any{"possible_loss": true})
	b.event(history.EvSignOffGranted, map[string]any{"region": "a"})
	b.event(history.EvFailoverStart, map[string]any{"from": "a", "to": "b"})
	b.event(history.EvFailoverDone, map[string]any{"from": "a", "to": "b"})
	return Input{History: b.h, AfterFailover: after, Final: after, Budgets: DefaultBudgets()}
}

// The loss window ends at the moment region a was lost, not at the start
// of the composite fault's injection.
func TestRPOMeasuresToTheMomentOfLoss(t *testing.T) {
	r := check(t, RPO{}, stallThenLoss(true), Fail, "exceeds the RPO budget", "region a lost at service 1h10m0s (region-lost, by replication-stall-then-loss)")
	if r.Observed < 39*time.Minute || r.LostCount != 40 {
		t.Errorf("observed %s lost %d, want about 40 minutes and 40 writes", r.Observed, r.LostCount)
	}
	s := check(t, SignOff{}, stallThenLoss(true), Pass, "granted first")
	if s.Observed != r.Observed {
		t.Errorf("sign-off measured %s, rpo %s: both measure to the moment of loss", s.Observed, r.Observed)
	}
}

// Without the moment of loss, the window (measured from the fault's
// injection) does not hold the lost writes: the guard says so, and a pass
// it would have given becomes unknown.
func TestLossWindowGuard(t *testing.T) {
	in := stallThenLoss(false)
	in.Budgets.RPO = 2 * time.Hour
	check(t, RPO{}, in, Unknown, "INCONSISTENT", "acknowledged outside the reported window")
	check(t, RPO{}, stallThenLoss(true), Fail)
	in = stallThenLoss(true)
	in.Budgets.RPO = 2 * time.Hour
	r := check(t, RPO{}, in, Pass)
	if strings.Contains(r.Explanation, "INCONSISTENT") {
		t.Errorf("a consistent window flagged: %s", r.Explanation)
	}
}

// A single-instance fault (the region's only blob store crashed): requests
// failing during it are its expected outage, which rpo's no-loss judges;
// fault-domain-availability has nothing of its own to judge.
func TestSingleInstanceFaultOutageIsExpected(t *testing.T) {
	b := newBuilder()
	b.at(time.Minute)
	b.op(1, history.Invoice, "inv-1", history.OK, 201, "a", "aos-a-1", time.Second, nil)
	b.at(10 * time.Minute)
	b.event(history.EvFaultInjected, map[string]any{"fault": "blob-crash", "verified": true})
	b.at(11 * time.Minute)
	b.op(1, history.Invoice, "inv-2", history.Fail, 503, "a", "aos-a-1", 3*time.Minute, nil)
	b.at(15 * time.Minute)
	b.event(history.EvFaultRecovered, map[string]any{"fault": "blob-crash"})
	b.at(30 * time.Minute)
	b.op(1, history.Invoice, "inv-3", history.OK, 201, "a", "aos-a-1", time.Second, nil)
	in := Input{History: b.h, Budgets: DefaultBudgets()}
	check(t, FaultDomainAvailability{}, in, Unknown, "no hardware or network fault")
	if why := Unjudged(in, []Result{{Name: "rpo", Verdict: Pass}}); why != "" {
		t.Errorf("a blob-crash outage judged by rpo left %q unjudged", why)
	}
	if why := Unjudged(in, nil); !strings.Contains(why, "inv-2") {
		t.Errorf("with no rpo the blob-crash failure is unjudged, got %q", why)
	}
}

// A region is not lost in an instant: a write acknowledged while the
// region-loss injection was still killing it is inside the loss, and the
// consistency guard says nothing; one acknowledged after the injection
// had finished is named.
func TestLossGuardAcceptsWritesDuringTheInjection(t *testing.T) {
	build := func(took float64) Input {
		b := newBuilder()
		after := &topology.Snapshot{Region: "b", Journal: map[string]topology.JournalEntry{}}
		for i := 1; i <= 20; i++ {
			b.at(time.Duration(i) * time.Minute)
			key := fmt.Sprintf("je-%d", i)
			b.op(1, history.JournalEntry, key, history.OK, 200, "a", "aos-a-1", time.Second, nil)
			if i <= 15 {
				after.Journal[key] = topology.JournalEntry{Key: key}
			}
		}
		b.at(20*time.Minute + 2*time.Second)
		b.event(history.EvFaultInjected, map[string]any{"fault": "region-outage", "region_loss": true, "verified": true, "inject_wall_s": took})
		b.h.Ops[len(b.h.Ops)-1].Service = 20*time.Minute - 5*time.Second // injection began before the last acknowledgement
		b.h.Ops[len(b.h.Ops)-1].Wall = b.h.Epoch.Add(time.Duration(float64(20*time.Minute-5*time.Second) / b.h.Scale))
		b.at(40 * time.Minute)
		b.event(history.EvSignOffRequested, map[string]any{"possible_loss": true})
		b.event(history.EvSignOffGranted, map[string]any{"region": "a"})
		b.event(history.EvFailoverStart, map[string]any{"from": "a", "to": "b"})
		b.event(history.EvFailoverDone, map[string]any{"from": "a", "to": "b"})
		return Input{History: b.h, AfterFailover: after, Final: after, Budgets: DefaultBudgets()}
	}
	if r := (RPO{}).Check(build(0.1)); r.Verdict != Pass || strings.Contains(r.Explanation, "INCONSISTENT") {
		t.Errorf("a write acknowledged 5 service seconds into a 20-second injection: %s: %s", r.Verdict, r.Explanation)
	}
	if r := (RPO{}).Check(build(0)); r.Verdict != Unknown || !strings.Contains(r.Explanation, "INCONSISTENT") {
		t.Errorf("a write sent and acknowledged after an instant injection: %s: %s", r.Verdict, r.Explanation)
	}
	// A write in flight at the loss: sent before the region went,
	// acknowledged (the answer reaching the client) after an instant
	// injection. The region took it before it was lost: inside the loss.
	in := build(0)
	for i := range in.History.Ops {
		op := &in.History.Ops[i]
		if op.Key == "je-20" && op.Type == history.Invoke {
			op.Service = 20*time.Minute - 6*time.Second
			op.Wall = in.History.Epoch.Add(time.Duration(float64(op.Service) / in.History.Scale))
		}
	}
	if r := (RPO{}).Check(in); r.Verdict != Pass || strings.Contains(r.Explanation, "INCONSISTENT") {
		t.Errorf("a write in flight at the loss: %s: %s", r.Verdict, r.Explanation)
	}
}

// The failback lasts until the old primary is rebuilt as a standby: a write
// that fails while the rebuild loads the machine, after failback-done and
// its retry budget, is the failback checks' business, and only theirs.
func TestFailbackLastsUntilTheStandbyIsRebuilt(t *testing.T) {
	var judging []Result
	for _, n := range []string{"rpo", "rto", "failback-interruption", "batch-outage"} {
		judging = append(judging, Result{Name: n, Verdict: Pass})
	}
	d := newDrill()
	d.failAt = 70 * time.Minute // failback-done at 64 min
	in := d.input(time.Minute)
	if why := Unjudged(in, judging); !strings.Contains(why, "invoked at service 1h10m0s") {
		t.Errorf("without a standby-rebuilt event the failure at 70 min is outside the failback: %q", why)
	}
	d = newDrill()
	d.failAt, d.standbyRebuilt = 70*time.Minute, 72*time.Minute
	in = d.input(time.Minute)
	if why := Unjudged(in, judging); why != "" {
		t.Errorf("before the standby was rebuilt the failure is the failback's: %q", why)
	}
	check(t, FailbackInterruption{}, in, Pass)
}

// failAfter turns every acknowledged operation of kinds, from service time
// from on, into a failure: the service never came back before the run
// ended.
func failAfter(in Input, from time.Duration, kinds ...history.Kind) {
	for i, op := range in.History.Ops {
		if op.Type != history.OK || op.Service < from || !slices.Contains(kinds, op.Kind) {
			continue
		}
		in.History.Ops[i].Type, in.History.Ops[i].Status = history.Fail, 503
	}
}

// Still down when the run ended: over the budget it fails; within it the
// run ended too soon to tell, which is unknown, never fail.
func TestStillDownAtTheEndOfTheRun(t *testing.T) {
	d := newDrill()
	in := d.input(time.Minute)
	failAfter(in, d.failbackDrained, history.JournalEntry, history.Invoice)
	r := check(t, FailbackInterruption{}, in, Fail, "to the end of the run, above the budget")
	if r.Observed < 10*time.Minute {
		t.Errorf("observed %s, want the stretch to the end of the run", r.Observed)
	}
	in.Budgets.FailbackInterruption = time.Hour
	check(t, FailbackInterruption{}, in, Unknown, "the run ended", "cannot tell")

	d = newDrill()
	in = d.input(time.Minute)
	failAfter(in, 62*time.Minute, history.Batch)
	check(t, BatchOutage{}, in, Unknown, "still down when the run ended", "cannot tell")
	in.Budgets.BatchOutage = 3 * time.Minute
	check(t, BatchOutage{}, in, Fail, "did not come back", "above the budget")
}

// noFailover is the drill with its fault and failover beyond the run.
func noFailover() *drill {
	d := newDrill()
	d.fault = 200 * time.Minute
	d.foStart, d.failbackDrained, d.failbackDone = 300*time.Minute, 300*time.Minute, 300*time.Minute
	return d
}

func TestCustomerNotice(t *testing.T) {
	r := check(t, CustomerNotice{}, newDrill().input(time.Minute), Pass, "failover notice at service 47m0s", "named the expected loss (writes of up to 17m0s", "failback notice at service 1h2m0s")
	if r.Violations != 0 || len(r.Ops) < 6 {
		t.Errorf("violations %d, ops %v: want none, and the notices, switches and sign-off request named", r.Violations, r.Ops)
	}
	// Without sign-off nothing may be lost, so no loss need be named.
	d := newDrill()
	d.signOff, d.notice = false, "no-loss"
	check(t, CustomerNotice{}, d.input(0), Pass, "failover notice")

	d = newDrill()
	d.notice = "none"
	r = check(t, CustomerNotice{}, d.input(time.Minute), Fail, "no failover notice reached customers before the traffic switch to region b at service 48m0s",
		"no failback notice reached customers before the traffic switch to region a at service 1h4m0s")
	if r.Violations != 2 {
		t.Errorf("violations %d, want 2 (both directions)", r.Violations)
	}
	d = newDrill()
	d.notice = "no-loss"
	check(t, CustomerNotice{}, d.input(time.Minute), Fail, "did not name the expected loss", "asked for sign-off at 47m0s")
	d = newDrill()
	d.notice = "late"
	check(t, CustomerNotice{}, d.input(time.Minute), Fail, "the failover notice came at service 48m0s, 0s after the traffic switch", "the failback notice came")
}

// In a run with a notification sink only the sink's records count: a
// customer-notified event the sink did not record (no received_by) is
// no notice a customer got.
func TestCustomerNoticeCountsOnlyTheSinksRecords(t *testing.T) {
	in := newDrill().input(time.Minute)
	ops := append([]history.Op(nil), in.History.Ops...)
	last := ops[len(ops)-1]
	ops = append(ops, history.Op{Index: len(ops), Process: -1, Type: history.Info, Kind: history.Event, Key: history.EvNotificationSink,
		Wall: last.Wall, Service: last.Service, Value: map[string]any{"url": "http://127.0.0.1:1/notices"}})
	in.History.Ops = ops
	r := check(t, CustomerNotice{}, in, Fail, "no failover notice reached customers", "no failback notice reached customers")
	if r.Violations != 2 {
		t.Errorf("violations %d, want 2", r.Violations)
	}
	for i, op := range ops {
		if op.Key == history.EvCustomerNotified {
			v := map[string]any{"received_by": SinkReceivedBy}
			for k, x := range op.Value {
				v[k] = x
			}
			ops[i].Value = v
		}
	}
	check(t, CustomerNotice{}, in, Pass, "failover notice at service 47m0s", "failback notice at service 1h2m0s")
}

func TestCustomerNoticeWithoutSwitchEvents(t *testing.T) {
	// A history recorded before front-door-switched: failover-done and
	// failback-done, which follow the switch at once, stand for it.
	d := newDrill()
	d.noSwitchEvents = true
	check(t, CustomerNotice{}, d.input(time.Minute), Pass, "before the switch to region b at 48m0s", "before the switch to region a at 1h4m0s")
	d = newDrill()
	d.noSwitchEvents, d.notice = true, "none"
	check(t, CustomerNotice{}, d.input(time.Minute), Fail, "no failover notice", "no failback notice")
}

func TestCustomerNoticeSinkFailureNamed(t *testing.T) {
	d := newDrill()
	d.notice = "none"
	in := d.input(time.Minute)
	// The sink refused the failback's notice: the explanation says so.
	var ops []history.Op
	for _, op := range in.History.Ops {
		ops = append(ops, op)
		if op.Kind == history.Event && op.Key == history.EvFailbackStart {
			ops = append(ops, history.Op{Process: -1, Type: history.Info, Kind: history.Event, Key: history.EvCustomerNoticeFailed,
				Wall: op.Wall, Service: op.Service, Value: map[string]any{"direction": "failback", "error": "mail relay unreachable"}})
		}
	}
	for i := range ops {
		ops[i].Index = i
	}
	in.History.Ops = ops
	check(t, CustomerNotice{}, in, Fail, "the notification sink refused it at service 1h2m0s: mail relay unreachable")
}

func TestCustomerNoticeUnknownWithoutFailover(t *testing.T) {
	d := noFailover()
	check(t, CustomerNotice{}, Input{History: d.run(), Budgets: DefaultBudgets()}, Unknown, "no failover started", "no customer notice was owed")
	// A failover that never moved traffic: nothing to precede.
	d = newDrill()
	in := d.input(time.Minute)
	var ops []history.Op
	for _, op := range in.History.Ops {
		if op.Kind == history.Event && op.Service > d.foStart {
			continue // the run ended right after failover-start
		}
		if op.Kind != history.Event && op.Service > d.foStart {
			break
		}
		ops = append(ops, op)
	}
	in.History.Ops = ops
	check(t, CustomerNotice{}, in, Unknown, "traffic never moved to region b")
}

func TestRestoredAfterFailback(t *testing.T) {
	r := check(t, RestoredAfterFailback{}, newDrill().input(time.Minute), Pass, "financial reporting at service 1h6m", "maintenance and package deployment at", "batch at", "out of limited mode at the end")
	if r.Violations != 0 {
		t.Errorf("violations %d", r.Violations)
	}
	// Limited mode left on: reports and maintenance refused with 423.
	d := newDrill()
	d.afterMaint, d.afterReport = 423, 423
	in := d.input(time.Minute)
	in.Final.LimitedMode = true
	r = check(t, RestoredAfterFailback{}, in, Fail, "update maint-", "refused in limited mode by aos-a-2", "financial report report-",
		"financial reporting never answered normally after failback", "region a's database was still in limited mode at the end", "restored: batch at")
	if r.Violations < 5 || r.Window == nil || r.Observed < 5*time.Minute {
		t.Errorf("violations %d window %v observed %s: want every refusal counted, over the stretch after failback-done", r.Violations, r.Window, r.Observed)
	}
	// Reporting off after failback (a 503, not limited mode).
	d = newDrill()
	d.afterReport = 503
	d.afterMaint = 202
	r = check(t, RestoredAfterFailback{}, d.input(time.Minute), Fail, "financial reporting never answered normally after failback", "HTTP 503")
	if r.Violations != 1 {
		t.Errorf("violations %d, want 1", r.Violations)
	}
	// The limited-mode check judges only the failed-over period: it passes.
	check(t, LimitedMode{}, in, Pass)
}

func TestRestoredAfterFailbackUnknown(t *testing.T) {
	check(t, RestoredAfterFailback{}, Input{History: noFailover().run(), Budgets: DefaultBudgets()}, Unknown, "no failover completed")
	d := newDrill()
	d.failbackDrained, d.failbackDone = 300*time.Minute, 300*time.Minute
	check(t, RestoredAfterFailback{}, d.input(time.Minute), Unknown, "no failback completed")
	// Reports failing only while the failback still disrupts service (the
	// standby rebuilt at 1h10m, a retry budget after): the run cannot tell.
	d = newDrill()
	d.afterReport, d.afterMaint, d.standbyRebuilt = 503, 202, 70*time.Minute
	in := d.input(time.Minute)
	var ops []history.Op
	for _, op := range in.History.Ops {
		if op.Kind == history.Report && op.Service > 72*time.Minute {
			continue // the run ended for reports before the disruption did
		}
		ops = append(ops, op)
	}
	for i := range ops {
		ops[i].Index = i
	}
	in.History.Ops = ops
	check(t, RestoredAfterFailback{}, in, Unknown, "financial reporting was answered by region a after failback only with failures while the failback still disrupted it (until standby-rebuilt at service 1h10m0s plus a retry budget)")
	// Failback at the very end: no probe answered after it.
	d = newDrill()
	d.failbackDrained, d.failbackDone = 74*time.Minute+40*time.Second, 74*time.Minute+50*time.Second
	check(t, RestoredAfterFailback{}, d.input(time.Minute), Unknown, "no financial reporting request was answered by region a after failback")
}

func TestSecondaryCapacity(t *testing.T) {
	r := check(t, SecondaryCapacity{}, newDrill().input(2*time.Minute), Pass, "region b carried the load", "acknowledged writes per service minute")
	if r.Observed <= 0 || r.Budget <= r.Observed {
		t.Errorf("secondary-capacity must give the median against its budget: %s vs %s", r.Observed, r.Budget)
	}

	// Every write in region b takes 6 s instead of 1 s: over twice the
	// steady median plus the slack (5 ms + 10 ms wall at scale 200).
	slow := newDrill()
	slow.tookB = 6 * time.Second
	r = check(t, SecondaryCapacity{}, slow.input(2*time.Minute), Fail, "did not carry the load", "median write 30.0 ms wall against 5.0 ms", "over it")
	if r.Violations != 1 || r.Window == nil || r.Observed <= r.Budget {
		t.Errorf("a slow secondary must fail on latency alone: %+v", r)
	}

	// Region b answers one write in three: throughput a third of steady.
	sparse := newDrill()
	sparse.keepB = 3
	check(t, SecondaryCapacity{}, sparse.input(2*time.Minute), Fail, "throughput", "is under 0.8 of it")
}

func TestSecondaryCapacityLoadedMachineIsUnknown(t *testing.T) {
	// The same slow secondary, but the run's processes waited for a CPU
	// 25 ms wall in every tick: each write's wait explains its latency.
	d := newDrill()
	d.tookB, d.waitMS = 6*time.Second, 25
	r := check(t, SecondaryCapacity{}, d.input(2*time.Minute), Unknown, "too close to call", "CPU waits")
	if !r.TooClose {
		t.Errorf("a failure the machine explains must be marked too close: %+v", r)
	}
}

func TestSecondaryCapacityUnknown(t *testing.T) {
	// No failover: nothing to carry.
	d := newDrill()
	d.fault = 200 * time.Minute
	d.foStart, d.failbackDrained, d.failbackDone = 300*time.Minute, 300*time.Minute, 300*time.Minute
	h := d.run()
	check(t, SecondaryCapacity{}, Input{History: h, Budgets: DefaultBudgets()}, Unknown, "no failover completed")

	// Failed over, but no client wrote while it lasted.
	q := newDrill()
	q.quietFailedOver = true
	check(t, SecondaryCapacity{}, q.input(2*time.Minute), Unknown, "the run cannot tell", "0 writes were invoked")
}

func TestLimitedModeReportingRestoredOnRequest(t *testing.T) {
	// The customer asks support to restore financial reporting halfway:
	// reports refused before, served after, maintenance refused throughout.
	d := newDrill()
	d.supportAt = 55 * time.Minute
	r := check(t, LimitedMode{}, d.input(time.Minute), Pass, "3 of 3 report requests before the support request refused",
		"carried out (reporting-restored) at 55m", "4 of 4 report requests after it served")
	if r.Violations != 0 {
		t.Errorf("violations %d", r.Violations)
	}

	// The request is ignored: reports stay refused after it.
	d = newDrill()
	d.supportAt, d.ignoreSupport, d.reportBAfter = 55*time.Minute, true, 423
	r = check(t, LimitedMode{}, d.input(time.Minute), Fail, "refused in limited mode by aos-b-2", "after the support request to restore reporting",
		"never carried out", "0 of 3 report requests after it served")
	if r.Violations != 3 {
		t.Errorf("the three reports judged after the request (from a retry budget after it) must each count: %d", r.Violations)
	}

	// The request lifts limited mode altogether: maintenance accepted.
	d = newDrill()
	d.supportAt, d.maintBAfter = 55*time.Minute, 202
	check(t, LimitedMode{}, d.input(time.Minute), Fail, "update maint-", "accepted by aos-b-2")

	// A request, but no report reached region b after it was carried out.
	d = newDrill()
	d.supportAt = 62*time.Minute + 30*time.Second
	check(t, LimitedMode{}, d.input(time.Minute), Unknown, "no report request reached region b after the support request was carried out")
}

// BatchBackAfterFailback is the condition a drill's after phase waits on:
// true once a batch probe succeeded after the failback, false while none
// has, and not finished while no failback has.
func TestBatchBackAfterFailback(t *testing.T) {
	in := newDrill().input(time.Minute)
	if back, _, _, finished := BatchBackAfterFailback(in.History); !back || !finished {
		t.Errorf("probes every 2m after failback-done at 64m: back %v finished %v, want both", back, finished)
	}
	d := newDrill()
	d.failbackDone = 74*time.Minute + 30*time.Second // the last probe comes at 74m
	in = d.input(time.Minute)
	if back, _, _, finished := BatchBackAfterFailback(in.History); back || !finished {
		t.Errorf("no probe after failback-done: back %v finished %v, want false, true", back, finished)
	}
	check(t, BatchOutage{}, in, Unknown, "the run cannot tell")
	var before history.History
	before = in.History
	before.Ops = nil
	for _, op := range in.History.Ops {
		if op.Kind == history.Event && op.Key == history.EvFailbackStart {
			break
		}
		before.Ops = append(before.Ops, op)
	}
	if back, _, _, finished := BatchBackAfterFailback(before); back || finished {
		t.Errorf("before failback-start: back %v finished %v, want neither", back, finished)
	}
}

// failbackWindow starts a synthetic history with a write acknowledged by
// region b and failback from 10m to 12m (to region a); rebuilt records the
// standby rebuilt at 14m.
func failbackWindow() *builder {
	b := newBuilder()
	b.at(9*time.Minute+30*time.Second).op(1, history.JournalEntry, "je-1", history.OK, 201, "b", "aos-b-0", time.Second, nil)
	b.at(10*time.Minute).event(history.EvFailbackStart, map[string]any{"from": "b", "to": "a"})
	b.at(12*time.Minute).event(history.EvFailbackDone, map[string]any{"from": "b", "to": "a"})
	return b
}

func rebuilt(b *builder) {
	b.at(14*time.Minute).event(history.EvStandbyRebuilt, map[string]any{"region": "b"})
}

// WritesBackAfterFailback is the condition a drill's after phase waits on
// for failback-interruption: a write acknowledged by the region failed
// back to once the failback was over (the standby rebuilt); while none is,
// the stretch in progress opens at the last acknowledged write, and the
// check cannot tell.
func TestWritesBackAfterFailback(t *testing.T) {
	b := failbackWindow()
	// Acknowledged by region a after failback-done, but before the
	// standby was rebuilt: the failback was not over yet.
	_, last := b.at(13*time.Minute).op(2, history.JournalEntry, "je-2", history.OK, 201, "a", "aos-a-0", time.Second, nil)
	rebuilt(b)
	b.at(16*time.Minute).event(history.EvPhase, map[string]any{"phase": "checks"})
	back, open, over, finished := WritesBackAfterFailback(b.h)
	if back || !finished || open.Index != last.Index || over.Key != history.EvStandbyRebuilt {
		t.Errorf("no write after the rebuild: back %v finished %v open #%d over %s; want the stretch open at #%d, over at the rebuild",
			back, finished, open.Index, over.Key, last.Index)
	}
	check(t, FailbackInterruption{}, Input{History: b.h, Budgets: DefaultBudgets()}, Unknown, "it cannot tell")

	// Region a acknowledges a write after the rebuild: back, and the check
	// decides.
	b = failbackWindow()
	rebuilt(b)
	b.at(14*time.Minute+10*time.Second).op(2, history.JournalEntry, "je-2", history.OK, 201, "a", "aos-a-0", time.Second, nil)
	if back, _, _, _ := WritesBackAfterFailback(b.h); !back {
		t.Error("a write acknowledged by region a after the rebuild: not back")
	}
	check(t, FailbackInterruption{}, Input{History: b.h, Budgets: DefaultBudgets()}, Pass, "longest write interruption during failback 4m40s")

	// Only region b answers after the rebuild: not the region failed back to.
	b = failbackWindow()
	rebuilt(b)
	b.at(15*time.Minute).op(2, history.JournalEntry, "je-2", history.OK, 201, "b", "aos-b-0", time.Second, nil)
	if back, _, _, _ := WritesBackAfterFailback(b.h); back {
		t.Error("a write acknowledged by region b counted as back in region a")
	}
	if _, _, _, finished := WritesBackAfterFailback(newBuilder().h); finished {
		t.Error("no failback: finished")
	}
}

// A batch probe that succeeded after the failback was over does not end
// the wait while an outage a probe of the failback opened is still open:
// batch-outage would call it unknown.
func TestBatchBackAfterFailbackWithAnOutageOpen(t *testing.T) {
	b := failbackWindow()
	// batch-1 answers after the rebuild; batch-2, sent before it, fails
	// after it, and no probe succeeds later.
	b.at(13 * time.Minute)
	inv1 := b.add(history.Op{Process: 9, Type: history.Invoke, Kind: history.Batch, Key: "batch-1"})
	inv2 := b.add(history.Op{Process: 10, Type: history.Invoke, Kind: history.Batch, Key: "batch-2"})
	rebuilt(b)
	b.at(15 * time.Minute)
	ok1 := b.add(history.Op{Process: 9, Type: history.OK, Kind: history.Batch, Key: "batch-1", Region: "a", Status: 200})
	b.at(16 * time.Minute)
	b.add(history.Op{Process: 10, Type: history.Fail, Kind: history.Batch, Key: "batch-2", Region: "a", Status: 503, Error: "HTTP 503"})
	_, _ = inv1, inv2
	back, open, _, finished := BatchBackAfterFailback(b.h)
	if back || !finished || open.Index != ok1.Index {
		t.Errorf("an outage still open: back %v finished %v open #%d; want the outage open from batch-1's success #%d", back, finished, open.Index, ok1.Index)
	}
	check(t, BatchOutage{}, Input{History: b.h, Budgets: DefaultBudgets()}, Unknown, "the run cannot tell")

	// The next probe succeeds: back, and the check decides.
	b.at(17*time.Minute).op(11, history.Batch, "batch-3", history.OK, 200, "a", "aos-a-0", time.Second, nil)
	if back, _, _, _ := BatchBackAfterFailback(b.h); !back {
		t.Error("the outage closed by batch-3: not back")
	}
}
