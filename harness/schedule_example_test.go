package harness_test

import (
	"fmt"
	"time"

	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/topology"
)

// A seeded random schedule: the same seed always picks the same faults,
// targets and times, and prints them before the run.
func ExampleNewSchedule() {
	s, err := harness.NewSchedule(42, time.Hour, []string{"instance-crash", "link-latency", "region-outage"}, 2, topology.DefaultSpec())
	if err != nil {
		panic(err)
	}
	again, _ := harness.NewSchedule(42, time.Hour, []string{"instance-crash", "link-latency", "region-outage"}, 2, topology.DefaultSpec())
	fmt.Println(s.String() == again.String(), s.Checks())
	fmt.Println(s)
	// Output:
	// true [validity fault-domain-availability rpo rto sign-off customer-notice failback-loss failback-interruption batch-outage limited-mode restored-after-failback secondary-capacity cutover-fingerprint ledger cross-store replication-lag]
	// random schedule: seed 42, window 1h0m0s, 3 faults from 3 (replay: bcdr drill random --seed 42)
	//   +5m0s                  for 12m0s          instance-crash instance=5 region=a
	//   +7m0s                  for 13m0s          link-latency jitter=34ms latency=273ms link=wan
	//   +1h0m0s                until failed over  region-outage
}
