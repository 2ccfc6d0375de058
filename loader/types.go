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

// rawServiceKey is a service key as the maps hold it: an IPv4 service's in
// xlb_services, an IPv6 service's in xlb_services6 (bpf/xlb_structs.h).
type rawServiceKey struct {
	v6 bool
	k4 xlbXlbServiceKey
	k6 xlbXlbServiceKey6
}

// key is the map key: a pointer to the struct of its family.
func (r *rawServiceKey) key() any {
	if r.v6 {
		return &r.k6
	}
	return &r.k4
}

func (k ServiceKey) raw() (rawServiceKey, error) {
	vip, family, err := rawAddr(k.VIP)
	if err != nil {
		return rawServiceKey{}, fmt.Errorf("service %s: VIP: %w", k, err)
	}
	if family == familyIPv6 {
		return rawServiceKey{v6: true, k6: xlbXlbServiceKey6{Vip: vip, Port: htons(k.Port), Proto: uint8(k.Proto)}}, nil
	}
	return rawServiceKey{k4: xlbXlbServiceKey{Vip: vip.V6[0], Port: htons(k.Port), Proto: uint8(k.Proto)}}, nil
}

func serviceKeyFromRaw(r xlbXlbServiceKey) ServiceKey {
	return ServiceKey{VIP: addrFromRaw(xlbXlbAddr{V6: [4]uint32{r.Vip}}, familyIPv4), Port: ntohs(r.Port), Proto: lb.Protocol(r.Proto)}
}

func serviceKey6FromRaw(r xlbXlbServiceKey6) ServiceKey {
	return ServiceKey{VIP: addrFromRaw(r.Vip, familyIPv6), Port: ntohs(r.Port), Proto: lb.Protocol(r.Proto)}
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
	ip, family, err := rawAddr(b.IP)
	if err != nil {
		return xlbXlbBackend{}, fmt.Errorf("backend %s: %w", b.IP, err)
	}
	if len(b.MAC) != 6 {
		return xlbXlbBackend{}, fmt.Errorf("backend %s: MAC %q is not a 6-byte Ethernet address", b.IP, b.MAC)
	}
	r := xlbXlbBackend{Ip: ip, State: uint8(b.State), Family: family, ServiceId: b.ServiceID}
	copy(r.Mac[:], b.MAC)
	return r, nil
}

func backendFromRaw(r xlbXlbBackend) Backend {
	return Backend{ServiceID: r.ServiceId, IP: addrFromRaw(r.Ip, r.Family), MAC: net.HardwareAddr(append([]byte(nil), r.Mac[:]...)), State: BackendState(r.State)}
}

// ErrFamilyMix is returned for a backend or a flow whose addresses are not
// of one family (IPv4 and IPv6): a service and its backends are one family,
// as in IPVS direct routing, where the backend receives the client's packet
// as it was sent.
var ErrFamilyMix = errors.New("IPv4 and IPv6 mixed")

// SameFamily says whether a service's backend may have address ip: both
// IPv4 or both IPv6, else an error wrapping ErrFamilyMix that names them.
func SameFamily(svc ServiceKey, ip netip.Addr) error {
	if svc.VIP.Unmap().Is4() != ip.Unmap().Is4() {
		return fmt.Errorf("backend %s of service %s: %w: a service's backends must be of its VIP's family", ip, svc, ErrFamilyMix)
	}
	return nil
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

// rawFlowKey is a flow key as the maps hold it: an IPv4 flow's in xlb_flows
// and xlb_new_flows, an IPv6 flow's in xlb_flows6 and xlb_new_flows6.
type rawFlowKey struct {
	v6 bool
	k4 xlbXlbFlowKey
	k6 xlbXlbFlowKey6
}

// key is the map key: a pointer to the struct of its family.
func (r *rawFlowKey) key() any {
	if r.v6 {
		return &r.k6
	}
	return &r.k4
}

func (k FlowKey) raw() (rawFlowKey, error) {
	client, cf, err := rawAddr(k.Client.Addr())
	if err != nil {
		return rawFlowKey{}, fmt.Errorf("flow %s: client: %w", k, err)
	}
	vip, vf, err := rawAddr(k.VIP.Addr())
	if err != nil {
		return rawFlowKey{}, fmt.Errorf("flow %s: VIP: %w", k, err)
	}
	if cf != vf {
		return rawFlowKey{}, fmt.Errorf("flow %s: %w: a packet has one family", k, ErrFamilyMix)
	}
	sport, dport, proto := htons(k.Client.Port()), htons(k.VIP.Port()), uint8(k.Proto)
	if vf == familyIPv6 {
		return rawFlowKey{v6: true, k6: xlbXlbFlowKey6{Saddr: client, Daddr: vip, Sport: sport, Dport: dport, Proto: proto}}, nil
	}
	return rawFlowKey{k4: xlbXlbFlowKey{Saddr: client.V6[0], Daddr: vip.V6[0], Sport: sport, Dport: dport, Proto: proto}}, nil
}

// flowKeyOf is the FlowKey of the addresses (of family), ports (network
// byte order) and protocol of a map key or flow event.
func flowKeyOf(saddr, daddr xlbXlbAddr, family uint8, sport, dport uint16, proto uint8) FlowKey {
	return FlowKey{
		Client: netip.AddrPortFrom(addrFromRaw(saddr, family), ntohs(sport)),
		VIP:    netip.AddrPortFrom(addrFromRaw(daddr, family), ntohs(dport)),
		Proto:  lb.Protocol(proto),
	}
}

func flowKeyFromRaw(r xlbXlbFlowKey) FlowKey {
	return flowKeyOf(xlbXlbAddr{V6: [4]uint32{r.Saddr}}, xlbXlbAddr{V6: [4]uint32{r.Daddr}}, familyIPv4, r.Sport, r.Dport, r.Proto)
}

func flowKey6FromRaw(r xlbXlbFlowKey6) FlowKey {
	return flowKeyOf(r.Saddr, r.Daddr, familyIPv6, r.Sport, r.Dport, r.Proto)
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
	PassNotIP     = Reason(xlbXlbReasonXLB_PASS_NOT_IP)
	PassMalformed = Reason(xlbXlbReasonXLB_PASS_MALFORMED)
	PassFragment  = Reason(xlbXlbReasonXLB_PASS_FRAGMENT)
	PassNoService = Reason(xlbXlbReasonXLB_PASS_NO_SERVICE)
	PassICMP      = Reason(xlbXlbReasonXLB_PASS_ICMP)
	DropNoBackend = Reason(xlbXlbReasonXLB_DROP_NO_BACKEND)
	PassIPv6Ext   = Reason(xlbXlbReasonXLB_PASS_IPV6EXT)

	numReasons = int(xlbXlbReasonXLB_REASON_MAX)
)

var reasonNames = [numReasons]string{
	PassOtherMAC:  "pass_other_mac",
	PassNotIP:     "pass_not_ip",
	PassMalformed: "pass_malformed",
	PassFragment:  "pass_fragment",
	PassNoService: "pass_no_service",
	PassICMP:      "pass_icmp",
	DropNoBackend: "drop_no_backend",
	PassIPv6Ext:   "pass_ipv6_ext",
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

// ErrBadAddr is returned for an address the data plane cannot hold: the
// zero netip.Addr, or one with an IPv6 zone (fe80::1%eth0: the maps hold no
// zones).
var ErrBadAddr = errors.New("not an IPv4 or unzoned IPv6 address")

// Address families in the maps; the values are the C enum's.
const (
	familyIPv4 = uint8(xlbXlbFamilyXLB_FAMILY_IPV4)
	familyIPv6 = uint8(xlbXlbFamilyXLB_FAMILY_IPV6)
)

// rawAddr and addrFromRaw are the loader's one conversion of addresses:
// every netip.Addr enters and leaves the maps through them. The C union
// holds IPv4 in its first word (network byte order, as in packets; bpf2go's
// struct holds each word as a host-endian integer of the same bytes) and
// IPv6 in all four; the family travels beside it. An IPv4-mapped IPv6
// address (::ffff:a.b.c.d) is the IPv4 address: that is what its packets
// carry.
func rawAddr(a netip.Addr) (xlbXlbAddr, uint8, error) {
	var r xlbXlbAddr
	switch {
	case !a.IsValid() || a.Zone() != "":
		return r, 0, fmt.Errorf("%q: %w", a, ErrBadAddr)
	case a.Unmap().Is4():
		b := a.Unmap().As4()
		r.V6[0] = binary.NativeEndian.Uint32(b[:])
		return r, familyIPv4, nil
	}
	b := a.As16()
	for i := range r.V6 {
		r.V6[i] = binary.NativeEndian.Uint32(b[4*i:])
	}
	return r, familyIPv6, nil
}

func addrFromRaw(r xlbXlbAddr, family uint8) netip.Addr {
	if family != familyIPv6 {
		var b [4]byte
		binary.NativeEndian.PutUint32(b[:], r.V6[0])
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	for i, w := range r.V6 {
		binary.NativeEndian.PutUint32(b[4*i:], w)
	}
	return netip.AddrFrom16(b)
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

func ntohs(v uint16) uint16 { return htons(v) }
