package config

import (
	"errors"
	"fmt"
)

// keepalived gives a vrrp_instance one address family, set by the first
// statement that names one, in file order: unicast_src_ip or mcast_src_ip
// (vrrp_srcip_handler), a unicast_peer entry (alloc_vrrp_unicast_peer),
// mcast_dst_ip (vrrp_mcast_dstip_handler), native_ipv6
// (vrrp_native_ipv6_handler) or an address of virtual_ipaddress
// (alloc_vrrp_vip); all in keepalived/vrrp/vrrp_parser.c and vrrp_data.c.
// Whatever comes later in the other family is reported and skipped, and
// keepalived runs without it: xlb does the same, with a warning at the
// line, so a file behaves the same under both.

// kaFamily is an instance's family as keepalived decides it.
type kaFamily struct {
	set bool
	v6  bool
	at  int   // index in the instance's block of the statement that decided it
	by  *stmt // that statement, or its line that named the address
}

func (f kaFamily) name() string         { return famName(f.v6) }
func otherFamily(v6 bool) string        { return famName(!v6) }
func (f kaFamily) where() string        { return fmt.Sprintf("line %d", f.by.line().line) }
func (f kaFamily) differs(v6 bool) bool { return f.set && f.v6 != v6 }

// instanceFamily walks an instance's block as keepalived's parser does and
// returns the family its first family-naming statement gives.
func instanceFamily(block []*stmt) kaFamily {
	for i, c := range block {
		var cands []*stmt
		switch c.key.text {
		case "unicast_src_ip", "mcast_src_ip", "mcast_dst_ip":
			if len(c.args) == 1 {
				if a, err := parseAddr(c.args[0].text); err == nil {
					return kaFamily{set: true, v6: a.Is6(), at: i, by: c}
				}
			}
		case "native_ipv6":
			return kaFamily{set: true, v6: true, at: i, by: c}
		case "unicast_peer", "virtual_ipaddress":
			cands = c.block
		}
		for _, l := range cands {
			if c.key.text == "unicast_peer" {
				if a, err := parseAddr(l.key.text); err == nil {
					return kaFamily{set: true, v6: a.Is6(), at: i, by: l}
				}
				continue
			}
			var dropped vipDropped
			if v, _, err := parseVIP(words(l)); v.Prefix.IsValid() && !errors.As(err, &dropped) {
				return kaFamily{set: true, v6: v.Prefix.Addr().Is6(), at: i, by: l}
			}
		}
	}
	return kaFamily{}
}

// familyGate reads the instance keywords whose meaning depends on the
// family, as keepalived does; true: c was handled here.
func (k *kreader) familyGate(block []*stmt, i int, fam kaFamily, ctx string) bool {
	c := block[i]
	if !fam.set || len(c.args) > 1 || c.hasBlock {
		return false
	}
	switch c.key.text {
	case "unicast_src_ip", "mcast_src_ip", "mcast_dst_ip":
		if len(c.args) != 1 {
			return false
		}
		a, err := parseAddr(c.args[0].text)
		if err != nil || !fam.differs(a.Is6()) {
			return false
		}
		k.d.warn(c.line(), ctx, c.key.text, "%s ignored, as keepalived skips it: the instance is %s (from %s) and its addresses are one family",
			a, fam.name(), fam.where())
		return true
	case "native_ipv6":
		if len(c.args) != 0 {
			return false
		}
		if !fam.v6 {
			k.d.warn(c.line(), ctx, c.key.text, "ignored, as keepalived ignores it (\"Cannot specify native_ipv6 with IPv4 addresses\"): the instance is IPv4 (from %s)", fam.where())
		}
		return true
	case "version":
		if !fam.v6 || len(c.args) != 1 || c.args[0].text != "2" {
			return false
		}
		if i > fam.at {
			k.d.warn(c.line(), ctx, c.key.text, "2 ignored, as keepalived ignores it after IPv6 addresses (from %s): the instance speaks VRRPv3", fam.where())
			return true
		}
		if k.strict(block) {
			k.d.warn(c.line(), ctx, c.key.text, "2 ignored, as keepalived in strict mode ignores it with IPv6 addresses (%s): the instance speaks VRRPv3", fam.where())
			return true
		}
		k.d.err(c.line(), ctx, c.key.text, ErrUnsupported, "2 before the instance's IPv6 addresses (%s): keepalived would then speak VRRPv2 over IPv6, "+
			"which xlb does not (VRRPv2 is IPv4 only, RFC 3768): remove it or write version 3, as keepalived does for an IPv6 instance", fam.where())
		return true
	}
	return false
}

// strict reports whether an instance runs in strict mode: its strict_mode,
// else global_defs' vrrp_strict (read above it, as keepalived reads it).
func (k *kreader) strict(block []*stmt) bool {
	for _, c := range block {
		if c.key.text == "strict_mode" {
			if len(c.args) == 0 {
				return true
			}
			b, err := parseBool(c.args[0].text)
			return err == nil && b
		}
	}
	return k.cfg.Global.VRRP.Strict
}
