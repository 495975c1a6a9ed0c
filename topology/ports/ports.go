// Package ports hands out loopback ports below the kernel's ephemeral
// range. A server that a fault stops (a cut link, a crashed store) must come
// back on the same port; a port from the ephemeral range can meanwhile be
// taken by any outgoing connection's local end, and the restart then fails.
//
// A port handed out is the process's for good: Listen and Free never hand
// it out again. Free's port is bound later by another process, and a server
// that a fault stops leaves its port unbound until it comes back; handing
// that port to a second server meanwhile would put two servers on one
// address, and whichever binds first answers for both (an AOS instance of
// one region behind the other region's load balancer, taking writes that
// region never sees).
package ports

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// handed holds every port this process has handed out.
var handed = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// take marks port as handed out; false when it already was.
func take(port int) bool {
	handed.Lock()
	defer handed.Unlock()
	if handed.ports[port] {
		return false
	}
	handed.ports[port] = true
	return true
}

// low is the first port handed out; ports below 10000 are left alone.
const low = 10000

// high returns the first port of the kernel's ephemeral range.
func high() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

// Listen listens on a free loopback port outside the ephemeral range (or
// any free port when the range leaves no room).
func Listen() (net.Listener, error) {
	hi := high()
	if hi-low < 1000 {
		for i := 0; i < 200; i++ {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			if take(ln.Addr().(*net.TCPAddr).Port) {
				return ln, nil
			}
			ln.Close()
		}
		return nil, errors.New("no loopback port that was not handed out before")
	}
	last := errors.New("every port tried was handed out before")
	for i := 0; i < 200; i++ {
		port := low + rand.IntN(hi-low)
		if !take(port) {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			return ln, nil
		}
		last = err
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, fmt.Errorf("no free loopback port below %d: %w", hi, last)
}

// Free returns a loopback address that was free a moment ago, for a server
// started by another process.
func Free() (string, error) {
	ln, err := Listen()
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Port is Free as a port number.
func Port() (int, error) {
	ln, err := Listen()
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Relisten listens on addr again after a stop, retrying for a second while
// the kernel still holds the port; an empty addr takes a new port.
func Relisten(addr string) (net.Listener, error) {
	if addr == "" {
		return Listen()
	}
	var last error
	for i := 0; i < 50; i++ {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln, nil
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	return nil, last
}
