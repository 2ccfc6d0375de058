package testutil

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a TCP server in a host's namespace: it greets each connection
// with its name, then echoes lines until the client closes.
type Server struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
}

// Serve starts a Server on port in h's namespace; it stops at the test's end.
func Serve(t testing.TB, h *Host, port int, name string) *Server {
	t.Helper()
	var ln net.Listener
	err := h.Do(func() (err error) {
		// Both families: an IPv4 client is accepted as ::ffff:a.b.c.d, and
		// one with IPv6 (Host.EnableIPv6) reaches the same server.
		ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", h.Name, err)
	}
	s := &Server{ln: ln, conns: map[net.Conn]bool{}}
	t.Cleanup(s.Kill)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			go func() {
				defer func() {
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
					c.Close()
				}()
				fmt.Fprintf(c, "%s\n", name)
				io.Copy(c, c)
			}()
		}
	}()
	return s
}

// Kill stops the server like a crash: the listener and every connection close.
func (s *Server) Kill() {
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// Conn is a client connection to a Server.
type Conn struct {
	net.Conn
	r *bufio.Reader
	// Backend is the name the server greeted with.
	Backend string
}

// Dial connects from h's namespace to addr, from localPort when it is not 0
// (a fixed port gives the same flow hash on every run), and reads the greeting.
func Dial(h *Host, addr netip.AddrPort, localPort int) (*Conn, error) {
	var c net.Conn
	err := h.Do(func() (err error) {
		network, local := "tcp4", &net.TCPAddr{IP: h.Addr.Addr().AsSlice(), Port: localPort}
		if addr.Addr().Is6() {
			// From the IPv6 address the kernel picks (Addr is h's IPv4 one).
			network, local = "tcp6", &net.TCPAddr{Port: localPort}
		}
		d := net.Dialer{Timeout: 3 * time.Second, LocalAddr: local}
		c, err = d.Dial(network, addr.String())
		return err
	})
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	name, err := r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("read greeting: %w", err)
	}
	return &Conn{Conn: c, r: r, Backend: strings.TrimSpace(name)}, nil
}

// Echo sends msg and waits for it to come back.
func (c *Conn) Echo(msg string) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\n", msg); err != nil {
		return err
	}
	got, err := c.r.ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(got) != msg {
		return fmt.Errorf("echo %q, got %q", msg, got)
	}
	return nil
}
