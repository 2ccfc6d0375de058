package config

import (
	"net"
	"net/netip"
	"time"

	"xlb/control/bgp"
	"xlb/control/script"
	"xlb/control/secret"
	"xlb/control/vrrp"
	"xlb/lb"
)

// Config is a loaded, defaulted and validated configuration. Every field has
// its final value: consumers never apply defaults of their own.
type Config struct {
	Global     Global
	Interfaces []string // interfaces the XDP program attaches to, in order, no duplicates
	Services   []Service
	VRRP       []VRRPInstance
	// SyncGroups are keepalived's vrrp_sync_groups: the members of each
	// fail over together. The group's own tracking is already in each
	// member's TrackInterfaces and TrackScripts.
	SyncGroups []vrrp.SyncGroupConfig
	// GARPGroups are keepalived's garp_groups: the pace of gratuitous ARPs
	// and unsolicited neighbour advertisements on their interfaces (see
	// Pacing). No interface is in two.
	GARPGroups []vrrp.GARPGroup
	// Static are keepalived's static_ipaddress, static_routes and
	// static_rules: installed while xlbd runs, whatever the VRRP state.
	Static Static
	// BGP announces the VIPs to routers (xlb.yaml only; nil without).
	BGP *bgp.Config
}

// Pacing is how the VRRP instances pace their gratuitous ARPs and
// unsolicited neighbour advertisements: keepalived's global
// vrrp_garp_interval and vrrp_gna_interval and its garp_groups.
func (c *Config) Pacing() vrrp.Pacing {
	return vrrp.Pacing{GARPInterval: c.Global.VRRP.GARPInterval, GNAInterval: c.Global.VRRP.GNAInterval, Groups: c.GARPGroups}
}

// Static is what xlbd installs at start and removes when it stops.
type Static struct {
	Addresses []vrrp.VIP
	Routes    []vrrp.Route
	Rules     []vrrp.Rule
}

// Global holds settings that apply to the whole director.
type Global struct {
	// RouterID names this director (keepalived's router_id / lvs_id); the
	// host name when empty, filled in by the daemon, not here.
	RouterID string
	// DefaultInterface is the interface of a vrrp_instance that names none
	// (keepalived's default_interface).
	DefaultInterface string
	// HashSeedFile holds the flow hash seed (xlb's own keyword; xlbd run
	// --hash-seed-file wins over it): the same content on both directors.
	HashSeedFile string
	// FlowSyncGroup is flow sync's multicast group:port (xlb's own
	// keyword; xlbd run --flow-sync-group wins over it); zero: the default.
	FlowSyncGroup netip.AddrPort
	// VRRP holds global_defs' defaults for every VRRP instance; an
	// instance's own keyword wins, as in keepalived.
	VRRP VRRPDefaults
	// EnableScriptSecurity is keepalived's enable_script_security: a script
	// run as root that a non-root user could change is refused.
	EnableScriptSecurity bool
	// ScriptUser runs every script that names no user (keepalived's
	// script_user); empty: keepalived_script if that user exists, else
	// xlbd's own user.
	ScriptUser string
	// ScriptGroup is script_user's group: "" is the user's primary group.
	ScriptGroup string
}

// ScriptPolicy is who runs the scripts that name no user, and whether an
// insecure script is refused.
func (g *Global) ScriptPolicy() script.Policy {
	return script.Policy{User: g.ScriptUser, Group: g.ScriptGroup, Security: g.EnableScriptSecurity}
}

// VRRPDefaults are keepalived's global vrrp_* keywords: each is the default
// of the instance field of the same name.
type VRRPDefaults struct {
	Version                 uint8      // vrrp_version
	McastGroup4             netip.Addr // vrrp_mcast_group4
	McastGroup6             netip.Addr // vrrp_mcast_group6
	GARPMasterDelay         time.Duration
	GARPMasterRepeat        int
	GARPMasterRefresh       time.Duration
	GARPMasterRefreshRepeat int
	GARPLowerPrioDelay      time.Duration
	GARPLowerPrioRepeat     int
	// GARPInterval and GNAInterval space the gratuitous ARPs and the
	// unsolicited neighbour advertisements sent on an interface that no
	// garp_group names (vrrp_garp_interval, vrrp_gna_interval; 0: back to
	// back).
	GARPInterval         time.Duration
	GNAInterval          time.Duration
	StartupDelay         time.Duration // vrrp_startup_delay
	CheckUnicastSrc      bool          // vrrp_check_unicast_src
	SkipCheckAdvAddr     bool          // vrrp_skip_check_adv_addr
	Strict               bool          // vrrp_strict
	HigherPrioSendAdvert bool          // vrrp_higher_prio_send_advert
}

// Service is one virtual service: traffic to VIP:Port/Protocol is spread over Reals.
type Service struct {
	Name     string // unique; default "VIP:PORT/proto", e.g. "192.168.1.30:3306/tcp"
	VIP      netip.Addr
	Port     uint16 // 1..65535
	Protocol lb.Protocol
	// Scheduler is the IPVS name as written (rr, wrr, lc, wlc, sed, nq, sh, mh, fo);
	// Balancing tells what the data plane does with it.
	Scheduler Scheduler
	// PersistenceTimeout > 0 gives source-IP affinity (see Service.Balancing).
	PersistenceTimeout time.Duration
	Method             Method        // only MethodDR
	DelayLoop          time.Duration // default interval of this service's checks
	// InhibitOnFailure is the default of RealServer.InhibitOnFailure.
	InhibitOnFailure bool
	// Alpha starts every real server down until its check passes.
	Alpha bool
	// Quorum is the minimum sum of the weights of usable real servers for the
	// service to count as having a backend (VRRPInstance.TrackServices).
	Quorum uint32
	// Hysteresis widens the quorum both ways (keepalived's hysteresis): a
	// service keeps its quorum down to Quorum-Hysteresis and regains it at
	// Quorum+Hysteresis, so a weight hovering at the quorum does not flap.
	Hysteresis uint32
	// QuorumUp and QuorumDown run (no shell, as their own user or
	// script_user) when the service gains or loses its quorum, as
	// keepalived's quorum_up/quorum_down.
	QuorumUp, QuorumDown script.Command
	// SorryServer, when set, takes every new flow while the service's quorum
	// is lost (keepalived's sorry_server); nil: new flows are dropped then.
	SorryServer *SorryServer
	Reals       []RealServer
}

// SorryServer is a Service's backend of last resort. It is not checked (as in
// keepalived) and, in DR, must be on the segment like a real server.
type SorryServer struct {
	IP   netip.Addr
	Port uint16 // kept for display: DR does not change ports
	// Inhibit (sorry_server_inhibit): while quorum holds the sorry server is
	// drained (weight 0, its flows stay) instead of removed (they re-pick).
	Inhibit bool
}

// RealServer is one backend of a Service.
type RealServer struct {
	IP     netip.Addr
	Port   uint16 // in DR mode the backend must listen on the service port; kept for checks and display
	Weight uint16 // 0 = drained: keeps its flows, gets no new ones
	// InhibitOnFailure: a failed server is drained (weight 0, flows stay)
	// instead of removed (its flows re-pick).
	InhibitOnFailure bool
	Check            *Check // nil: always up, as keepalived does without a checker
	// NotifyUp and NotifyDown run (no shell, as their own user or
	// script_user) when the check marks the server up or down, as
	// keepalived's notify_up/notify_down.
	NotifyUp   script.Command
	NotifyDown script.Command
	// MAC, when set, is the server's MAC address: used as is, never
	// resolved nor replaced by what the network answers.
	MAC net.HardwareAddr
}

// Check describes the health check of one real server. Timing follows keepalived.
type Check struct {
	Kind CheckKind
	// Interval between check rounds (keepalived's delay_loop, inherited from the service).
	Interval time.Duration
	// ConnectTimeout bounds one attempt (connect, or the whole HTTP/MySQL exchange).
	ConnectTimeout time.Duration
	// Retry: a failed attempt is retried this many times, DelayBeforeRetry apart,
	// before the round counts as failed (keepalived's retry, alias nb_get_retry).
	Retry            int
	DelayBeforeRetry time.Duration
	// Rise consecutive passed rounds mark a down server up; Fall consecutive
	// failed rounds mark an up server down.
	Rise int
	Fall int
	// ConnectIP and ConnectPort: where to check; the real server's IP and port when unset.
	ConnectIP   netip.Addr
	ConnectPort uint16
	MySQL       *MySQLCheck // set iff Kind == CheckMySQL
	Exec        *ExecCheck  // set iff Kind == CheckExec
	HTTP        *HTTPCheck  // set iff Kind == CheckHTTP
	DNS         *DNSCheck   // set iff Kind == CheckDNS
	SMTP        *SMTPCheck  // set iff Kind == CheckSMTP
	UDP         *UDPCheck   // set iff Kind == CheckUDP
	File        *FileCheck  // set iff Kind == CheckFile
}

// FileCheck is keepalived's FILE_CHECK: a track_file's number decides (with
// Weight 0, non-zero is down; otherwise value x Weight is added to the real
// server's weight). Path is absolute.
type FileCheck struct {
	Path    string
	Weight  int  // the FILE_CHECK's weight, else the track_file's (default 1)
	Reverse bool // weight W reverse
}

// DNSCheck is keepalived's DNS_CHECK: one UDP query, NOERROR passes.
type DNSCheck struct {
	Type string // A NS CNAME SOA MX TXT AAAA RRSIG DNSKEY; default SOA
	Name string // default "" (the root), as keepalived
}

// SMTPCheck is keepalived's SMTP_CHECK: greeting 220, HELO 250, QUIT.
type SMTPCheck struct {
	HeloName string // default keepalived's smtpchecker.keepalived.org
}

// UDPCheck is keepalived's UDP_CHECK: send Payload; an ICMP unreachable is
// down; with RequireReply silence is down too and Reply, when set, must
// match the start of the answer (x in its hex text is a wildcard nibble).
type UDPCheck struct {
	Payload      string // hex, as keepalived's payload
	RequireReply bool
	Reply        string // hex with x wildcards, as keepalived's require_reply
	MinReplyLen  int    // default 0
	MaxReplyLen  int    // default 255
}

// MySQLCheck is a full handshake, login, cheap query and clean quit.
type MySQLCheck struct {
	User     string
	Password secret.Secret
	// PasswordFile, when set, holds the password (first line); read at check
	// time by Credentials so that rotating it needs no reload. Relative paths
	// are resolved against the config file's directory at load time.
	PasswordFile string
	// ReplicationCheck requires both replication threads to run.
	ReplicationCheck bool
	// MaxReplicationLag > 0 marks the server down above this lag (NULL lag = down).
	MaxReplicationLag time.Duration
	// ReadOnly, when set, requires the server's read_only to equal it.
	ReadOnly *bool
}

// ExecCheck runs a command: keepalived's MISC_CHECK.
type ExecCheck struct {
	Command []string // argv; Command[0] is the program
	Timeout time.Duration
	// Dynamic: exit 0 up, 1 down, 2..255 up with weight code-2 (misc_dynamic).
	Dynamic bool
	User    string // run as this user when set
	Group   string // and this group ("": User's primary group)
	// Secure refuses a script a non-root user could change when it runs as
	// root (global enable_script_security).
	Secure bool
}

// HTTPCheck is an HTTP GET whose status and body decide.
type HTTPCheck struct {
	Path        string
	StatusCodes []StatusRange // any range matching passes
	BodyRegex   string        // when set, the body must match (RE2 syntax)
	Host        string        // Host header when set (keepalived's virtualhost)
	// Digest is the MD5 of the body in hex (keepalived's digest, as genhash prints it).
	Digest string
	// SSL makes it keepalived's SSL_GET: HTTPS without certificate
	// verification, as keepalived.
	SSL bool
	SNI string // server name sent in the TLS handshake (enable_sni, sni_name); none when empty
	// More are the url blocks after the first, fetched in order after it;
	// every one must pass (keepalived's HTTP_GET with several urls).
	More []HTTPURL
}

// HTTPURL is a further url block of an HTTP check.
type HTTPURL struct {
	Path        string
	StatusCodes []StatusRange // default 200-299
	BodyRegex   string
	Host        string // the url's virtualhost; the check's Host when empty
	Digest      string
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Min, Max int }

// VRRPInstance is one VRRP virtual router: the vrrp package's own Config,
// complete (every default applied here, in defaults.go), which the daemon
// runs as it is, plus what only the config and the daemon use.
type VRRPInstance struct {
	vrrp.Config
	// AuthType as written or implied (pass when auth_pass is set); the
	// instance authenticates exactly when Config.AuthPass is set.
	AuthType AuthType
	// TrackServices names services (Service.Name); while any has no usable
	// backend (usable weight sum < Quorum) this director advertises
	// Priority - NoBackendPriorityDrop (at least 1), so it gives the VIP away.
	TrackServices         []string
	NoBackendPriorityDrop uint8
}
