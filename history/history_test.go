package history

import (
	"path/filepath"
	"testing"

	"github.com/bcdr-harness/bcdr/clock"
)

func TestCompletionsPairInvokesWithOutcomes(t *testing.T) {
	r := NewRecorder(clock.New(100))
	r.Append(Op{Process: 1, Type: Invoke, Kind: JournalEntry, Key: "a"})
	r.Append(Op{Process: 2, Type: Invoke, Kind: Invoice, Key: "b"})
	r.Event(EvFaultInjected, map[string]any{"fault": "x"})
	r.Append(Op{Process: 2, Type: Fail, Kind: Invoice, Key: "b"})
	r.Append(Op{Process: 1, Type: OK, Kind: JournalEntry, Key: "a"})
	r.Append(Op{Process: 3, Type: Invoke, Kind: JournalEntry, Key: "c"}) // never completes
	cs := r.Ops().Completions()
	if len(cs) != 3 {
		t.Fatalf("want 3 completions, got %d", len(cs))
	}
	want := map[string]Type{"a": OK, "b": Fail, "c": Unknown}
	for _, c := range cs {
		if c.Result.Type != want[c.Invoke.Key] {
			t.Errorf("%s: want %s, got %s", c.Invoke.Key, want[c.Invoke.Key], c.Result.Type)
		}
	}
	if acks := r.Ops().AcknowledgedWrites(); len(acks) != 1 || acks[0].Invoke.Key != "a" {
		t.Errorf("acknowledged writes: %+v", acks)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	r := NewRecorder(clock.New(300))
	r.Append(Op{Process: 1, Type: Invoke, Kind: JournalEntry, Key: "a", Value: map[string]any{"amount": 5}})
	r.Append(Op{Process: 1, Type: OK, Kind: JournalEntry, Key: "a", Region: "b", Inst: "aos-b-1"})
	h := r.Ops()
	path := filepath.Join(t.TempDir(), "history.jsonl")
	if err := h.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Scale != 300 || len(got.Ops) != 2 || got.Ops[1].Inst != "aos-b-1" || got.Ops[1].Service != h.Ops[1].Service {
		t.Errorf("round trip lost data: %+v", got)
	}
}
