// Package faulttest injects every fault of the catalogue into a running
// embedded environment (PostgreSQL, the AOS stubs, Toxiproxy), observes
// each effect, recovers it and checks the environment is whole again. The
// faults package's own tests run every fault's lifecycle on the fake
// provider in milliseconds.
package faulttest
