package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"xlb/loader/limits"
)

// keepalived's virtual_server_group NAME { ENTRY PORT ... } lets several
// addresses share one virtual_server block (virtual_server group NAME):
// xlb reads that block once per address and port, so each becomes a
// service of its own with the same settings and real servers. An entry is
// an address, a range (A-N: N replaces the last byte, the last 16-bit group
// in hex for IPv6; A-B) or a prefix (A/LEN), as keepalived's alloc_vsg_entry
// (check/check_data.c) reads them; fwmark entries are refused.

// groupEntry is one address and port of a virtual_server_group.
type groupEntry struct {
	vip  netip.Addr
	port uint16
	at   *stmt // the entry's line
}

// vsGroups are the virtual_server_groups of a file, read before any
// virtual_server (keepalived resolves a group by name wherever it stands).
type vsGroups map[string][]groupEntry

const fwmarkWhy = "not supported: xlb matches a service by address and port, not by firewall mark; list the addresses and ports"

// serverGroup reads a top-level virtual_server_group block.
func (k *kreader) serverGroup(s *stmt) {
	name := s.args[0].text
	ctx := "virtual_server_group " + name
	if _, dup := k.groups[name]; dup {
		k.d.err(s.line(), ctx, "", ErrInvalid, "virtual_server_group %q is defined twice", name)
		return
	}
	var entries []groupEntry
	for _, c := range s.block {
		if !k.noBlock(c, ctx) {
			continue
		}
		if c.key.text == "fwmark" {
			k.d.err(c.line(), ctx, "fwmark", ErrUnsupported, "%s", fwmarkWhy)
			continue
		}
		room := limits.MaxServices - len(entries)
		vips, port, err := groupEntryAddrs(words(c), room)
		if err != nil {
			k.d.err(c.line(), ctx, c.key.text, ErrInvalid, "%v", err)
			continue
		}
		if len(vips) > room {
			k.d.err(c.line(), ctx, c.key.text, ErrInvalid, "the group holds more than %d addresses and ports: the data plane holds %d services; %s",
				limits.MaxServices, limits.MaxServices, limits.HowToRaise)
			break
		}
		for _, a := range vips {
			entries = append(entries, groupEntry{vip: a, port: port, at: c})
		}
	}
	if k.groups == nil {
		k.groups = vsGroups{}
	}
	k.groups[name] = entries
}

// groupEntryAddrs reads "ADDRESS PORT" of a virtual_server_group and lists
// its addresses, at most max+1 of them (more says too many).
func groupEntryAddrs(w []string, max int) ([]netip.Addr, uint16, error) {
	if len(w) != 2 || strings.Trim(w[1], "0") == "" {
		return nil, 0, fmt.Errorf("wants ADDRESS PORT (ADDRESS: A, A-N, A-B or A/LEN): xlb balances one port per service")
	}
	port, err := parsePort(w[1])
	if err != nil {
		return nil, 0, fmt.Errorf("port %v", err)
	}
	first, last, err := groupRange(w[0])
	if err != nil {
		return nil, 0, err
	}
	var out []netip.Addr
	for a := first; len(out) <= max; a = a.Next() {
		out = append(out, a)
		if a == last {
			break
		}
	}
	return out, port, nil
}

// groupRange reads a group address: A, A-N, A-B or A/LEN.
func groupRange(s string) (netip.Addr, netip.Addr, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" || p.Bits() == 0 {
			return netip.Addr{}, netip.Addr{}, fmt.Errorf("%q is not an address/length", s)
		}
		if p.Masked() != p {
			return netip.Addr{}, netip.Addr{}, fmt.Errorf("%q has host bits set (write %s)", s, p.Masked())
		}
		return p.Addr(), lastOf(p), nil
	}
	from, to, isRange := strings.Cut(s, "-")
	first, err := parseAddr(from)
	if err != nil {
		return first, first, err
	}
	if !isRange {
		return first, first, nil
	}
	var last netip.Addr
	if strings.ContainsAny(to, ".:") {
		if last, err = parseAddr(to); err != nil {
			return first, first, fmt.Errorf("range end: %v", err)
		}
		if last.Is4() != first.Is4() {
			return first, first, fmt.Errorf("%q mixes address families", s)
		}
	} else {
		// The last byte (IPv4, decimal) or 16-bit group (IPv6, hex).
		b := first.AsSlice()
		base, bits := 10, 8
		if first.Is6() {
			base, bits = 16, 16
		}
		n, err := strconv.ParseUint(to, base, bits)
		if err != nil {
			return first, first, fmt.Errorf("range end %q is not a number up to %d", to, 1<<bits-1)
		}
		if bits == 8 {
			b[len(b)-1] = byte(n)
		} else {
			b[len(b)-2], b[len(b)-1] = byte(n>>8), byte(n)
		}
		last, _ = netip.AddrFromSlice(b)
		if last.Compare(first) <= 0 {
			return first, first, fmt.Errorf("range %q does not end after its start", s)
		}
	}
	if last.Compare(first) < 0 {
		return first, first, fmt.Errorf("range %q ends before its start", s)
	}
	return first, last, nil
}

// lastOf is the last address of a prefix.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
