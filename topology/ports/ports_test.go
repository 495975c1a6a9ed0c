package ports

import (
	"net"
	"testing"
)

// Free's port is bound later by another process: until then a second
// call must not hand out the same port, or two servers share an address.
// 2,000 draws from the range below the ephemeral ports would repeat a port
// almost surely (about 90 repeats expected) without the process's record.
func TestFreeNeverHandsOutAPortTwice(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		addr, err := Free()
		if err != nil {
			t.Fatalf("draw %d: %v", i, err)
		}
		if seen[addr] {
			t.Fatalf("draw %d: %s handed out twice", i, addr)
		}
		seen[addr] = true
	}
	// Listen keeps to the same record: a port Free handed out and nobody
	// bound yet is not Listen's to take.
	for i := 0; i < 200; i++ {
		ln, err := Listen()
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if seen[addr] {
			t.Fatalf("Listen took %s, which Free handed out", addr)
		}
		seen[addr] = true
	}
}

// Relisten binds the address it is given again (a server back after a
// fault keeps its port), whatever the record says.
func TestRelistenTakesItsOwnPortBack(t *testing.T) {
	ln, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	again, err := Relisten(addr)
	if err != nil {
		t.Fatalf("relisten %s: %v", addr, err)
	}
	defer again.Close()
	if again.Addr().(*net.TCPAddr).String() != addr {
		t.Fatalf("relistened on %s, want %s", again.Addr(), addr)
	}
}
