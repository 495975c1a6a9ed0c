// Package drilltest holds the harness's end-to-end tests: whole drills on
// the fake provider (the runbook through failover and failback, each
// defect its check must catch, random schedules) and on the embedded
// provider (nothing left behind after a drill, a cancelled drill or a
// panic). They take minutes; the harness package's own tests are the
// fast unit tests of the runbook, the workload and the scenario.
package drilltest
