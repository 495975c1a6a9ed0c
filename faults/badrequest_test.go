package faults_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/bcdr-harness/bcdr/faults"
)

// TestBadRequestsChangeNothing: an unknown fault, a bad parameter and a
// missing target each give one clear faults.Error, before anything changes.
func TestBadRequests(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params map[string]string
		want   string
	}{
		{"no-such-fault", nil, `unknown fault "no-such-fault"`},
		{"instance-crash", map[string]string{"instance": "-1"}, "parameter instance: -1 out of range [0, 999]"},
		{"instance-crash", map[string]string{"region": "c"}, "region must be a or b"},
		{"instance-crash", map[string]string{"blast": "1"}, `unknown parameter "blast"`},
		{"link-latency", map[string]string{"latency": "forever"}, "parameter latency: not a duration"},
		{"link-latency", map[string]string{"latency": "1h"}, "out of range"},
		{"link-latency", map[string]string{"latency": "100ms", "jitter": "200ms"}, "parameter jitter"},
		{"link-bandwidth", map[string]string{"rate": "0"}, "parameter rate: 0 out of range"},
		{"link-partition", map[string]string{"link": "moon"}, "parameter link: must be one of"},
		{"link-one-way", map[string]string{"direction": "sideways"}, "parameter direction"},
		{"fault-domains-loss", map[string]string{"domains": "1,1"}, "given twice"},
		{"fault-domains-loss", map[string]string{"domains": "1"}, "want 2 to 4 entries"},
		{"region-flapping", map[string]string{"cycles": "11"}, "parameter cycles"},
		{"failback-fault", map[string]string{"target": "router"}, "parameter target"},
	} {
		_, _, err := faults.New(tc.name, tc.params)
		var fe *faults.Error
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s %v: want one line with %q, got %v", tc.name, tc.params, tc.want, err)
		}
	}
}
