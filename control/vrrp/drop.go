package vrrp

import "fmt"

// DropReason says why a received packet was not used. It is an error so the
// parser can return it directly.
type DropReason uint8

// Each reason has its own counter in Status.
const (
	DropTTL       DropReason = iota // TTL (IPv6: hop limit) != 255, unicast or multicast
	DropVersion                     // not the instance's VRRP version
	DropType                        // not an advertisement
	DropLength                      // too short, or a length no address count explains
	DropAddrCount                   // count field disagrees with the payload or the configured VIPs
	DropChecksum                    // bad checksum (v3: including the pseudo-header)
	DropVRID                        // another virtual router
	DropAuth                        // v2 auth type or PASS data differ
	DropInterval                    // v2 advert interval differs from ours
	DropAddrList                    // addresses differ from the configured VIPs
	DropPeer                        // unicast mode: source is not a configured peer
	DropDest                        // multicast mode: not sent to our group; unicast mode: sent to a group
	DropSource                      // multicast mode: the source is not a unicast address (unspecified, loopback, multicast)
	numDropReasons
)

var dropNames = [numDropReasons]string{
	DropTTL:       "ttl",
	DropVersion:   "version",
	DropType:      "type",
	DropLength:    "length",
	DropAddrCount: "addr_count",
	DropChecksum:  "checksum",
	DropVRID:      "vrid",
	DropAuth:      "auth",
	DropInterval:  "interval",
	DropAddrList:  "addr_list",
	DropPeer:      "peer",
	DropDest:      "dest",
	DropSource:    "source",
}

// warns says which refusals deserve a (rate-limited) warning: those that
// mean a forged advert, or a peer the receive checks now shut out (e.g. a
// unicast peer behind a router, whose adverts arrive with TTL < 255). VRID
// drops are normal on a shared segment, and the drops that come from a
// peer's configuration have the mismatch warning.
func (r DropReason) warns() bool {
	switch r {
	case DropTTL, DropDest, DropSource, DropPeer, DropChecksum, DropLength, DropType:
		return true
	}
	return false
}

func (r DropReason) String() string {
	if r < numDropReasons {
		return dropNames[r]
	}
	return fmt.Sprintf("DropReason(%d)", uint8(r))
}

func (r DropReason) Error() string { return "vrrp packet dropped: " + r.String() }
