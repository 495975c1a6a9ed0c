package faults_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bcdr-harness/bcdr/faults"
	"github.com/bcdr-harness/bcdr/topology"
)

// FuzzFaultParams: building any fault of the catalogue with any value for
// one of its parameters never panics; a value it refuses gives one
// faults.Error, on one line (unless the value holds a line break); a fault
// it builds comes back with its own catalogue entry.
func FuzzFaultParams(f *testing.F) {
	cat := faults.Catalogue()
	for i, d := range cat {
		for j, p := range d.Params {
			f.Add(uint8(i), uint8(j), p.Default)
		}
		if d.Pick != nil {
			for k, v := range d.Pick(rand.New(rand.NewPCG(uint64(i), 1)), topology.DefaultSpec()) {
				for j, p := range d.Params {
					if p.Name == k {
						f.Add(uint8(i), uint8(j), v)
					}
				}
			}
		}
	}
	for _, v := range []string{"", "-1", "0", "1e12", "NaN", "99999999999999999999", "10s", "-5ms", "1h", "a,b", "1,1,1,1,1", "wan,wan", " 3 ", "0x10", "\x00", "client-a\n"} {
		f.Add(uint8(0), uint8(0), v)
	}
	f.Fuzz(func(t *testing.T, i, j uint8, v string) {
		d := cat[int(i)%len(cat)]
		params := map[string]string{}
		if len(d.Params) > 0 {
			params[d.Params[int(j)%len(d.Params)].Name] = v
		}
		fault, def, err := faults.New(d.Name, params)
		if err != nil {
			var fe *faults.Error
			if !errors.As(err, &fe) {
				t.Fatalf("%s %v: error is %T, not a faults.Error: %v", d.Name, params, err, err)
			}
			if strings.Contains(err.Error(), "\n") && !strings.Contains(v, "\n") {
				t.Fatalf("%s %v: error on more than one line: %q", d.Name, params, err)
			}
			return
		}
		if fault == nil || def.Name != d.Name {
			t.Fatalf("%s %v: built %v as %q", d.Name, params, fault, def.Name)
		}
	})
}
