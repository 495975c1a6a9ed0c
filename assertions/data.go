package assertions

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

// snapshots lists the surviving data a data check reads, with a label: the
// promoted region right after failover, and the active region at the end.
func snapshots(in Input) []labelled {
	var out []labelled
	if in.AfterFailover != nil {
		out = append(out, labelled{in.AfterFailover, fmt.Sprintf("region %s right after failover", in.AfterFailover.Region)})
	}
	if in.Final != nil {
		out = append(out, labelled{in.Final, fmt.Sprintf("region %s at the end", in.Final.Region)})
	}
	return out
}

type labelled struct {
	snap  *topology.Snapshot
	label string
}

// posted indexes the write completions of the history by idempotency key
// (the first invocation; retries share the key).
func posted(h history.History) map[string]history.Completion {
	out := map[string]history.Completion{}
	for _, c := range h.Completions() {
		if !c.Invoke.Kind.IsWrite() {
			continue
		}
		if _, dup := out[c.Invoke.Key]; !dup {
			out[c.Invoke.Key] = c
		}
	}
	return out
}

// finding is one offending stored item.
type finding struct {
	key  string
	what string
	at   time.Duration // service time of the write (ack, else invoke); -1 unknown
	ops  []int
	// aged is a document missing only because it is older than the RPO
	// window before the region loss (a time figure, not a corruption).
	aged bool
}

// allAged tells whether every finding is a document missing only by its age.
func allAged(fs []finding) bool {
	for _, f := range fs {
		if !f.aged {
			return false
		}
	}
	return true
}

func describeFindings(fs []finding) string {
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].at < fs[j].at })
	var parts []string
	for i, f := range fs {
		if i == 4 {
			parts = append(parts, fmt.Sprintf("and %d more", len(fs)-4))
			break
		}
		parts = append(parts, f.key+": "+f.what)
	}
	return strings.Join(parts, "; ")
}

// writeRef describes the recorded write behind a stored item.
func writeRef(c history.Completion, ok bool) (string, time.Duration, []int) {
	if !ok {
		return "never posted by any client in this run", -1, nil
	}
	if c.Result.Type == history.OK {
		return fmt.Sprintf("posted #%d, acknowledged #%d by %s at service %s", c.Invoke.Index, c.Result.Index, who(c.Result), clock.Round(c.Result.Service)),
			c.Result.Service, []int{c.Invoke.Index, c.Result.Index}
	}
	return fmt.Sprintf("posted #%d at service %s, outcome %s", c.Invoke.Index, clock.Round(c.Invoke.Service), c.Result.Type),
		c.Invoke.Service, []int{c.Invoke.Index, c.Result.Index}
}

// Ledger checks the general ledger's integrity in the surviving data: every
// journal entry balanced (debits = credits), none partial (every declared
// line stored), none applied twice (one entry row per idempotency key), each
// for the amount its client posted, and none that no client posted.
type Ledger struct{}

// Name is "ledger".
func (Ledger) Name() string { return "ledger" }

// Check reads the journal of every snapshot.
func (Ledger) Check(in Input) Result {
	const name = "ledger"
	h := in.History
	clk := h.Clock()
	snaps := snapshots(in)
	if len(snaps) == 0 {
		return unknown(name, "no snapshot of the surviving data was taken, so the ledger could not be read")
	}
	writes := posted(h)
	r := Result{Name: name}
	var fs []finding
	entries := 0
	var where []string
	for _, s := range snaps {
		entries += len(s.snap.Journal)
		where = append(where, fmt.Sprintf("%d in %s", len(s.snap.Journal), s.label))
		keys := make([]string, 0, len(s.snap.Journal))
		for k := range s.snap.Journal {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			e := s.snap.Journal[k]
			var problems []string
			var dr, cr int64
			for _, l := range e.Lines {
				dr += l.Debit
				cr += l.Credit
			}
			if dr != cr {
				problems = append(problems, fmt.Sprintf("unbalanced (debits %d, credits %d)", dr, cr))
			}
			switch {
			case e.Applied == 0 && len(e.Lines) > 0:
				problems = append(problems, fmt.Sprintf("%d journal lines with no entry row (a partial entry, or data read outside one transaction while writes went on)", len(e.Lines)))
			case e.LineCount <= 0 || len(e.Lines) != e.LineCount:
				problems = append(problems, fmt.Sprintf("partial (%d of %d declared lines stored)", len(e.Lines), e.LineCount))
			}
			if e.Applied > 1 {
				problems = append(problems, fmt.Sprintf("applied %d times", e.Applied))
			}
			c, ok := writes[k]
			if e.Applied == 0 {
				// Lines without an entry row carry no idempotency key.
			} else if ok {
				if amt, has := num(c.Invoke.Value["amount"]); has && int64(amt) != dr && dr == cr {
					problems = append(problems, fmt.Sprintf("amount %d stored, %d posted", dr, int64(amt)))
				}
			} else {
				problems = append(problems, "no client posted it")
			}
			if len(problems) == 0 {
				continue
			}
			ref, at, ops := writeRef(c, ok)
			fs = append(fs, finding{key: k, at: at, ops: ops,
				what: fmt.Sprintf("%s in %s (%s)", strings.Join(problems, ", "), s.label, ref)})
		}
	}
	for _, f := range fs {
		r.Ops = append(r.Ops, f.ops...)
	}
	r.Violations = len(fs)
	switch {
	case len(fs) > 0:
		r.Verdict = Fail
		r.Explanation = fmt.Sprintf("%s of %d violate the ledger's rules: %s. Every entry must be posted in one transaction with its lines, and idempotency keys must make retries apply once",
			plural(len(fs), "stored journal entry", "stored journal entries"), entries, describeFindings(fs))
	case entries == 0:
		r.Verdict = Unknown
		r.Explanation = "no journal entry survived in any snapshot, so the ledger's rules were never exercised"
	default:
		r.Verdict = Pass
		r.Explanation = fmt.Sprintf("every stored journal entry is balanced, complete, applied once and for the posted amount (%s)", strings.Join(where, ", "))
	}
	return finish(r, clk)
}

// CrossStore checks that SQL and the blob store agree: every surviving
// invoice row's document is in the same region's bucket with the checksum
// the row (and the client) recorded. A document missing after an unplanned
// failover is tolerated as blob loss when its write was acknowledged inside
// the RPO window before the fault (asynchronous replication had not carried
// it yet); older missing documents, missing documents in a run with no
// region loss, and any checksum mismatch fail.
type CrossStore struct{}

// Name is "cross-store".
func (CrossStore) Name() string { return "cross-store" }

// Check compares invoice rows with objects in every snapshot.
func (CrossStore) Check(in Input) Result {
	const name = "cross-store"
	h := in.History
	clk := h.Clock()
	snaps := snapshots(in)
	if len(snaps) == 0 {
		return unknown(name, "no snapshot of the surviving data was taken, so documents could not be compared")
	}
	writes := posted(h)
	// Blob loss is measured to the moment the region's data became
	// unreachable (region-lost), as rpo's loss window is.
	hasLoss := regionLost(h)
	fault, _ := lossMoment(h)
	r := Result{Name: name, Budget: in.Budgets.RPO}
	var bad []finding
	tolerated := 0
	var oldestTolerated time.Duration
	rows := 0
	var oldest *finding
	for _, s := range snaps {
		rows += len(s.snap.Invoices)
		keys := make([]string, 0, len(s.snap.Invoices))
		for k := range s.snap.Invoices {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			row := s.snap.Invoices[k]
			c, ok := writes[k]
			ref, at, ops := writeRef(c, ok)
			sum, present := s.snap.Objects[row.ObjectKey]
			postedSum := ""
			if ok {
				postedSum = str(c.Invoke.Value, "sha256")
			}
			switch {
			case !present:
				// Inside the RPO window before a region loss: blob loss the
				// promise allows.
				if hasLoss && ok && at >= 0 && at <= fault.Service && fault.Service-at <= in.Budgets.RPO {
					tolerated++
					if age := fault.Service - at; age > oldestTolerated {
						oldestTolerated = age
					}
					continue
				}
				f := finding{key: k, at: at, ops: ops,
					what: fmt.Sprintf("document %s missing from the bucket in %s (%s)", row.ObjectKey, s.label, ref)}
				if hasLoss && at >= 0 && at <= fault.Service {
					f.what += fmt.Sprintf(", %s before %s", clk.Format(fault.Service-at), faultName(fault))
					f.aged = ok
				}
				bad = append(bad, f)
			case sum != row.SHA256:
				bad = append(bad, finding{key: k, at: at, ops: ops,
					what: fmt.Sprintf("document %s in %s has checksum %.12s, the row says %.12s (%s)", row.ObjectKey, s.label, sum, row.SHA256, ref)})
			case postedSum != "" && postedSum != row.SHA256:
				bad = append(bad, finding{key: k, at: at, ops: ops,
					what: fmt.Sprintf("row in %s records checksum %.12s, the client posted %.12s (%s)", s.label, row.SHA256, postedSum, ref)})
			}
		}
	}
	for i := range bad {
		r.Ops = append(r.Ops, bad[i].ops...)
		if hasLoss && bad[i].at >= 0 && bad[i].at <= fault.Service && (oldest == nil || bad[i].at < oldest.at) {
			oldest = &bad[i]
		}
	}
	if hasLoss {
		r.Ops = append(r.Ops, fault.Index)
	}
	r.Observed = oldestTolerated
	if oldest != nil {
		r.Observed = fault.Service - oldest.at
		r.Window = &Window{Start: oldest.at, End: fault.Service, StartOp: oldest.ops[len(oldest.ops)-1], EndOp: fault.Index}
	}
	r.Violations = len(bad)
	toleratedText := ""
	if tolerated > 0 {
		toleratedText = fmt.Sprintf("; %s lost with blob replication inside the RPO window (oldest %s before %s at service %s, budget %s)",
			plural(tolerated, "document", "documents"), clk.Format(oldestTolerated), faultName(fault), clock.Round(fault.Service), clk.Format(in.Budgets.RPO))
	}
	switch {
	case len(bad) > 0:
		r.Verdict, r.overBudget = Fail, oldest != nil && allAged(bad)
		r.Explanation = fmt.Sprintf("%s of %d name a document the bucket lacks or holds with other content: %s%s. Blob replication must carry every document (check the replicator for skipped objects) and failback must resync the bucket",
			plural(len(bad), "invoice row", "invoice rows"), rows, describeFindings(bad), toleratedText)
	case rows == 0:
		r.Verdict = Unknown
		r.Explanation = "no invoice row survived in any snapshot, so SQL and the blob store were never compared"
	default:
		r.Verdict = Pass
		r.Explanation = fmt.Sprintf("every one of %d invoice rows names a document present with the recorded checksum%s", rows, toleratedText)
	}
	return finish(r, clk)
}
