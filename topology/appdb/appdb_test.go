package appdb

import "testing"

func TestPlaceholdersPerDialect(t *testing.T) {
	q := `INSERT INTO t (a, b) VALUES (?, ?)`
	if got := Postgres.Q(q); got != `INSERT INTO t (a, b) VALUES ($1, $2)` {
		t.Errorf("postgres: %s", got)
	}
	if got := SQLServer.Q(q); got != `INSERT INTO t (a, b) VALUES (@p1, @p2)` {
		t.Errorf("sqlserver: %s", got)
	}
}

func TestBalancedRefusesWhatALedgerMustNotHold(t *testing.T) {
	ok := []Line{{Account: "1100", Debit: 500}, {Account: "4000", Credit: 500}}
	if err := Balanced(ok); err != nil {
		t.Errorf("a balanced entry was refused: %v", err)
	}
	for name, lines := range map[string][]Line{
		"unbalanced": {{Account: "1100", Debit: 500}, {Account: "4000", Credit: 400}},
		"one line":   {{Account: "1100", Debit: 0}},
		"negative":   {{Account: "1100", Debit: -5}, {Account: "4000", Credit: -5}},
		"no account": {{Account: "", Debit: 5}, {Account: "4000", Credit: 5}},
	} {
		if err := Balanced(lines); err == nil {
			t.Errorf("%s entry accepted", name)
		}
	}
}
