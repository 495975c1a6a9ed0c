package harness

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology"
)

// lagging is a log-shipping pair whose secondary catches up one restore
// at a time, and a bucket with objects pending until a round runs.
type lagging struct {
	topology.Environment // only SQL and Blob are used
	ship                 *lagShip
	blob                 *lagBlob
}

func (e lagging) SQL() topology.LogShipping  { return e.ship }
func (e lagging) Blob() topology.Replication { return e.blob }

type lagShip struct {
	topology.LogShipping
	committed, restored uint64
	stuck               bool // restores never advance (a broken copy)
}

func (s *lagShip) BackupLog(context.Context) error { return nil }
func (s *lagShip) CopyLogs(context.Context) error  { return nil }
func (s *lagShip) RestoreLogs(context.Context) error {
	if s.stuck {
		return errors.New("share unreachable")
	}
	if s.restored < s.committed {
		s.restored++
	}
	return nil
}
func (s *lagShip) Status(context.Context) (topology.ShippingStatus, error) {
	return topology.ShippingStatus{Primary: "a", Secondary: "b", Shipping: true,
		Restore:     topology.Position{LSN: "r", Seq: s.restored, CommitTime: time.Unix(100, 0)},
		PrimaryLast: topology.Position{LSN: "p", Seq: s.committed, CommitTime: time.Unix(200, 0)}}, nil
}

type lagBlob struct {
	topology.Replication
	pending int
}

func (b *lagBlob) SyncNow(context.Context) error { b.pending = 0; return nil }
func (b *lagBlob) Status(context.Context) (topology.ReplicationStatus, error) {
	return topology.ReplicationStatus{Source: "a", Destination: "b", Replicating: true, Pending: b.pending}, nil
}

func TestAwaitInSyncShipsTheBringUpBacklog(t *testing.T) {
	env := lagging{ship: &lagShip{committed: 3}, blob: &lagBlob{pending: 5}}
	rec := history.NewRecorder(clock.New(200))
	if err := AwaitInSync(context.Background(), env, rec, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	ev, ok := rec.Ops().FirstEvent(EvInSync)
	if !ok {
		t.Fatal("no in-sync event recorded")
	}
	if got := ev.Value["rounds"]; got != 3 {
		t.Fatalf("rounds = %v, want 3 (one restore per round, three behind)", got)
	}
	if env.ship.restored != 3 || env.blob.pending != 0 {
		t.Fatalf("restored %d pending %d: the wait returned before the pair was in sync", env.ship.restored, env.blob.pending)
	}
}

func TestAwaitInSyncGivesUpAndSaysWhy(t *testing.T) {
	env := lagging{ship: &lagShip{committed: 2, stuck: true}, blob: &lagBlob{}}
	rec := history.NewRecorder(clock.New(200))
	err := AwaitInSync(context.Background(), env, rec, 300*time.Millisecond)
	if !errors.Is(err, errNotInSync) {
		t.Fatalf("err = %v, want not in sync", err)
	}
	for _, want := range []string{"restored up to r", "committed up to p", "share unreachable"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, ok := rec.Ops().FirstEvent(EvInSync); ok {
		t.Fatal("in-sync recorded for a pair that never caught up")
	}
}
