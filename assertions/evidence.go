package assertions

import (
	"fmt"
	"time"

	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

// EvidenceVersion is the layout of Evidence; a reader refuses another.
const EvidenceVersion = 1

// Evidence is everything a run's checks read besides its history: the
// budgets, the checks it was judged by and the snapshots of the surviving
// data, in a form that survives JSON (evidence.json beside history.jsonl).
// With the history it rebuilds the Input the run judged (Input), so an
// auditor can judge a saved run again without the harness that ran it.
type Evidence struct {
	Version int `json:"version"`
	// Checks are the checks the run was judged by, in order.
	Checks []string `json:"checks"`
	// Budgets are in service time (nanoseconds in JSON); BudgetsText the
	// same as text, for people.
	Budgets     Budgets           `json:"budgets"`
	BudgetsText map[string]string `json:"budgets_text"`
	// HistoryOps is how many operations of the history the checks read
	// (the first ones; a history saved later may hold more).
	HistoryOps int `json:"history_ops"`
	// AfterFailover is the promoted region's data right after failover;
	// Final the active region's data at the end (nil: not taken).
	AfterFailover *SnapshotEvidence `json:"after_failover"`
	Final         *SnapshotEvidence `json:"final"`
	// Cutovers are the fingerprints of the stores at each failover and
	// failback, with their bisections (CutoverFingerprint).
	Cutovers []Cutover `json:"cutovers,omitempty"`
}

// SnapshotEvidence is a topology.Snapshot as evidence: every stored journal
// entry, invoice row and blob object (with its SHA-256) by key.
type SnapshotEvidence struct {
	Region      string                          `json:"region"`
	LimitedMode bool                            `json:"limited_mode"`
	TakenAt     time.Time                       `json:"taken_at"`
	Journal     map[string]JournalEntryEvidence `json:"journal"`
	Invoices    map[string]InvoiceRowEvidence   `json:"invoices"`
	// Objects maps object key to the SHA-256 (hex) of its content.
	Objects map[string]string `json:"objects"`
}

// JournalEntryEvidence is a stored journal entry: its lines, the lines it
// declared and how many entry rows carry its key.
type JournalEntryEvidence struct {
	Key       string                `json:"key"`
	LineCount int                   `json:"line_count"`
	Lines     []JournalLineEvidence `json:"lines"`
	Applied   int                   `json:"applied"`
}

// JournalLineEvidence is one debit or credit line, in cents.
type JournalLineEvidence struct {
	Account string `json:"account"`
	Debit   int64  `json:"debit"`
	Credit  int64  `json:"credit"`
}

// InvoiceRowEvidence is a stored invoice row.
type InvoiceRowEvidence struct {
	Key       string `json:"key"`
	ObjectKey string `json:"object_key"`
	SHA256    string `json:"sha256"`
	Amount    int64  `json:"amount"`
}

// NewEvidence keeps what in holds besides its history, and the checks it
// is judged by.
func NewEvidence(in Input, checks []string) Evidence {
	return Evidence{
		Version: EvidenceVersion,
		Checks:  append([]string{}, checks...),
		Budgets: in.Budgets,
		BudgetsText: map[string]string{
			"rpo": in.Budgets.RPO.String(), "rto": in.Budgets.RTO.String(),
			"failback_interruption": in.Budgets.FailbackInterruption.String(),
			"batch_outage":          in.Budgets.BatchOutage.String(), "retry_budget": in.Budgets.RetryBudget.String(),
			"min_writes_before_fault": fmt.Sprint(in.Budgets.MinWritesBeforeFault),
		},
		HistoryOps:    len(in.History.Ops),
		AfterFailover: snapshotEvidence(in.AfterFailover),
		Final:         snapshotEvidence(in.Final),
		Cutovers:      in.Cutovers,
	}
}

// Input rebuilds the Input the run judged from the evidence and the run's
// history (its first HistoryOps operations). It fails on evidence of
// another version or a history shorter than the one judged.
func (e Evidence) Input(h history.History) (Input, error) {
	if e.Version != EvidenceVersion {
		return Input{}, fmt.Errorf("evidence version %d, this bcdr reads version %d", e.Version, EvidenceVersion)
	}
	if e.HistoryOps > len(h.Ops) || e.HistoryOps < 0 {
		return Input{}, fmt.Errorf("the checks read %d operations of the history, it holds %d", e.HistoryOps, len(h.Ops))
	}
	h.Ops = h.Ops[:e.HistoryOps:e.HistoryOps]
	return Input{History: h, AfterFailover: e.AfterFailover.Snapshot(), Final: e.Final.Snapshot(), Budgets: e.Budgets, Cutovers: e.Cutovers}, nil
}

func snapshotEvidence(s *topology.Snapshot) *SnapshotEvidence {
	if s == nil {
		return nil
	}
	out := &SnapshotEvidence{Region: string(s.Region), LimitedMode: s.LimitedMode, TakenAt: s.TakenAt,
		Journal: map[string]JournalEntryEvidence{}, Invoices: map[string]InvoiceRowEvidence{}, Objects: map[string]string{}}
	for k, e := range s.Journal {
		je := JournalEntryEvidence{Key: e.Key, LineCount: e.LineCount, Applied: e.Applied, Lines: []JournalLineEvidence{}}
		for _, l := range e.Lines {
			je.Lines = append(je.Lines, JournalLineEvidence{Account: l.Account, Debit: l.Debit, Credit: l.Credit})
		}
		out.Journal[k] = je
	}
	for k, r := range s.Invoices {
		out.Invoices[k] = InvoiceRowEvidence{Key: r.Key, ObjectKey: r.ObjectKey, SHA256: r.SHA256, Amount: r.Amount}
	}
	for k, sum := range s.Objects {
		out.Objects[k] = sum
	}
	return out
}

// Snapshot is the evidence as the topology.Snapshot the checks read (nil
// for nil).
func (s *SnapshotEvidence) Snapshot() *topology.Snapshot {
	if s == nil {
		return nil
	}
	out := &topology.Snapshot{Region: topology.RegionName(s.Region), LimitedMode: s.LimitedMode, TakenAt: s.TakenAt,
		Journal: map[string]topology.JournalEntry{}, Invoices: map[string]topology.InvoiceRow{}, Objects: map[string]string{}}
	for k, e := range s.Journal {
		je := topology.JournalEntry{Key: e.Key, LineCount: e.LineCount, Applied: e.Applied}
		for _, l := range e.Lines {
			je.Lines = append(je.Lines, topology.JournalLine{Account: l.Account, Debit: l.Debit, Credit: l.Credit})
		}
		out.Journal[k] = je
	}
	for k, r := range s.Invoices {
		out.Invoices[k] = topology.InvoiceRow{Key: r.Key, ObjectKey: r.ObjectKey, SHA256: r.SHA256, Amount: r.Amount}
	}
	for k, sum := range s.Objects {
		out.Objects[k] = sum
	}
	return out
}
