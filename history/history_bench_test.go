package history

import (
	"fmt"
	"testing"

	"github.com/bcdr-harness/bcdr/clock"
)

// BenchmarkAppend measures recording one operation, the cost every client
// request pays.
func BenchmarkAppend(b *testing.B) {
	r := NewRecorder(clock.New(200))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			r.Append(Op{Process: 1, Type: Invoke, Kind: JournalEntry, Key: "k"})
		}
	})
}

// BenchmarkCompletions measures pairing a 100k-operation history.
func BenchmarkCompletions(b *testing.B) {
	r := NewRecorder(clock.New(200))
	for i := 0; i < 50_000; i++ {
		key := fmt.Sprint(i)
		r.Append(Op{Process: i % 16, Type: Invoke, Kind: JournalEntry, Key: key})
		r.Append(Op{Process: i % 16, Type: OK, Kind: JournalEntry, Key: key})
	}
	h := r.Ops()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if n := len(h.Completions()); n != 50_000 {
			b.Fatalf("%d completions", n)
		}
	}
}
