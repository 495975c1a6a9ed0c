package topology

import (
	"testing"
	"time"
)

// After a quiet spell the data at risk dates from the first write after
// it, not from the last restored commit.
func TestLagTrackerDatesTheRiskFromAfterAQuietSpell(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pos := func(seq uint64, commit, at time.Duration) Position {
		return Position{Seq: seq, CommitTime: t0.Add(commit), At: t0.Add(at)}
	}
	var tr LagTracker
	st := ShippingStatus{Primary: RegionA, Shipping: true, Restore: pos(10, 0, 0)}

	// The seed data (seq 10, committed at 0) is restored; the primary is
	// seen idle at 10 for a long while.
	for _, at := range []time.Duration{time.Second, 20 * time.Minute, 40 * time.Minute} {
		st.PrimaryLast = pos(10, 0, at)
		if _, risk := tr.AtRiskSince(st); risk {
			t.Fatalf("in sync at %s reads as at risk", at)
		}
	}
	// The first business write commits at 40m30s; the next reading sees it.
	st.PrimaryLast = pos(11, 40*time.Minute+30*time.Second, 41*time.Minute)
	since, risk := tr.AtRiskSince(st)
	if !risk {
		t.Fatal("a write the secondary lacks must be at risk")
	}
	if want := t0.Add(40 * time.Minute); !since.Equal(want) {
		t.Errorf("at risk since %s, want %s (the last time the primary was seen with nothing newer), not the restored commit at %s",
			since.Sub(t0), want.Sub(t0), time.Duration(0))
	}
	// Under steady traffic the newest restored commit is the bound.
	st.Restore = pos(30, 50*time.Minute, 51*time.Minute)
	st.PrimaryLast = pos(40, 55*time.Minute, 55*time.Minute)
	since, _ = tr.AtRiskSince(st)
	if want := t0.Add(50 * time.Minute); !since.Equal(want) {
		t.Errorf("at risk since %s, want %s", since.Sub(t0), want.Sub(t0))
	}
	// Everything restored: nothing at risk.
	st.Restore = pos(40, 55*time.Minute, 56*time.Minute)
	if _, risk := tr.AtRiskSince(st); risk {
		t.Error("everything restored reads as at risk")
	}
}

// Without any reading at or below the restored position the bound is the
// restored commit (safe: never later than the oldest missing write).
func TestLagTrackerWithoutReadingsUsesTheRestoredCommit(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var tr LagTracker
	st := ShippingStatus{Primary: RegionA, Shipping: true,
		Restore:     Position{Seq: 5, CommitTime: t0},
		PrimaryLast: Position{Seq: 9, CommitTime: t0.Add(time.Hour), At: t0.Add(time.Hour)}}
	since, risk := tr.AtRiskSince(st)
	if !risk || !since.Equal(t0) {
		t.Errorf("since %s risk %v", since.Sub(t0), risk)
	}
}
