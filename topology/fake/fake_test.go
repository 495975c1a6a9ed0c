package fake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/topology"
	"github.com/bcdr-harness/bcdr/topology/aos"
	"github.com/bcdr-harness/bcdr/topology/appdb"
	"github.com/bcdr-harness/bcdr/topology/fake"
)

// up builds a small fake environment whose schedules never fire during a
// test (hours of service time at scale 1), so every job runs on demand.
func up(t *testing.T) *fake.Env {
	t.Helper()
	spec := topology.DefaultSpec()
	spec.Provider = fake.Name
	spec.InstancesPerRegion, spec.FaultDomains = 3, 3
	spec.LogBackupInterval, spec.LogCopyInterval, spec.LogRestoreInterval, spec.BlobReplInterval = time.Hour, time.Hour, time.Hour, time.Hour
	env, err := fake.Up(context.Background(), spec, clock.New(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Close(context.Background()) })
	return env
}

func post(t *testing.T, url, path string, body any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+path, bytes.NewReader(b))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func journal(t *testing.T, url, key string) int {
	return post(t, url, "/journal", aos.JournalRequest{Key: key, Lines: []appdb.Line{{Account: "1100-cash", Debit: 5}, {Account: "4000-revenue", Credit: 5}}})
}

func ship(t *testing.T, env topology.Environment) {
	t.Helper()
	ctx := context.Background()
	for _, job := range []func(context.Context) error{env.SQL().BackupLog, env.SQL().CopyLogs, env.SQL().RestoreLogs} {
		if err := job(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func has(t *testing.T, env topology.Environment, r topology.RegionName, key string) bool {
	t.Helper()
	s, err := env.Snapshot(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return s.Has(key)
}

// A commit reaches the secondary only through backup, copy and restore,
// and a cut WAN stops the copy.
func TestCommitsShipOnlyByBackupCopyRestore(t *testing.T) {
	env := up(t)
	ctx := context.Background()
	url := env.Router().URL()
	if st := journal(t, url, "je-1"); st != http.StatusCreated {
		t.Fatalf("journal: status %d", st)
	}
	if !has(t, env, topology.RegionA, "je-1") || has(t, env, topology.RegionB, "je-1") {
		t.Fatal("an acknowledged write must be on the primary and not yet on the secondary")
	}
	if err := env.SQL().BackupLog(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.SQL().RestoreLogs(ctx); err != nil {
		t.Fatal(err)
	}
	if has(t, env, topology.RegionB, "je-1") {
		t.Fatal("a backup that was never copied was restored")
	}
	wan, _ := env.Links().Get(topology.LinkWAN)
	if err := wan.Cut(); err != nil {
		t.Fatal(err)
	}
	if err := env.SQL().CopyLogs(ctx); err == nil {
		t.Fatal("the copy crossed a cut WAN")
	}
	st, _ := env.SQL().Status(ctx)
	if !st.PossibleLoss() || st.CopyErrors == 0 {
		t.Fatalf("status should show possible loss and a copy error: %+v", st)
	}
	if err := wan.Restore(); err != nil {
		t.Fatal(err)
	}
	ship(t, env)
	if !has(t, env, topology.RegionB, "je-1") {
		t.Fatal("the write did not reach the secondary after backup, copy and restore")
	}
	if st, _ := env.SQL().Status(ctx); !st.InSync() {
		t.Fatalf("not in sync after shipping: %+v", st)
	}
}

// A failover loses what was not copied; a resync brings the old primary
// back as a secondary of the new one, without the lost write.
func TestFailoverLosesUncopiedWrites(t *testing.T) {
	env := up(t)
	ctx := context.Background()
	url := env.Router().URL()
	journal(t, url, "je-shipped")
	ship(t, env)
	journal(t, url, "je-unshipped")
	if err := env.Region(topology.RegionA).Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := env.SQL().Failover(ctx); err != nil {
		t.Fatal(err)
	}
	if !has(t, env, topology.RegionB, "je-shipped") || has(t, env, topology.RegionB, "je-unshipped") {
		t.Fatal("region b should hold the shipped write and not the unshipped one")
	}
	if err := env.Blob().Failover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.Router().SwitchTo(topology.RegionB); err != nil {
		t.Fatal(err)
	}
	if st := journal(t, url, "je-on-b"); st != http.StatusCreated {
		t.Fatalf("write on b after failover: status %d", st)
	}
	if err := env.Region(topology.RegionA).Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.SQL().Resync(ctx); err != nil {
		t.Fatal(err)
	}
	if !has(t, env, topology.RegionA, "je-on-b") || has(t, env, topology.RegionA, "je-unshipped") {
		t.Fatal("the resynced region a should hold b's data and no longer the lost write")
	}
}

// A planned switch ships the tail unless told to skip it.
func TestSwitchoverShipsTailUnlessSkipped(t *testing.T) {
	for _, skip := range []bool{false, true} {
		t.Run(fmt.Sprint("skip=", skip), func(t *testing.T) {
			env := up(t)
			ctx := context.Background()
			journal(t, env.Router().URL(), "je-tail")
			if err := env.SQL().Switchover(ctx, topology.SwitchoverOptions{SkipFinalLogBackup: skip}); err != nil {
				t.Fatal(err)
			}
			st, _ := env.SQL().Status(ctx)
			if st.Primary != topology.RegionB || !st.Shipping {
				t.Fatalf("after switchover: %+v", st)
			}
			if got := has(t, env, topology.RegionB, "je-tail"); got == skip {
				t.Fatalf("tail on the new primary: %t with skip=%t", got, skip)
			}
		})
	}
}

// Documents replicate by rounds; the destination refuses application writes.
func TestBucketsReplicateBySync(t *testing.T) {
	env := up(t)
	ctx := context.Background()
	doc := bytes.Repeat([]byte("pdf"), 100)
	if st := post(t, env.Router().URL(), "/invoices", aos.InvoiceRequest{Key: "inv-1", Amount: 7, Document: doc}); st != http.StatusCreated {
		t.Fatalf("invoice: status %d", st)
	}
	s, _ := env.Snapshot(ctx, topology.RegionB)
	if len(s.Objects) != 0 {
		t.Fatal("an object reached the destination before any replication round")
	}
	if err := env.Blob().SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if s, _ = env.Snapshot(ctx, topology.RegionB); s.Objects[aos.ObjectKey("inv-1")] == "" {
		t.Fatal("the object did not replicate")
	}
	if bs, _ := env.Blob().Status(ctx); bs.Pending != 0 {
		t.Fatalf("pending after a round: %+v", bs)
	}
}

// Limited mode makes maintenance and reports answer 423.
func TestLimitedModeRefusesMaintenance(t *testing.T) {
	env := up(t)
	ep := env.Region(topology.RegionA).Endpoint()
	if st := post(t, ep, "/admin/mode", aos.ModeRequest{Limited: true}); st != http.StatusOK {
		t.Fatalf("set mode: %d", st)
	}
	if st := post(t, env.Router().URL(), "/maintenance", aos.MaintenanceRequest{Kind: "update"}); st != aos.StatusLimited {
		t.Fatalf("maintenance in limited mode: status %d, want 423", st)
	}
}
