// Package suites holds the drills that `go test ./suites/...` runs, one
// package per family:
//
//   - hardware: faults inside a region (instance crash and freeze, a fault
//     domain lost, the SQL primary crashed in place): customers barely
//     notice, nothing is lost, no failover.
//   - network: a WAN partition with and without a later outage, WAN latency,
//     AOS cut off from SQL, a region isolated from its clients.
//   - region: region outage with failover and failback, the outage at the
//     worst moment for the RPO, a flapping region, faults during failback,
//     a refused sign-off.
//   - controls: one negative control per check, each built to violate the
//     promise the check guards and showing the check failing.
//
// A suite is a table of scenarios (data: topology, workload, faults,
// budgets and the verdict each check must reach); adding a case is adding a
// row. suitetest runs a table one row at a time, skips a row whose fault is
// not in the catalogue yet (naming it), and saves every run's results under
// BCDR_RESULTS when set. Rows skipped for a known limitation run anyway with
// BCDR_UNSKIP=1. docs/promises.md maps every promise to its checks, rows and
// controls.
package suites
