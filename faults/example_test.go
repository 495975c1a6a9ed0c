package faults_test

import (
	"fmt"

	"github.com/bcdr-harness/bcdr/faults"
)

// A fault is built by name from text parameters over its defaults; every
// parameter is checked before anything touches an environment.
func ExampleNew() {
	f, def, err := faults.New("link-latency", map[string]string{"link": "wan", "latency": "250ms"})
	fmt.Println(f.Name(), def.Class, err)

	_, _, err = faults.New("link-latency", map[string]string{"latency": "1h"})
	fmt.Println(err)

	_, _, err = faults.New("fault-domains-loss", map[string]string{"domains": "2,2"})
	fmt.Println(err)
	// Output:
	// link-latency network <nil>
	// fault link-latency: parameter latency: 1h0m0s out of range [1ms, 10s]
	// fault fault-domains-loss: parameter domains: 2 given twice
}

// The catalogue lists every fault with its class, targets and parameters.
func ExampleCatalogue() {
	for _, d := range faults.Catalogue() {
		if d.Class == faults.Region {
			fmt.Printf("%s (region loss: %v) targets %s\n", d.Name, d.RegionLoss, d.Targets)
		}
	}
	// Output:
	// failback-fault (region loss: false) targets region (the failed-over one), AOS or SQL
	// region-flapping (region loss: false) targets region
	// region-isolation (region loss: true) targets region
	// region-outage (region loss: true) targets region
	// replication-stall-then-loss (region loss: true) targets region
}
