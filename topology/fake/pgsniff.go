package fake

import (
	"net"
	"sync"
)

// pgListener answers a PostgreSQL client's first message (an SSLRequest or
// a startup packet, which begin with a zero length byte) with "N" and
// closes, as a server that speaks the protocol would answer something, so
// that a probe through an SQL link sees a live server. HTTP passes through.
type pgListener struct{ net.Listener }

func (l pgListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &pgConn{Conn: c}, nil
}

type pgConn struct {
	net.Conn
	once sync.Once
	pg   bool
}

func (c *pgConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.once.Do(func() {
		if n > 0 && b[0] == 0 {
			c.pg = true
			_, _ = c.Conn.Write([]byte("N"))
		}
	})
	if c.pg {
		_ = c.Conn.Close()
		return 0, net.ErrClosed
	}
	return n, err
}
