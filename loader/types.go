package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"xlb/lb"
)

// ServiceKey names a virtual service.
type ServiceKey struct {
	VIP   netip.Addr
	Port  uint16
	Proto lb.Protocol
}

func (k ServiceKey) String() string {
	return fmt.Sprintf("%s/%s", netip.AddrPortFrom(k.VIP, k.Port), k.Proto)
}

func (k ServiceKey) raw() (xlbXlbServiceKey, error) {
	vip, err := addr4(k.VIP)
	if err != nil {
		return xlbXlbServiceKey{}, fmt.Errorf("service %s: VIP: %w", k, err)
	}
	return xlbXlbServiceKey{Vip: vip, Port: htons(k.Port), Proto: uint8(k.Proto)}, nil
}

func serviceKeyFromRaw(r xlbXlbServiceKey) ServiceKey {
	return ServiceKey{VIP: ipFromBE(r.Vip), Port: ntohs(r.Port), Proto: lb.Protocol(r.Proto)}
}

// ServiceFlags change how a service picks backends.
type ServiceFlags uint32

// HashSource hashes only the client address: source-IP affinity (IPVS's sh
// scheduler, keepalived's persistence_timeout).
const HashSource = ServiceFlags(xlbXlbServiceFlagsXLB_SVC_HASH_SRC)

// Service is a service's entry in the data plane.
type Service struct {
	// ID indexes the service's counters and Maglev tables: 1..MaxServices-1.
	ID    uint32
	Flags ServiceFlags
}

// BackendState is what the data plane may do with a backend.
type BackendState uint8

// Backend states; the values are the C enum's.
const (
	BackendUnused  = BackendState(xlbXlbBackendStateXLB_BACKEND_UNUSED)
	BackendActive  = BackendState(xlbXlbBackendStateXLB_BACKEND_ACTIVE)
	BackendDrained = BackendState(xlbXlbBackendStateXLB_BACKEND_DRAINED)
	BackendDown    = BackendState(xlbXlbBackendStateXLB_BACKEND_DOWN)
)

func (s BackendState) String() string {
	switch s {
	case BackendUnused:
		return "unused"
	case BackendActive:
		return "active"
	case BackendDrained:
		return "drained"
	case BackendDown:
		return "down"
	}
	return fmt.Sprintf("state-%d", uint8(s))
}

// Backend is a real server of one service, reached by rewriting the
// destination MAC to its own.
type Backend struct {
	ServiceID uint32
	IP        netip.Addr
	MAC       net.HardwareAddr
	State     BackendState
}

func (b Backend) raw() (xlbXlbBackend, error) {
	ip, err := addr4(b.IP)
	if err != nil {
		return xlbXlbBackend{}, fmt.Errorf("backend %s: %w", b.IP, err)
	}
	if len(b.MAC) != 6 {
		return xlbXlbBackend{}, fmt.Errorf("backend %s: MAC %q is not a 6-byte Ethernet address", b.IP, b.MAC)
	}
	r := xlbXlbBackend{Ip: ip, State: uint8(b.State), ServiceId: b.ServiceID}
	copy(r.Mac[:], b.MAC)
	return r, nil
}

func backendFromRaw(r xlbXlbBackend) Backend {
	return Backend{ServiceID: r.ServiceId, IP: ipFromBE(r.Ip), MAC: net.HardwareAddr(append([]byte(nil), r.Mac[:]...)), State: BackendState(r.State)}
}

// FlowKey is a connection as the client sends it.
type FlowKey struct {
	Client netip.AddrPort
	VIP    netip.AddrPort
	Proto  lb.Protocol
}

func (k FlowKey) String() string {
	return fmt.Sprintf("%s->%s/%s", k.Client, k.VIP, k.Proto)
}

func (k FlowKey) raw() (xlbXlbFlowKey, error) {
	client, err := addr4(k.Client.Addr())
	if err != nil {
		return xlbXlbFlowKey{}, fmt.Errorf("flow %s: client: %w", k, err)
	}
	vip, err := addr4(k.VIP.Addr())
	if err != nil {
		return xlbXlbFlowKey{}, fmt.Errorf("flow %s: VIP: %w", k, err)
	}
	return xlbXlbFlowKey{Saddr: client, Daddr: vip,
		Sport: htons(k.Client.Port()), Dport: htons(k.VIP.Port()), Proto: uint8(k.Proto)}, nil
}

func flowKeyFromRaw(r xlbXlbFlowKey) FlowKey {
	return FlowKey{
		Client: netip.AddrPortFrom(ipFromBE(r.Saddr), ntohs(r.Sport)),
		VIP:    netip.AddrPortFrom(ipFromBE(r.Daddr), ntohs(r.Dport)),
		Proto:  lb.Protocol(r.Proto),
	}
}

// Counter is a packet and byte count, summed over CPUs.
type Counter struct {
	Packets uint64
	Bytes   uint64
}

// Reason says why the program passed or dropped a frame.
type Reason uint32

// Pass and drop reasons; the values are the C enum's.
const (
	PassOtherMAC  = Reason(xlbXlbReasonXLB_PASS_OTHER_MAC)
	PassNotIPv4   = Reason(xlbXlbReasonXLB_PASS_NOT_IPV4)
	PassMalformed = Reason(xlbXlbReasonXLB_PASS_MALFORMED)
	PassFragment  = Reason(xlbXlbReasonXLB_PASS_FRAGMENT)
	PassNoService = Reason(xlbXlbReasonXLB_PASS_NO_SERVICE)
	PassICMP      = Reason(xlbXlbReasonXLB_PASS_ICMP)
	DropNoBackend = Reason(xlbXlbReasonXLB_DROP_NO_BACKEND)

	numReasons = int(xlbXlbReasonXLB_REASON_MAX)
)

var reasonNames = [numReasons]string{
	PassOtherMAC:  "pass_other_mac",
	PassNotIPv4:   "pass_not_ipv4",
	PassMalformed: "pass_malformed",
	PassFragment:  "pass_fragment",
	PassNoService: "pass_no_service",
	PassICMP:      "pass_icmp",
	DropNoBackend: "drop_no_backend",
}

func (r Reason) String() string { return enumName(r, reasonNames[:], "reason") }

// Reasons lists every reason, in order.
func Reasons() []Reason { return enumValues[Reason](numReasons) }

// FlowStat names what happened to flows (see the README's data-plane
// section): the program counts each per CPU.
type FlowStat uint32

// Flow stats; the values are the C enum's.
const (
	FlowOpened    = FlowStat(xlbXlbFlowStatXLB_FLOW_OPENED)
	FlowRecorded  = FlowStat(xlbXlbFlowStatXLB_FLOW_RECORDED)
	FlowLimited   = FlowStat(xlbXlbFlowStatXLB_FLOW_LIMITED)
	FlowUntracked = FlowStat(xlbXlbFlowStatXLB_FLOW_UNTRACKED)
	FlowRepicked  = FlowStat(xlbXlbFlowStatXLB_FLOW_REPICKED)

	numFlowStats = int(xlbXlbFlowStatXLB_FLOW_STAT_MAX)
)

var flowStatNames = [numFlowStats]string{
	FlowOpened:    "opened",
	FlowRecorded:  "recorded",
	FlowLimited:   "insert_limited",
	FlowUntracked: "untracked",
	FlowRepicked:  "repicked",
}

func (s FlowStat) String() string { return enumName(s, flowStatNames[:], "flow-stat") }

// FlowStats lists every flow stat, in order.
func FlowStats() []FlowStat { return enumValues[FlowStat](numFlowStats) }

// enumName and enumValues serve the C enums that index per-CPU counter
// arrays (Reason, FlowStat): values 0..n-1, one name each.
func enumName[T ~uint32](v T, names []string, kind string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s-%d", kind, uint32(v))
}

func enumValues[T ~uint32](n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = T(i)
	}
	return out
}

// ErrNotIPv4 is returned for an address the data plane cannot hold yet.
var ErrNotIPv4 = errors.New("address is not IPv4")

// addr4 and ipFromBE are the loader's only IPv4-only spot: the C structs hold
// an address as one __be32 (network byte order, as in packets; bpf2go's
// structs hold it as a host-endian integer of the same bytes). Every netip.Addr
// enters and leaves the maps through these two, so IPv6 changes here and in
// the C structs, nowhere else above them.
func addr4(a netip.Addr) (uint32, error) {
	if !a.Is4() {
		return 0, fmt.Errorf("%s: %w", a, ErrNotIPv4)
	}
	b := a.As4()
	return binary.NativeEndian.Uint32(b[:]), nil
}

func ipFromBE(v uint32) netip.Addr {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

func ntohs(v uint16) uint16 { return htons(v) }
