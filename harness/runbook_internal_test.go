package harness

import (
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/topology"
)

// A failover is possibly lossy when the primary was seen committing beyond
// the secondary's share, and also when its newest commit was last read
// before the outage was detected: commits acknowledged after that reading
// may be gone with the region although every position seen looks shipped.
func TestPossibleLoss(t *testing.T) {
	detected := time.Unix(1000, 0)
	pos := func(seq uint64, at time.Time) topology.Position { return topology.Position{Seq: seq, At: at} }
	for _, tc := range []struct {
		name  string
		st    topology.ShippingStatus
		lossy bool
	}{
		{"read after detection, everything copied", topology.ShippingStatus{PrimaryLast: pos(10, detected.Add(time.Second)), Copy: pos(10, detected)}, false},
		{"read after detection, commits beyond the copy", topology.ShippingStatus{PrimaryLast: pos(12, detected.Add(time.Second)), Copy: pos(10, detected)}, true},
		{"last read before detection, everything seen was copied", topology.ShippingStatus{PrimaryLast: pos(10, detected.Add(-time.Second)), Copy: pos(16, detected)}, true},
		{"never read", topology.ShippingStatus{Copy: pos(16, detected)}, true},
	} {
		lossy, why := possibleLoss(tc.st, detected)
		if lossy != tc.lossy {
			t.Errorf("%s: possibleLoss = %v (%s), want %v", tc.name, lossy, why, tc.lossy)
		}
		if lossy && why == "" {
			t.Errorf("%s: lossy without a reason", tc.name)
		}
	}
}
