package main

import (
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// A client holding max connections gets its next one closed at once; a
// closed connection frees its slot.
func TestConnectionsPerIPAreLimited(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int32
	ln := limitPerIP(inner, 2, func() { refused.Add(1) })
	defer ln.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	acceptedOne := func() net.Conn {
		t.Helper()
		select {
		case c := <-accepted:
			return c
		case <-time.After(2 * time.Second):
			t.Fatal("a connection within the limit was not accepted")
			return nil
		}
	}
	closedByServer := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err := c.Read(make([]byte, 1))
		return err == io.EOF
	}

	dial()
	first := acceptedOne()
	dial()
	acceptedOne()
	third := dial()
	if !closedByServer(third) {
		t.Fatal("a third connection from one IP was not closed")
	}
	if refused.Load() != 1 {
		t.Errorf("refusals counted: %d, want 1", refused.Load())
	}
	first.Close()
	first.Close() // a second Close gives nothing back twice
	dial()
	acceptedOne()
	if c := dial(); !closedByServer(c) {
		t.Fatal("after one slot was freed and taken again, another connection was accepted")
	}
}

func TestClientsAreCountedByAddressOrIPv6Slash64(t *testing.T) {
	key := func(s string) netip.Prefix {
		return clientOf(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)))
	}
	if key("[2001:db8:1:2:aaaa::1]:1000") != key("[2001:db8:1:2:bbbb::2]:2000") {
		t.Error("two addresses of one IPv6 /64 are counted apart")
	}
	if key("[2001:db8:1:2::1]:1000") == key("[2001:db8:1:3::1]:1000") {
		t.Error("two IPv6 /64s are counted together")
	}
	if key("192.0.2.1:1000") == key("192.0.2.2:1000") {
		t.Error("two IPv4 addresses are counted together")
	}
	if key("[::ffff:192.0.2.1]:1000") != key("192.0.2.1:2000") {
		t.Error("an IPv4-mapped address is counted apart from its IPv4 address")
	}
}
