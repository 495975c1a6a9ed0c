// Package containers is the Docker provider of the harness ("containers",
// chosen with BCDR_PROVIDER=containers): the same two-region environment as
// the embedded default, with every tier in a container started through
// testcontainers-go core (its mssql, minio and toxiproxy modules are not
// used). Each region is its own Docker network; a Toxiproxy container
// attached to both carries every container-side link (AOS to SQL, AOS to
// blob, and the WAN that log shipping and blob replication cross). The load
// balancers and the router are in-process reverse proxies on loopback in
// front of the containers' published ports.
//
// Nothing is left behind: every container, network and volume carries the
// label bcdr.run=<run id>; Close removes them, and Clean removes those of a
// run that was killed (bcdr clean). Ryuk is not used (it cannot be pulled
// here): TESTCONTAINERS_RYUK_DISABLED=true is set by the provider.
package containers
