// Package lb holds the load balancer's vocabulary shared by every layer
// (config, reconciler, loader, daemon, xlbctl): the protocol of a virtual
// service and how it balances new flows. Each concept is one type with one
// spelling, so a name printed by xlbctl is the one a config file uses.
package lb

import (
	"fmt"
	"strings"
)

// Protocol is the IP protocol number of a virtual service.
type Protocol uint8

// The protocols a service can carry.
const (
	TCP Protocol = 6
	UDP Protocol = 17
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// ParseProtocol reads "tcp" or "udp" in any case.
func ParseProtocol(s string) (Protocol, bool) {
	switch strings.ToLower(s) {
	case "tcp":
		return TCP, true
	case "udp":
		return UDP, true
	}
	return 0, false
}

// Balancing is how a service picks the backend of a new flow. Existing flows
// always stay on their backend while it is usable.
type Balancing uint8

// Balancing modes.
const (
	// Maglev spreads new flows over usable backends by weight with a
	// weighted Maglev table hashed on the 5-tuple; two directors with the
	// same config choose alike.
	Maglev Balancing = iota
	// SourceHash is the Maglev table hashed on the client address alone:
	// source-IP affinity (sh, mh, persistence_timeout).
	SourceHash
	// Failover sends every new flow to the usable backend with the highest
	// weight (ties: the first listed), like IPVS's fo.
	Failover
)

func (b Balancing) String() string {
	switch b {
	case Maglev:
		return "maglev"
	case SourceHash:
		return "source-hash"
	case Failover:
		return "failover"
	}
	return fmt.Sprintf("balancing(%d)", uint8(b))
}
