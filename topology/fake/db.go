package fake

import (
	"fmt"
	"sort"
	"time"

	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/appdb"
)

// Op is one statement a client sends to the fake SQL server.
type Op struct {
	Kind      string       `json:"kind"` // see the op* constants
	Key       string       `json:"key,omitempty"`
	Region    string       `json:"region,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	Lines     []appdb.Line `json:"lines,omitempty"`
	ObjectKey string       `json:"object_key,omitempty"`
	SHA256    string       `json:"sha256,omitempty"`
	Amount    int64        `json:"amount,omitempty"`
	Limited   bool         `json:"limited,omitempty"`
	Reporting bool         `json:"reporting,omitempty"`
	Job       string       `json:"job,omitempty"`
	Entries   int64        `json:"entries,omitempty"`
	Balanced  bool         `json:"balanced,omitempty"`
}

// Op kinds. Writes change the database and enter its log; reads do not.
const (
	opMigrate     = "migrate"
	opJournal     = "journal"
	opInvoice     = "invoice"
	opBatch       = "batch"
	opMaintenance = "maintenance"
	opSetMode     = "set-mode"
	opGetMode     = "get-mode"
	opTrial       = "trial-balance"
	opGetInvoice  = "get-invoice"
)

func isWrite(kind string) bool {
	switch kind {
	case opMigrate, opJournal, opInvoice, opBatch, opMaintenance, opSetMode:
		return true
	}
	return false
}

// Record is one committed transaction in a database's log.
type Record struct {
	Seq uint64    `json:"seq"`
	At  time.Time `json:"at"` // commit wall time
	Op  Op        `json:"op"`
}

// JournalRow is a stored journal entry.
type JournalRow struct {
	LineCount int          `json:"line_count"`
	Lines     []appdb.Line `json:"lines"`
}

// DB is one region's database: its tables, and the log of every
// transaction it committed or restored. It is plain data, so a base backup
// is its JSON.
type DB struct {
	Schema      bool                           `json:"schema"`
	Journal     map[string]JournalRow          `json:"journal"`
	Invoices    map[string]topology.InvoiceRow `json:"invoices"`
	Limited     bool                           `json:"limited"`
	Reporting   bool                           `json:"reporting,omitempty"` // financial reporting restored while limited
	Batches     int                            `json:"batches"`
	Maintenance int                            `json:"maintenance"`
	LSN         uint64                         `json:"lsn"`
	LastCommit  time.Time                      `json:"last_commit"`
	Log         []Record                       `json:"log"`
}

func newDB() *DB {
	return &DB{Journal: map[string]JournalRow{}, Invoices: map[string]topology.InvoiceRow{}}
}

// replayed tells whether an idempotent write was already applied.
func (d *DB) replayed(o Op) bool {
	switch o.Kind {
	case opJournal:
		_, ok := d.Journal[o.Key]
		return ok
	case opInvoice:
		_, ok := d.Invoices[o.Key]
		return ok
	}
	return false
}

// commit appends a new transaction to the log and applies it.
func (d *DB) commit(o Op, at time.Time) Record {
	r := Record{Seq: d.LSN + 1, At: at, Op: o}
	d.apply(r)
	return r
}

// apply replays one record (commit or restore).
func (d *DB) apply(r Record) {
	o := r.Op
	switch o.Kind {
	case opMigrate:
		d.Schema = true
	case opJournal:
		d.Journal[o.Key] = JournalRow{LineCount: len(o.Lines), Lines: append([]appdb.Line(nil), o.Lines...)}
	case opInvoice:
		d.Invoices[o.Key] = topology.InvoiceRow{Key: o.Key, ObjectKey: o.ObjectKey, SHA256: o.SHA256, Amount: o.Amount}
	case opBatch:
		d.Batches++
	case opMaintenance:
		d.Maintenance++
	case opSetMode:
		d.Limited = o.Limited
		d.Reporting = o.Limited && o.Reporting
	}
	d.LSN, d.LastCommit = r.Seq, r.At
	d.Log = append(d.Log, r)
}

// since returns the log records after seq.
func (d *DB) since(seq uint64) []Record {
	i := sort.Search(len(d.Log), func(i int) bool { return d.Log[i].Seq > seq })
	return append([]Record(nil), d.Log[i:]...)
}

func (d *DB) trialBalance() (dr, cr, n int64) {
	for _, e := range d.Journal {
		for _, l := range e.Lines {
			dr += l.Debit
			cr += l.Credit
			n++
		}
	}
	return dr, cr, n
}

// position is the database's newest commit as a log position.
func (d *DB) position(at time.Time) topology.Position {
	return topology.Position{LSN: formatLSN(d.LSN), Seq: d.LSN, CommitTime: d.LastCommit, At: at}
}

func formatLSN(seq uint64) string { return fmt.Sprintf("0/%08X", seq) }

// snapshot renders the tables as the checks read them.
func (d *DB) snapshot(r topology.RegionName) *topology.Snapshot {
	s := &topology.Snapshot{Region: r, Journal: map[string]topology.JournalEntry{}, Invoices: map[string]topology.InvoiceRow{},
		Objects: map[string]string{}, LimitedMode: d.Limited, TakenAt: time.Now()}
	for k, e := range d.Journal {
		je := topology.JournalEntry{Key: k, LineCount: e.LineCount, Applied: 1}
		for _, l := range e.Lines {
			je.Lines = append(je.Lines, topology.JournalLine{Account: l.Account, Debit: l.Debit, Credit: l.Credit})
		}
		s.Journal[k] = je
	}
	for k, v := range d.Invoices {
		s.Invoices[k] = v
	}
	return s
}
