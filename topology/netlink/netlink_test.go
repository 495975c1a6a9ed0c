package netlink

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// echoServer answers each line with the same line.
func echoServer(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadBytes('\n')
					if err != nil {
						return
					}
					if _, err := c.Write(line); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(c net.Conn, r *bufio.Reader) error {
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err := r.ReadBytes('\n')
	return err
}

func TestCutRefusesAndRestoreAccepts(t *testing.T) {
	s := NewSet()
	defer s.Close()
	addr, err := s.Add("wan", "echo", echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	if err := roundTrip(c, r); err != nil {
		t.Fatalf("healthy link: %v", err)
	}
	l, _ := s.Get("wan")
	if err := l.Cut(); err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if err := roundTrip(c, r); err == nil {
		t.Error("an open connection still worked across a cut link")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("a cut link accepted a new connection")
	}
	if err := l.Restore(); err != nil {
		t.Fatal(err)
	}
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("restored link refused: %v", err)
	}
	defer c2.Close()
	if err := roundTrip(c2, bufio.NewReader(c2)); err != nil {
		t.Fatalf("restored link: %v", err)
	}
}

func TestLatencyToxicSlowsEveryProxyOfTheLink(t *testing.T) {
	s := NewSet()
	defer s.Close()
	a1, _ := s.Add("wan", "one", echoServer(t))
	a2, _ := s.Add("wan", "two", echoServer(t))
	l, _ := s.Get("wan")
	if err := l.AddToxic("slow", "latency", "downstream", 1, map[string]any{"latency": 150}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{a1, a2} {
		c, err := net.Dial("tcp", a)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := roundTrip(c, bufio.NewReader(c)); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("%s: round trip took %s under a 150ms latency toxic", a, d)
		}
	}
	if err := l.AddToxic("slow", "latency", "downstream", 1, nil); err == nil {
		t.Error("a duplicate toxic name was accepted")
	}
}

// BenchmarkRoundTrip compares a loopback round trip direct and through a
// link; compare the two as a ratio within one run.
func BenchmarkRoundTrip(b *testing.B) {
	up := echoServer(b)
	s := NewSet()
	defer s.Close()
	proxied, err := s.Add("bench", "echo", up)
	if err != nil {
		b.Fatal(err)
	}
	for name, addr := range map[string]string{"direct": up, "link": proxied} {
		b.Run(name, func(b *testing.B) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			r := bufio.NewReader(c)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := roundTrip(c, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
