package health

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"

	"xlb/control/config"
)

func init() {
	Register(config.CheckDNS, func(r config.RealServer, target string, _ *slog.Logger) (Checker, error) {
		c := r.Check
		return NewDNS(DNSConfig{Addr: target, Type: c.DNS.Type, Name: c.DNS.Name})
	})
}

// DNSConfig is keepalived's DNS_CHECK: one query over UDP with recursion
// desired; the server is up when a reply with the query's id, the response
// bit set and rcode NOERROR arrives within the timeout. As in keepalived's
// dns_recv_thread, datagrams too short for a header, with another id or
// without the response bit are skipped (they may be stray or spoofed) and
// only the header decides: the answer section is not examined.
type DNSConfig struct {
	Addr string // host:port [connect_ip, connect_port]
	// Type of the query [type]: one of keepalived's A NS CNAME SOA MX TXT
	// AAAA RRSIG DNSKEY, any case; default SOA.
	Type string
	// Name queried [name]; default "" (the root zone), as keepalived.
	Name string
	Dial DialFunc
}

// dnsTypes are the types keepalived's DNS_CHECK accepts (check_dns.c DNS_TYPE).
var dnsTypes = map[string]uint16{
	"A": dns.TypeA, "NS": dns.TypeNS, "CNAME": dns.TypeCNAME, "SOA": dns.TypeSOA, "MX": dns.TypeMX,
	"TXT": dns.TypeTXT, "AAAA": dns.TypeAAAA, "RRSIG": dns.TypeRRSIG, "DNSKEY": dns.TypeDNSKEY,
}

// dnsReadSize is keepalived's DNS_BUFFER_SIZE: a longer reply is cut, which
// does not matter since only the header is read.
const dnsReadSize = 768

// DNSChecker implements DNSConfig.
type DNSChecker struct {
	addr  string
	qtype uint16
	name  string
	dial  DialFunc
}

// NewDNS validates cfg.
func NewDNS(cfg DNSConfig) (*DNSChecker, error) {
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("dns check: address %q: %w", cfg.Addr, err)
	}
	typ := cfg.Type
	if typ == "" {
		typ = "SOA"
	}
	qtype, ok := dnsTypes[strings.ToUpper(typ)]
	if !ok {
		return nil, fmt.Errorf("dns check: type %q: want one of A NS CNAME SOA MX TXT AAAA RRSIG DNSKEY", cfg.Type)
	}
	// keepalived's dns_name_handler refuses an empty label (".x", "a..b").
	if (strings.HasPrefix(cfg.Name, ".") && cfg.Name != ".") || strings.Contains(cfg.Name, "..") {
		return nil, fmt.Errorf("dns check: name %q has an empty label", cfg.Name)
	}
	name := dns.Fqdn(cfg.Name)
	if _, ok := dns.IsDomainName(name); !ok {
		return nil, fmt.Errorf("dns check: name %q is not a domain name", cfg.Name)
	}
	return &DNSChecker{addr: cfg.Addr, qtype: qtype, name: name, dial: cfg.Dial.orDefault()}, nil
}

// Check sends one query and waits for its reply.
func (c *DNSChecker) Check(ctx context.Context) Result {
	start := time.Now()
	q := new(dns.Msg)
	q.SetQuestion(c.name, c.qtype)
	q.RecursionDesired = true
	wire, err := q.Pack()
	if err != nil {
		return failResult(fmt.Errorf("dns query: %w", err))
	}
	conn, err := c.dial(ctx, "udp", c.addr)
	if err != nil {
		return failResult(fmt.Errorf("%w: %w", ErrConnect, timeoutOr(ctx, start, err)))
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := conn.Write(wire); err != nil {
		return failResult(fmt.Errorf("%w: send query: %w", ErrConnect, timeoutOr(ctx, start, err)))
	}
	buf := make([]byte, dnsReadSize)
	skipped := ""
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("no reply%s: %w", skipped, err)
			}
			return failResult(fmt.Errorf("%w: %w", ErrConnect, timeoutOr(ctx, start, err)))
		}
		var r dns.Msg
		if n < 12 {
			skipped = fmt.Sprintf(" (skipped a %d-byte datagram)", n)
			continue
		}
		// Unpack sets the header before it reads the sections; a body it
		// cannot read does not matter to this check, as to keepalived's.
		_ = r.Unpack(buf[:n])
		switch {
		case r.Id != q.Id:
			skipped = fmt.Sprintf(" (skipped a reply with id %d, want %d)", r.Id, q.Id)
			continue
		case !r.Response:
			skipped = " (skipped a datagram without the response bit)"
			continue
		case r.Rcode != dns.RcodeSuccess:
			return failResult(fmt.Errorf("%w: %s %s: rcode %s", ErrProtocol, c.name, dns.TypeToString[c.qtype], rcodeName(r.Rcode)))
		}
		return okResult(fmt.Sprintf("%s %s: NOERROR, %d answer(s)", c.name, dns.TypeToString[c.qtype], len(r.Answer)))
	}
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return fmt.Sprintf("%s (%d)", s, rc)
	}
	return fmt.Sprint(rc)
}
