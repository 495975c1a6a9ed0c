package assertions

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

// An Evidence and its history saved as JSON and read back rebuild an Input
// that every check judges as it judged the original: same results, same
// verdict, same noise. The input carries a loss beyond the RPO, a partial
// journal entry and a document with other content, so that passes and
// failures of checks that read the snapshots are both compared.
func TestEvidenceRoundTripJudgesTheSame(t *testing.T) {
	d := newDrill()
	d.shipWallMS = 40
	in := d.input(20 * time.Minute)
	var je, inv string
	for _, k := range d.acked {
		if _, ok := in.Final.Journal[k]; ok && je == "" {
			je = k
		}
		if _, ok := in.Final.Invoices[k]; ok && inv == "" {
			inv = k
		}
	}
	e := in.Final.Journal[je]
	e.Lines = e.Lines[:1]
	in.Final.Journal[je] = e
	in.Final.Objects[in.Final.Invoices[inv].ObjectKey] = "other-content"
	in.AfterFailover.TakenAt = time.Unix(1_800_000_000, 5).UTC()

	names := Names()
	wantJ := Judge(in, names)
	want, wantV, wantN := wantJ.Checks, wantJ.Verdict, wantJ.Noise

	ev := NewEvidence(in, names)
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var back Evidence
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := in.History.Save(path); err != nil {
		t.Fatal(err)
	}
	h, err := history.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	in2, err := back.Input(h)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Checks, names) || back.Budgets != in.Budgets {
		t.Errorf("evidence kept checks %v budgets %+v, want %v %+v", back.Checks, back.Budgets, names, in.Budgets)
	}
	if !reflect.DeepEqual(normal(in2.Final), normal(in.Final)) || !reflect.DeepEqual(normal(in2.AfterFailover), normal(in.AfterFailover)) {
		t.Errorf("snapshots differ after the round trip")
	}
	gotJ := Judge(in2, back.Checks)
	got, gotV, gotN := gotJ.Checks, gotJ.Verdict, gotJ.Noise
	if gotJ.Reason != wantJ.Reason {
		t.Errorf("reason %q after the round trip, %q before", gotJ.Reason, wantJ.Reason)
	}
	// The noise as result.json holds it; each check's share of it (its
	// band) is compared with the results below.
	gn, _ := json.Marshal(gotN)
	wn, _ := json.Marshal(wantN)
	if gotV != wantV || string(gn) != string(wn) {
		t.Errorf("verdict %s noise %s after the round trip, %s %s before", gotV, gn, wantV, wn)
	}
	if len(got) != len(want) {
		t.Fatalf("%d results after the round trip, %d before", len(got), len(want))
	}
	verdicts := map[Verdict]int{}
	for i := range want {
		verdicts[want[i].Verdict]++
		// As result.json holds them (a wall instant read back from JSON
		// is the same instant in another *time.Location).
		g, _ := json.Marshal(got[i])
		w, _ := json.Marshal(want[i])
		if string(g) != string(w) || got[i].overBudget != want[i].overBudget {
			t.Errorf("check %s judged otherwise after the round trip:\nbefore %s\nafter  %s", want[i].Name, w, g)
		}
	}
	for _, c := range []string{"rpo", "ledger", "cross-store"} {
		if r := want[indexOf(want, c)]; r.Verdict != Fail {
			t.Errorf("the input was meant to fail %s, got %s: %s", c, r.Verdict, r.Explanation)
		}
	}
	if verdicts[Pass] == 0 {
		t.Errorf("no check passed: the comparison covers failures only (%v)", verdicts)
	}
	t.Logf("%d checks judged the same after the round trip (%v); evidence %d bytes", len(want), verdicts, len(b))
}

// An Evidence refuses a history shorter than the one its checks read, and
// reads only that many operations of a longer one.
func TestEvidenceReadsTheJudgedHistory(t *testing.T) {
	in := newDrill().input(2 * time.Minute)
	ev := NewEvidence(in, []string{"rpo"})
	short := in.History
	short.Ops = short.Ops[:len(short.Ops)-1]
	if _, err := ev.Input(short); err == nil {
		t.Errorf("a history shorter than the judged one was accepted")
	}
	long := in.History
	long.Ops = append(append([]history.Op(nil), long.Ops...), history.Op{Index: len(long.Ops), Kind: history.Event, Key: "late"})
	got, err := ev.Input(long)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.History.Ops) != len(in.History.Ops) {
		t.Errorf("read %d operations, the checks read %d", len(got.History.Ops), len(in.History.Ops))
	}
	ev.Version = EvidenceVersion + 1
	if _, err := ev.Input(in.History); err == nil {
		t.Errorf("evidence of another version was accepted")
	}
}

func indexOf(rs []Result, name string) int {
	for i, r := range rs {
		if r.Name == name {
			return i
		}
	}
	return -1
}

// normal makes empty line lists nil, as a round trip may.
func normal(s *topology.Snapshot) *topology.Snapshot {
	if s == nil {
		return nil
	}
	c := *s
	c.TakenAt = c.TakenAt.UTC()
	c.Journal = map[string]topology.JournalEntry{}
	for k, e := range s.Journal {
		if len(e.Lines) == 0 {
			e.Lines = nil
		}
		c.Journal[k] = e
	}
	return &c
}
