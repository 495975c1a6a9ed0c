// Command aos-stub runs one AOS stub instance, configured by BCDR_AOS_*
// environment variables (see package topology/aos). The containers provider
// builds it into the stub image.
package main

import "github.com/bcdr-harness/bcdr/topology/aos"

func main() { aos.Main() }
