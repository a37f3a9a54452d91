package main

import (
	"net"
	"net/netip"
	"sync"
)

// perIPListener closes a new connection at once when its client already
// holds max open ones, so that one client cannot take every connection
// (and file descriptor) the server has. IPv4 clients are counted by
// address, IPv6 clients by /64: one host usually owns a whole /64.
// Behind a reverse proxy every connection comes from the proxy: raise the
// limit or set it to 0 there.
type perIPListener struct {
	net.Listener
	max     int
	refused func()

	mu   sync.Mutex
	open map[netip.Prefix]int
}

func limitPerIP(ln net.Listener, max int, refused func()) net.Listener {
	return &perIPListener{Listener: ln, max: max, refused: refused, open: map[netip.Prefix]int{}}
}

func (l *perIPListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		client := clientOf(c.RemoteAddr())
		l.mu.Lock()
		if l.open[client] >= l.max {
			l.mu.Unlock()
			l.refused() // counted before the client can see the close
			c.Close()
			continue
		}
		l.open[client]++
		l.mu.Unlock()
		return &countedConn{Conn: c, release: func() { l.release(client) }}, nil
	}
}

func (l *perIPListener) release(client netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[client]--; l.open[client] <= 0 {
		delete(l.open, client)
	}
}

// clientOf is the unit a connection is counted under: its IPv4 address,
// or its IPv6 /64.
func clientOf(addr net.Addr) netip.Prefix {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return netip.Prefix{} // not IP: all such connections share one count
	}
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p
}

// countedConn gives its slot back once, on the first Close.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
