package controls_test

import (
	"strings"
	"testing"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/suites/suitetest"
	"github.com/bcdr-harness/bcdr/topology"
)

// A ledger violation cannot be produced end to end: the AOS refuses an
// unbalanced entry, posts an entry with its lines in one transaction, and
// idempotency keys make retries apply once. So the ledger's negative control
// is built from a real drill's history: the surviving journal is rebuilt
// from the writes the history acknowledged, then one entry is unbalanced,
// one loses a line, one is applied twice, and one appears that no client
// posted. The check must fail and name exactly those entries and their
// operations.

// realDrill is a short drill with no fault: real traffic, really recorded.
func realDrill(t *testing.T) *harness.Outcome {
	t.Helper()
	sc := suitetest.Short("instance-crash")
	sc.Name, sc.Faults = "ledger-control-traffic", nil
	sc.SteadyState, sc.After = sc.SteadyState/2, sc.After/2
	return suitetest.Run(t, sc)
}

// journalFrom rebuilds region a's journal as the history says it must be.
func journalFrom(h history.History) *topology.Snapshot {
	s := &topology.Snapshot{Region: topology.RegionA, Journal: map[string]topology.JournalEntry{},
		Invoices: map[string]topology.InvoiceRow{}, Objects: map[string]string{}}
	for _, c := range h.AcknowledgedWrites() {
		if c.Invoke.Kind != history.JournalEntry {
			continue
		}
		amt, _ := c.Invoke.Value["amount"].(int64)
		if f, ok := c.Invoke.Value["amount"].(float64); ok {
			amt = int64(f)
		}
		s.Journal[c.Invoke.Key] = topology.JournalEntry{Key: c.Invoke.Key, LineCount: 2, Applied: 1,
			Lines: []topology.JournalLine{{Account: "1100-cash", Debit: amt}, {Account: "4000-revenue", Credit: amt}}}
	}
	return s
}

func TestLedgerControl(t *testing.T) {
	if testing.Short() {
		t.Skip("drills are skipped with -short")
	}
	out := realDrill(t)
	h := out.History
	final := journalFrom(h)
	in := assertions.Input{History: h, Final: final, Budgets: assertions.DefaultBudgets()}
	ledger := assertions.Ledger{}
	if r := ledger.Check(in); r.Verdict != assertions.Pass {
		t.Fatalf("the rebuilt journal must pass before it is corrupted: %s", r.Explanation)
	}
	acked := h.AcknowledgedWrites()
	var keys []string
	ops := map[string]int{}
	for _, c := range acked {
		if c.Invoke.Kind == history.JournalEntry {
			keys = append(keys, c.Invoke.Key)
			ops[c.Invoke.Key] = c.Result.Index
		}
		if len(keys) == 3 {
			break
		}
	}
	if len(keys) < 3 {
		t.Fatalf("the drill acknowledged only %d journal entries", len(keys))
	}
	unbalanced, partial, twice := keys[0], keys[1], keys[2]
	e := final.Journal[unbalanced]
	e.Lines = []topology.JournalLine{e.Lines[0], {Account: e.Lines[1].Account, Credit: e.Lines[1].Credit - 1}}
	final.Journal[unbalanced] = e
	e = final.Journal[partial]
	e.Lines = e.Lines[:1]
	final.Journal[partial] = e
	e = final.Journal[twice]
	e.Applied = 2
	final.Journal[twice] = e
	final.Journal["je-never-posted"] = topology.JournalEntry{Key: "je-never-posted", LineCount: 2, Applied: 1,
		Lines: []topology.JournalLine{{Account: "1100-cash", Debit: 1}, {Account: "6200-rent", Credit: 1}}}

	r := ledger.Check(in)
	t.Logf("CONTROL ledger: %s, violations %d: %s", r.Verdict, r.Violations, r.Explanation)
	if r.Verdict != assertions.Fail || r.Violations != 4 {
		t.Fatalf("ledger: want fail with 4 violations, got %s with %d: %s", r.Verdict, r.Violations, r.Explanation)
	}
	for _, m := range []string{unbalanced + ": unbalanced", partial + ": unbalanced", "partial (1 of 2", twice + ": applied 2 times", "je-never-posted: no client posted it"} {
		if !strings.Contains(r.Explanation, m) {
			t.Errorf("ledger explanation lacks %q: %s", m, r.Explanation)
		}
	}
	named := map[int]bool{}
	for _, i := range r.Ops {
		named[i] = true
	}
	for _, k := range keys {
		if !named[ops[k]] {
			t.Errorf("ledger does not name the acknowledgement #%d of %s among %v", ops[k], k, r.Ops)
		}
	}
}
