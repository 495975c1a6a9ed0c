package pgship

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for the fingerprint's SQL store
	"github.com/stretchr/testify/require"

	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/appdb"
	"github.com/bcdr-harness/bcdr/topology/fingerprint"
)

// TestSwitchoverFingerprintAtCutover runs the finance schema on a real
// pair, fingerprints both regions inside the switchover's AtCutover hook
// (the new primary promoted, the old one fenced and not yet rebuilt), and
// requires: the sums PostgreSQL computes equal the ones the harness
// computes from the same rows (the engine's MD5 is fingerprint's), the
// two regions agree, and one invoice altered on the new primary at the
// cutover is the one row the bisection names.
func TestSwitchoverFingerprintAtCutover(t *testing.T) {
	p := newPair(t, nil)
	ctx := testCtx(t)
	open := func(r topology.RegionName) *sql.DB {
		db, err := sql.Open(string(appdb.Postgres), p.DSN(p.SQLAddr(r)))
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	}
	dbA := open(a)
	require.NoError(t, appdb.Migrate(ctx, dbA, appdb.Postgres))
	for i := 0; i < 300; i++ {
		k := fmt.Sprintf("je-%03d", i)
		_, err := appdb.PostJournal(ctx, dbA, appdb.Postgres, k, "a", "aos-a-0",
			[]appdb.Line{{Account: "1100", Debit: int64(100 + i)}, {Account: "4000", Credit: int64(100 + i)}})
		require.NoError(t, err)
		_, err = appdb.PostInvoice(ctx, dbA, appdb.Postgres, fmt.Sprintf("inv-%03d", i), fmt.Sprintf("invoices/inv-%03d.pdf", i), fmt.Sprintf("%064d", i), int64(i), "a", "aos-a-0")
		require.NoError(t, err)
	}
	require.NoError(t, topology.InitialSync(ctx, p))

	// The engine's sums are the harness's, over the same rows.
	snap, err := appdb.ReadSnapshot(ctx, dbA, a)
	require.NoError(t, err)
	mem := fingerprint.NewMemStore(appdb.FingerprintTables...)
	for k, e := range snap.Journal {
		mem.Add(appdb.FPJournalEntries, k, fmt.Sprintf("%s|%d", k, e.LineCount))
		for _, l := range e.Lines {
			mem.Add(appdb.FPJournalLines, k, fmt.Sprintf("%s|%s|%d|%d", k, l.Account, l.Debit, l.Credit))
		}
	}
	for k, v := range snap.Invoices {
		mem.Add(appdb.FPInvoices, k, fmt.Sprintf("%s|%s|%s|%d", k, v.ObjectKey, v.SHA256, v.Amount))
	}
	same := fingerprint.Compare(ctx, "sql", "postgres", appdb.SQLStore{DB: dbA, Dialect: appdb.Postgres}, "memory", mem, fingerprint.DefaultBuckets)
	require.True(t, same.Taken(), "%+v", same)
	for _, tab := range same.Tables {
		require.Empty(t, tab.Bisected, "table %s: PostgreSQL's sums differ from the harness's", tab.Name)
	}

	var at *fingerprint.Fingerprint
	var altered string
	require.NoError(t, p.Switchover(ctx, topology.SwitchoverOptions{AtCutover: func(ctx context.Context) {
		// Fresh connections: the fence ended every session of both.
		clean := fingerprint.Compare(ctx, "sql", "a", appdb.SQLStore{DB: open(a), Dialect: appdb.Postgres}, "b", appdb.SQLStore{DB: open(b), Dialect: appdb.Postgres}, fingerprint.DefaultBuckets)
		require.True(t, clean.Taken(), "%+v", clean)
		for _, tab := range clean.Tables {
			require.Empty(t, tab.Bisected, "table %s differs at a clean cutover", tab.Name)
		}
		altered, err = appdb.AlterInvoice(ctx, open(b), appdb.Postgres)
		require.NoError(t, err)
		at = fingerprint.Compare(ctx, "sql", "a", appdb.SQLStore{DB: open(a), Dialect: appdb.Postgres}, "b", appdb.SQLStore{DB: open(b), Dialect: appdb.Postgres}, fingerprint.DefaultBuckets)
	}}))
	require.Equal(t, "inv-000", altered)
	require.True(t, at.Taken(), "%+v", at)
	var named []string
	var walk func(n fingerprint.Node)
	walk = func(n fingerprint.Node) {
		if n.Items != nil {
			l := map[string]string{}
			for _, it := range n.Items.Left {
				l[it.Key] = it.Text
			}
			for _, it := range n.Items.Right {
				if l[it.Key] != it.Text {
					named = append(named, it.Key+": "+l[it.Key]+" -> "+it.Text)
				}
			}
		}
		for _, k := range n.Kids {
			walk(k)
		}
	}
	for _, tab := range at.Tables {
		if tab.Name != appdb.FPInvoices {
			require.Empty(t, tab.Bisected, "table %s differs", tab.Name)
			continue
		}
		for _, n := range tab.Bisected {
			walk(n)
		}
	}
	require.Equal(t, []string{"inv-000: inv-000|invoices/inv-000.pdf|" + fmt.Sprintf("%064d", 0) + "|0 -> inv-000|invoices/inv-000.pdf|" + fmt.Sprintf("%064d", 0) + "|1"}, named)
	t.Logf("fingerprint with bisection: %d queries, %.1f ms wall", at.Queries, at.WallMS)
}
