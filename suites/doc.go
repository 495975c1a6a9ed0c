// Package suites holds the drills that `go test ./suites/...` runs, one
// package per family (region, hardware, network, controls). A suite is a
// table of scenarios; adding a case is adding a row.
package suites
