package vrrp

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// MismatchReason is a way a peer's adverts for our VRID disagree with our
// configuration. Each one can leave two masters on the segment: a v2 and a
// v3 router never see each other (keepalived 2.2.7 behaves the same, see
// lab-facts.md), a v2 router drops adverts with another interval or
// password, and RFC 3768/5798 section 7.1 drop adverts whose addresses
// differ. keepalived logs these once and carries on; xlb counts them,
// warns (rate-limited) and shows them in status, so a split brain in the
// making cannot go unnoticed.
type MismatchReason uint8

// Each reason has its own counter in Status.Mismatches.
const (
	MismatchVersion  MismatchReason = iota // the sender speaks the other VRRP version
	MismatchInterval                       // advert interval differs from ours
	MismatchVIPs                           // the sender's address set differs from our VIPs
	MismatchAuth                           // v2: authentication type or password differs
	numMismatchReasons
)

var mismatchNames = [numMismatchReasons]string{
	MismatchVersion:  "version",
	MismatchInterval: "interval",
	MismatchVIPs:     "vips",
	MismatchAuth:     "auth",
}

func (r MismatchReason) String() string {
	if r < numMismatchReasons {
		return mismatchNames[r]
	}
	return fmt.Sprintf("MismatchReason(%d)", uint8(r))
}

// warnEvery bounds the warnings per reason: the first advert of a reason
// is logged at once, later ones at most this often with a count, so a
// misconfigured peer (or a flood) cannot fill the log.
const warnEvery = time.Minute

// rateLimit counts events and lets one through per warnEvery.
type rateLimit struct {
	loggedAt time.Time
	unlogged uint64 // seen since the last warning
}

// allow records an event and reports whether to log it now, with the
// number of events the warning covers.
func (l *rateLimit) allow(now time.Time) (uint64, bool) {
	l.unlogged++
	if !l.loggedAt.IsZero() && now.Sub(l.loggedAt) < warnEvery {
		return 0, false
	}
	n := l.unlogged
	l.loggedAt, l.unlogged = now, 0
	return n, true
}

// Mismatch is what Status reports for one reason seen at least once.
type Mismatch struct {
	Reason string `json:"reason"`
	Count  uint64 `json:"count"`
	// LastFrom, LastDetail and LastAt describe the latest such advert.
	LastFrom   string    `json:"last_from"`
	LastDetail string    `json:"last_detail"`
	LastAt     time.Time `json:"last_at"`
	// LastDropped says the latest such advert was dropped: neither router
	// then follows the other, so both may be master. A v3 interval
	// mismatch alone is not dropped (RFC 5798: a backup adopts the
	// master's interval).
	LastDropped bool `json:"last_dropped"`
}

type mismatchSeen struct {
	count      uint64
	lastFrom   netip.Addr
	lastDetail string
	lastAt     time.Time
	dropped    bool
	warn       rateLimit
}

type mismatchFound struct {
	reason MismatchReason
	detail string
}

// compare lists how an authentic advert for our VRID (TTL, destination,
// sender, checksum and VRID already checked) disagrees with our config.
func (in *Instance) compare(a Advert) []mismatchFound {
	var out []mismatchFound
	if a.Version != in.cfg.Version {
		out = append(out, mismatchFound{MismatchVersion, fmt.Sprintf(
			"sender speaks VRRPv%d, this instance v%d: neither sees the other's adverts", a.Version, in.cfg.Version)})
	}
	// A router leaving sends priority 0 with its usual interval, so the
	// interval is comparable in every advert.
	if theirs := unitsInterval(a.Version, a.Interval); theirs != in.cfg.AdvertInterval {
		out = append(out, mismatchFound{MismatchInterval, fmt.Sprintf(
			"sender advert_int %v, ours %v", theirs, in.cfg.AdvertInterval)})
	}
	if d := vipDiff(in.cfg.VIPs, a.Addrs); d != "" {
		out = append(out, mismatchFound{MismatchVIPs, d})
	}
	if a.Version == 2 && in.cfg.Version == 2 {
		want := in.advert(0)
		switch {
		case a.AuthType != want.AuthType:
			out = append(out, mismatchFound{MismatchAuth, fmt.Sprintf(
				"sender auth type %d, ours %d", a.AuthType, want.AuthType)})
		case a.AuthType == AuthPass && a.AuthData != want.AuthData:
			out = append(out, mismatchFound{MismatchAuth, "sender auth_pass differs from ours"})
		}
	}
	return out
}

// vipDiff describes how addrs differs from the configured VIPs ("" if the
// sets are equal).
func vipDiff(vips []VIP, addrs []netip.Addr) string {
	ours := make([]netip.Addr, len(vips))
	for i, v := range vips {
		ours[i] = v.Prefix.Addr()
	}
	var missing, extra []string
	for _, a := range ours {
		if !slices.Contains(addrs, a) {
			missing = append(missing, a.String())
		}
	}
	for _, a := range addrs {
		if !slices.Contains(ours, a) && !slices.Contains(extra, a.String()) {
			extra = append(extra, a.String())
		}
	}
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "sender lacks "+strings.Join(missing, ","))
	}
	if len(extra) > 0 {
		parts = append(parts, "sender adds "+strings.Join(extra, ","))
	}
	return strings.Join(parts, "; ")
}

// noteMismatches counts and, rate-limited, warns about each disagreement
// of an advert that was dropped or used.
func (in *Instance) noteMismatches(now time.Time, src netip.Addr, found []mismatchFound, dropped bool) {
	effect := "advert used"
	if dropped {
		effect = "advert dropped: neither follows the other, both may be master"
	}
	for _, f := range found {
		m := &in.mismatch[f.reason]
		m.count++
		m.lastFrom, m.lastDetail, m.lastAt, m.dropped = src, f.detail, now, dropped
		if n, ok := m.warn.allow(now); ok {
			in.log.Warn("vrrp peer on this VRID is configured differently",
				"reason", f.reason.String(), "from", src, "detail", f.detail,
				"effect", effect, "adverts", n, "state", in.state)
		}
	}
}
