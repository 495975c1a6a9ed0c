// Package history records what clients and the fault injector saw, in the
// style of Jepsen histories: every operation is an invoke followed by one of
// ok, fail or unknown (indeterminate), stamped with wall and service time,
// region and instance. Checks read only this record and the surviving data,
// never the beliefs of the runbook or the topology.
package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
)

// Kind is what an operation did.
type Kind string

// Client operation kinds.
const (
	JournalEntry Kind = "journal-entry" // post a balanced journal entry (write)
	Invoice      Kind = "invoice"       // post an invoice row and its document (write)
	Batch        Kind = "batch"         // run a batch job
	Report       Kind = "report"        // read the financial report
	Maintenance  Kind = "maintenance"   // request update maintenance / package deployment
	Health       Kind = "health"        // health probe
	// Event is a harness or runbook event (fault injected, failover, ...): not a client op.
	Event Kind = "event"
)

// IsWrite tells whether an operation kind is a durable business write.
func (k Kind) IsWrite() bool { return k == JournalEntry || k == Invoice }

// Type is the stage of an operation, as in Jepsen.
type Type string

// Operation types.
const (
	Invoke  Type = "invoke"
	OK      Type = "ok"
	Fail    Type = "fail"
	Unknown Type = "unknown" // the outcome cannot be known (timeout after sending)
	Info    Type = "info"    // events
)

// Event names recorded by the harness and the runbook.
const (
	EvFaultInjected    = "fault-injected"
	EvFaultRecovered   = "fault-recovered"
	EvOutageDetected   = "outage-detected"
	EvSignOffRequested = "sign-off-requested"
	EvSignOffGranted   = "sign-off-granted"
	EvSignOffRefused   = "sign-off-refused"
	EvFailoverStart    = "failover-start"
	EvFailoverDone     = "failover-done"
	EvFailoverAborted  = "failover-aborted"
	EvFailoverStep     = "failover-step" // one runbook step done: step, wall_ms, attempts
	EvLimitedModeOn    = "limited-mode-on"
	EvLimitedModeOff   = "limited-mode-off"
	EvFailbackStart    = "failback-start"
	EvFailbackDone     = "failback-done"
	// EvPhase records the start of a phase of a run (value: phase; a bcdr
	// up session's PhaseLive also carries runbook: whether the DR runbook
	// was watching).
	EvPhase  = "phase"
	EvLag    = "lag" // a sample of replication lag
	EvHealth = "health-check"
	// EvRegionLost and EvRegionBack record the moments a fault made a
	// region's data unreachable and reachable again (value: region, fault);
	// a composite fault records the moment of the loss itself, not the start
	// of its injection.
	EvRegionLost = "region-lost"
	EvRegionBack = "region-back"
	// EvResyncDone records that the failback's reverse replication caught
	// up (value: region); EvFrontDoorDrained that the front door stopped
	// taking writes for the failback's switch.
	EvResyncDone       = "resync-done"
	EvFrontDoorDrained = "front-door-drained"
	// EvRunbookError records a runbook step that failed (value: error);
	// EvRunbookFailed records, after the fault phase, that the runbook
	// ended in error; EvFailbackRetry a failback attempt that failed and is
	// run again (value: attempt, error).
	EvRunbookError  = "runbook-error"
	EvRunbookFailed = "runbook-failed"
	EvFailbackRetry = "failback-retry"
	// EvStandbyRebuilt closes a failback: the old primary shipped to again
	// (its rebuild runs after the traffic switch, on the same machine).
	EvStandbyRebuilt = "standby-rebuilt"
	// EvSnapshotError records a snapshot of the surviving data that could
	// not be taken (value: error).
	EvSnapshotError = "snapshot-error"
	// EvMachineTime marks the start and end of a stretch of machine work
	// the clock ran at the machine scale (begin true, then false with its
	// wall_ms); EvPolicySleep marks a deliberate delay of the runbook
	// (begin: true, then begin: false): CPU waits while it lasts are not
	// noise of the figure it delays.
	EvMachineTime = "machine-time"
	// EvWorkload records the clients' settings as the run used them
	// (attempt_ms: one attempt's time-out, retry_ms: the retry budget, wall).
	EvWorkload    = "workload"
	EvPolicySleep = "policy-sleep"
	// EvMachineWait records, for one tick of the machine-wait meter, the
	// longest time any one thread of the run's processes spent runnable but
	// not running (waiting for a CPU): max_ms, over the tick of period_ms
	// ending at the event's wall time. EvTimingNoise records the harness's
	// own timing noise over a run (wall time): how late a fine ticker woke
	// and how late the workload's pacing ticks were.
	EvMachineWait = "machine-wait"
	EvTimingNoise = "timing-noise"
	// EvCustomerNotified records a notice as the notification sink
	// received it (recorded by the sink, at the time it arrived; value:
	// direction "failover" or "failback", from, to, message, id,
	// received_by "notification-sink", sent_at; for a failover the
	// runbook judged possibly lossy also sign_off true,
	// expected_loss_service_s, the service seconds of writes that may be
	// lost, and loss_since, the wall time of the newest commit the
	// secondary holds). Histories recorded before the sink have the same
	// event from the runbook's in-process recorder, without received_by.
	// EvCustomerNoticeFailed records, by the runbook, a notice it could
	// not deliver (value: direction, target "sink" or "webhook", error).
	// EvNotificationSink records the run's sink as it started (value: url,
	// down, webhook).
	EvCustomerNotified     = "customer-notified"
	EvCustomerNoticeFailed = "customer-notice-failed"
	EvNotificationSink     = "notification-sink"
	// EvFrontDoorSwitched records the front door sending traffic to a
	// region (value: region, direction "failover", "failback", or "resume"
	// for traffic put back on the failed-over region after a failed
	// failback attempt).
	EvFrontDoorSwitched = "front-door-switched"
	// EvSupportRequest records a customer's support request while failed
	// over (value: request "restore-financial-reporting", region): the
	// BCDR article lets financial reporting be restored in the secondary
	// region on request. EvReportingRestored records the runbook acting on
	// it (value: region); EvSupportRequestFailed a request it could not
	// carry out (value: request, error).
	EvSupportRequest       = "support-request"
	EvReportingRestored    = "reporting-restored"
	EvSupportRequestFailed = "support-request-failed"
)

// RequestRestoreReporting is the support request that restores financial
// reporting while failed over.
const RequestRestoreReporting = "restore-financial-reporting"

// PhaseLive is the phase of a bcdr up session once its environment is up:
// the faults are the operator's, injected while it lasts.
const PhaseLive = "live"

// Op is one entry of the history.
type Op struct {
	Index   int           `json:"index"`
	Process int           `json:"process"` // client number; -1 for the harness
	Type    Type          `json:"type"`
	Kind    Kind          `json:"kind"`
	Key     string        `json:"key,omitempty"` // idempotency key of a write, or event name
	Wall    time.Time     `json:"wall"`
	Service time.Duration `json:"service_ns"`
	Region  string        `json:"region,omitempty"`
	Inst    string        `json:"instance,omitempty"`
	Status  int           `json:"status,omitempty"` // HTTP status of the final attempt
	Tries   int           `json:"tries,omitempty"`
	Error   string        `json:"error,omitempty"`
	// Value carries details: the document checksum of an invoice, the amount of
	// a journal entry, event details (fault name, lag figures).
	Value map[string]any `json:"value,omitempty"`
}

// Recorder appends operations safely from many goroutines.
type Recorder struct {
	mu    sync.Mutex
	clock *clock.Clock
	ops   []Op
	sink  func(Op)
}

// NewRecorder returns an empty history using clk for service timestamps.
func NewRecorder(clk *clock.Clock) *Recorder { return &Recorder{clock: clk} }

// OnAppend registers a function called (outside the lock) for every appended op,
// for live progress displays.
func (r *Recorder) OnAppend(f func(Op)) { r.mu.Lock(); r.sink = f; r.mu.Unlock() }

// Append stamps op with the current time and index and stores it.
func (r *Recorder) Append(op Op) Op {
	now := time.Now()
	r.mu.Lock()
	op.Index = len(r.ops)
	if op.Wall.IsZero() {
		op.Wall = now
	}
	op.Service = r.clock.At(op.Wall)
	r.ops = append(r.ops, op)
	sink := r.sink
	r.mu.Unlock()
	if sink != nil {
		sink(op)
	}
	return op
}

// Event records a harness event with details.
func (r *Recorder) Event(name string, value map[string]any) Op {
	return r.Append(Op{Process: -1, Type: Info, Kind: Event, Key: name, Value: value})
}

// Ops returns a copy of the history so far.
func (r *Recorder) Ops() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	return History{Ops: append([]Op(nil), r.ops...), Scale: r.clock.Scale, Epoch: r.clock.Epoch, Segments: r.clock.Segments()}
}

// History is a finished record with the clock it was taken with.
type History struct {
	Scale float64
	Epoch time.Time
	// Segments are the clock's changes of scale (the runbook's machine
	// steps run at scale 1); empty when it always ran at Scale.
	Segments []clock.Segment
	Ops      []Op
}

// Clock returns the clock the history was recorded with.
func (h History) Clock() *clock.Clock { return clock.Restore(h.Scale, h.Epoch, h.Segments) }

// Completion is a write or probe with its invocation and outcome paired.
type Completion struct {
	Invoke Op
	Result Op // Type is OK, Fail or Unknown
}

// Completions pairs every invoke with its outcome, in invocation order.
// Operations that never completed are returned with Result.Type Unknown.
func (h History) Completions() []Completion {
	open := map[int]int{} // process -> index into out
	var out []Completion
	for _, op := range h.Ops {
		if op.Kind == Event {
			continue
		}
		switch op.Type {
		case Invoke:
			open[op.Process] = len(out)
			out = append(out, Completion{Invoke: op, Result: Op{Type: Unknown, Kind: op.Kind, Key: op.Key, Wall: op.Wall, Service: op.Service}})
		default:
			if i, ok := open[op.Process]; ok {
				out[i].Result = op
				delete(open, op.Process)
			}
		}
	}
	return out
}

// Events returns the events with the given name, in order.
func (h History) Events(name string) []Op {
	var out []Op
	for _, op := range h.Ops {
		if op.Kind == Event && op.Key == name {
			out = append(out, op)
		}
	}
	return out
}

// FirstEvent returns the first event with the name.
func (h History) FirstEvent(name string) (Op, bool) {
	for _, op := range h.Ops {
		if op.Kind == Event && op.Key == name {
			return op, true
		}
	}
	return Op{}, false
}

// AcknowledgedWrites returns every write completion whose outcome was ok.
func (h History) AcknowledgedWrites() []Completion {
	var out []Completion
	for _, c := range h.Completions() {
		if c.Invoke.Kind.IsWrite() && c.Result.Type == OK {
			out = append(out, c)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Result.Wall.Before(out[j].Result.Wall) })
	return out
}

// WriteJSONL writes one JSON object per line.
func (h History) WriteJSONL(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, op := range h.Ops {
		if err := enc.Encode(op); err != nil {
			return fmt.Errorf("encode op %d: %w", op.Index, err)
		}
	}
	return bw.Flush()
}

// Header is the first line of a saved history file, giving its clock.
type Header struct {
	Scale    float64         `json:"time_scale"`
	Epoch    time.Time       `json:"epoch"`
	Segments []clock.Segment `json:"segments,omitempty"`
}

// Save writes the history to path as JSON lines, the first line its clock.
func (h History) Save(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("save history: %w", err)
	}
	defer f.Close()
	if err := json.NewEncoder(f).Encode(Header{Scale: h.Scale, Epoch: h.Epoch, Segments: h.Segments}); err != nil {
		return fmt.Errorf("save history: %w", err)
	}
	if err := h.WriteJSONL(f); err != nil {
		return fmt.Errorf("save history: %w", err)
	}
	return f.Close()
}

// Load reads a history written by Save.
func Load(path string) (History, error) {
	f, err := os.Open(path)
	if err != nil {
		return History{}, fmt.Errorf("load history: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(bufio.NewReader(f))
	var hdr Header
	if err := dec.Decode(&hdr); err != nil {
		return History{}, fmt.Errorf("load history %s: header: %w", path, err)
	}
	h := History{Scale: hdr.Scale, Epoch: hdr.Epoch, Segments: hdr.Segments}
	for {
		var op Op
		if err := dec.Decode(&op); err == io.EOF {
			break
		} else if err != nil {
			return History{}, fmt.Errorf("load history %s: op %d: %w", path, len(h.Ops), err)
		}
		h.Ops = append(h.Ops, op)
	}
	return h, nil
}

// WallOnly returns the history as Save writes it and Load reads it back:
// every wall instant (of the operations, the clock's epoch and its scale
// changes) without the monotonic clock reading time.Now attaches, which
// JSON does not keep. Judging this form gives the figures a saved run
// gives again: a difference of two instants is read from the wall clock in
// both.
func (h History) WallOnly() History {
	out := History{Scale: h.Scale, Epoch: h.Epoch.Round(0), Ops: make([]Op, len(h.Ops))}
	for _, s := range h.Segments {
		s.Wall = s.Wall.Round(0)
		out.Segments = append(out.Segments, s)
	}
	for i, op := range h.Ops {
		op.Wall = op.Wall.Round(0)
		out.Ops[i] = op
	}
	return out
}
