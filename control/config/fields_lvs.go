package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"xlb/lb"
)

// The LVS side's rows: virtual_server (native: an item of services), its
// sorry_server, real_server (reals), the check keywords every checker takes
// and each check kind's own. The block structure (headers, real_server and
// check blocks, url blocks, defaults given above a check, track_file) is
// keepalived.go's and yaml.go's; a keyword is a row here.

var serviceFields = []field[Service]{
	{key: "name", val: func(s *Service) value { return strValue{&s.Name} },
		def: "`VIP:PORT/proto`, e.g. `192.168.1.30:3306/tcp`, `[fd00:1::30]:3306/tcp`", doc: "unique"},
	{arg: "`virtual_server IP PORT`", key: "vip", show: true, val: func(s *Service) value { return addrValue{&s.VIP, parseAddr} },
		def: "required", doc: "IPv4 or IPv6 (`virtual_server fd00:1::30 3306`); not loopback, multicast, unspecified, broadcast, nor IPv6 link-local"},
	{arg: "`virtual_server IP PORT`", key: "port", show: true, val: func(s *Service) value { return intRange(&s.Port, 1, 65535) },
		def: "required", doc: "1..65535"},
	{ka: []string{"protocol"}, key: "protocol", show: true, init: DefaultProtocol.String(), val: func(s *Service) value { return textValue[lb.Protocol]{&s.Protocol, parseProtocol, lb.Protocol.String} },
		def: "tcp (keepalived.conf: udp, warned, as keepalived)", doc: "TCP or UDP (SCTP: error); VIP, port and protocol are unique"},
	{ka: []string{"lvs_sched", "lb_algo"}, key: "scheduler", show: true, init: string(DefaultScheduler), val: func(s *Service) value {
		return textValue[Scheduler]{&s.Scheduler, parseScheduler, fmtString[Scheduler]}
	},
		def: "wlc (ipvsadm's)", doc: "see the table above"},
	{ka: []string{"persistence_timeout"}, key: "persistence_timeout", val: func(s *Service) value {
		return bareDur{durValue{&s.PersistenceTimeout}, strconv.Itoa(int(DefaultBarePersistenceTimeout.Seconds()))}
	}, def: "0; bare keyword: 360 s, as keepalived", doc: "> 0: source-IP affinity"},
	{ka: []string{"persistence_granularity"}, val: func(*Service) value { return textValue[struct{}]{new(struct{}), parseGranularity, nil} },
		def: "255.255.255.255", doc: "anything coarser is an error: affinity is per client address (IPv6: 128)"},
	{ka: []string{"lvs_method", "lb_kind"}, key: "method", show: true, init: string(DefaultMethod), val: func(s *Service) value { return textValue[Method]{&s.Method, parseMethod, fmtString[Method]} },
		def: "DR", doc: "NAT, TUN: error, xlb does DR only. Missing in a keepalived.conf: warning (keepalived would use NAT)"},
	{ka: []string{"delay_loop"}, key: "delay_loop", show: true, init: formatDuration(DefaultDelayLoop), val: func(s *Service) value { return durValue{&s.DelayLoop} },
		def: "60s", doc: "interval of the checks"},
	{ka: []string{"inhibit_on_failure"}, key: "inhibit_on_failure", val: func(s *Service) value { return boolValue{&s.InhibitOnFailure} },
		def: "off", doc: "default of the real servers'"},
	{ka: []string{"alpha"}, key: "alpha", val: func(s *Service) value { return boolValue{&s.Alpha} },
		def: "off", doc: "servers start down until a check passes"},
	{ka: []string{"quorum"}, key: "quorum", init: strconv.Itoa(DefaultQuorum), val: func(s *Service) value { return intRange(&s.Quorum, 1, 1<<32-1) },
		def: "1", doc: "usable weight below it = the service has no backend (VRRP `track_services`, sorry server)"},
	{ka: []string{"quorum_up"}, key: "quorum_up", val: func(s *Service) value { return commandValue{&s.QuorumUp} },
		def: "none", doc: "`quorum_up SCRIPT [USER [GROUP]]` (see Scripts): run when the service gains its quorum (env `XLB_SERVER` = service name, `XLB_STATE` = UP)"},
	{ka: []string{"quorum_down"}, key: "quorum_down", val: func(s *Service) value { return commandValue{&s.QuorumDown} },
		def: "none", doc: "`quorum_down SCRIPT [USER [GROUP]]`: run when the service loses its quorum (`XLB_STATE` = DOWN), and at start when it starts without quorum and has a sorry server, as keepalived"},
	{ka: []string{"hysteresis"}, key: "hysteresis", val: func(s *Service) value { return intRange(&s.Hysteresis, 0, 1<<32-1) },
		def: "0", doc: "quorum is lost below `quorum - hysteresis` and regained at `quorum + hysteresis` (keepalived's)"},
	{ka: []string{"sorry_server"}, key: "sorry_server", val: func(s *Service) value { return sorryValue{&s.SorryServer} },
		def: "none", doc: "`sorry_server IP PORT` (native: `ip`, `port`, `inhibit`): takes every new flow while the active weight is below `quorum` " +
			"(the live real servers keep their flows but get no new ones, as keepalived removes them); on the segment like a real server, not checked"},
}

// sorryFields are a sorry_server's (native: the sorry_server mapping).
var sorryFields = []field[SorryServer]{
	{arg: "`sorry_server IP PORT`", key: "ip", show: true, val: func(s *SorryServer) value { return addrValue{&s.IP, parseAddr} }},
	{arg: "`sorry_server IP PORT`", key: "port", show: true, val: func(s *SorryServer) value { return intRange(&s.Port, 1, 65535) }},
	{ka: []string{"sorry_server_inhibit"}, key: "inhibit", val: func(s *SorryServer) value { return boolValue{&s.Inhibit} },
		def: "off", doc: "in the virtual_server: the sorry server is drained rather than removed while quorum holds"},
}

var realFields = []field[RealServer]{
	{arg: "`real_server IP [PORT]`", key: "ip", show: true, val: func(r *RealServer) value { return addrValue{&r.IP, parseAddr} },
		def: "required", doc: "the VIP's address family (as the `sorry_server`'s), unique (with port) in its service, not the VIP, not IPv6 link-local"},
	{arg: "`real_server IP PORT`", key: "port", val: func(r *RealServer) value { return intRange(&r.Port, 1, 65535) },
		def: "the service's", doc: "DR does not change ports: a different port is only checked (warning)"},
	{ka: []string{"weight"}, key: "weight", show: true, init: strconv.Itoa(DefaultWeight), val: func(r *RealServer) value { return intRange(&r.Weight, 0, 65535) },
		def: "1", doc: "0..65535; 0 = drained"},
	{ka: []string{"inhibit_on_failure"}, key: "inhibit_on_failure", val: func(r *RealServer) value { return boolValue{&r.InhibitOnFailure} },
		def: "the service's", doc: "a failed server is drained (its flows stay) instead of removed"},
	{key: "mac", val: func(r *RealServer) value {
		return textValue[net.HardwareAddr]{&r.MAC, parseMAC, net.HardwareAddr.String}
	},
		def: "resolved (neighbour table, ARP)", doc: "static unicast MAC, never resolved nor replaced; for a server that must not depend on ARP. " +
			"It holds for the address in every service; two different ones for one address are an error"},
	{ka: []string{"notify_up"}, key: "notify_up", val: func(r *RealServer) value { return commandValue{&r.NotifyUp} },
		def: "none", doc: "`notify_up SCRIPT [USER [GROUP]]` (see Scripts): run when the check marks the server up (not for the starting state); own process group, killed after 30 s"},
	{ka: []string{"notify_down"}, key: "notify_down", val: func(r *RealServer) value { return commandValue{&r.NotifyDown} },
		def: "none", doc: "`notify_down SCRIPT [USER [GROUP]]`: run when the check marks the server down"},
}

// checkFields are the keywords of every check kind (native: the check
// mapping). rise and fall are xlb's, read in keepalived.conf inside
// MYSQL_CHECK only (keepalived's checkers have none).
var checkFields = []field[Check]{
	{arg: "the check block: " + kaCheckNames(), key: "kind", show: true, val: func(c *Check) value { return textValue[CheckKind]{&c.Kind, parseCheckKind, fmtString[CheckKind]} },
		def: "mysql when the checked port is 3306, else tcp; a lone kind block (`mysql:`, `http:`, ...) sets it", doc: "one check per real server (a second is an error)"},
	{ka: []string{"delay_loop"}, key: "interval", val: func(c *Check) value { return durValue{&c.Interval} },
		def: "the service's delay_loop", doc: "> 0; in keepalived.conf also on the real_server"},
	{ka: []string{"connect_timeout"}, key: "connect_timeout", init: formatDuration(DefaultConnectTimeout), val: func(c *Check) value { return durValue{&c.ConnectTimeout} },
		def: "5s", doc: "bounds one attempt"},
	{ka: []string{"retry", "nb_get_retry"}, key: "retry", val: func(c *Check) value { return intRange(&c.Retry, 0, 1000) },
		def: "keepalived's per checker (health/kadefaults): 1; MISC_CHECK 0; DNS_CHECK 3",
		doc: "a failed attempt is retried this many times before the round fails (only while the server is up, as keepalived); " +
			"nb_get_retry only inside HTTP_GET/SSL_GET (elsewhere keepalived ignores it: warned, not applied)"},
	{ka: []string{"delay_before_retry"}, key: "delay_before_retry", val: func(c *Check) value { return durValue{&c.DelayBeforeRetry} },
		def: "keepalived's per checker: 1s; HTTP_GET 3s; DNS_CHECK the interval", doc: ""},
	{ka: []string{"rise"}, key: "rise", init: strconv.Itoa(DefaultRise), val: func(c *Check) value { return intRange(&c.Rise, 1, 1000) },
		def: "1", doc: "passed rounds in a row that mark a down server up (keepalived.conf: MYSQL_CHECK only)"},
	{ka: []string{"fall"}, key: "fall", init: strconv.Itoa(DefaultFall), val: func(c *Check) value { return intRange(&c.Fall, 1, 1000) },
		def: "1", doc: "failed rounds in a row that mark an up server down (keepalived.conf: MYSQL_CHECK only)"},
	{ka: []string{"connect_ip"}, key: "connect_ip", val: func(c *Check) value { return addrValue{&c.ConnectIP, parseAddr} },
		def: "the real server's", doc: "either family; not IPv6 link-local (keepalived wants bind_if for one, which xlb ignores)"},
	{ka: []string{"connect_port"}, key: "connect_port", val: func(c *Check) value { return intRange(&c.ConnectPort, 1, 65535) },
		def: "the real server's", doc: ""},
}

var mysqlFields = []field[MySQLCheck]{
	{ka: []string{"user"}, key: "user", show: true, val: func(m *MySQLCheck) value { return strValue{&m.User} },
		def: "required", doc: ""},
	{ka: []string{"password"}, key: "password", val: func(m *MySQLCheck) value { return secretValue{&m.Password} },
		def: "empty", doc: "or password_file, not both"},
	{ka: []string{"password_file"}, key: "password_file", val: func(m *MySQLCheck) value { return strValue{&m.PasswordFile} },
		def: "none", doc: "its first line, read at each check so a rotation needs no reload; relative to the config file's directory"},
	{ka: []string{"check_replication"}, key: "check_replication", val: func(m *MySQLCheck) value { return boolValue{&m.ReplicationCheck} },
		def: "off", doc: "both replication threads must run"},
	{ka: []string{"max_replication_lag"}, key: "max_replication_lag", val: func(m *MySQLCheck) value { return durValue{&m.MaxReplicationLag} },
		def: "0 (off)", doc: "down above this lag; a NULL lag is down"},
	{ka: []string{"read_only"}, key: "read_only", val: func(m *MySQLCheck) value { return optBool{&m.ReadOnly} },
		def: "not checked", doc: "`on|off`: the server's read_only must equal it"},
}

var execFields = []field[ExecCheck]{
	{ka: []string{"misc_path"}, key: "command", show: true, val: func(e *ExecCheck) value { return argvValue{&e.Command} },
		def: "required", doc: "`misc_path \"CMD ARGS\"`: only the first word or quoted string, as keepalived (words after an unquoted command are ignored with a warning); native: a list, or a string split into words"},
	{ka: []string{"misc_timeout"}, key: "timeout", val: func(e *ExecCheck) value { return durValue{&e.Timeout} },
		def: "the check's interval", doc: ""},
	{ka: []string{"misc_dynamic"}, key: "dynamic", val: func(e *ExecCheck) value { return boolValue{&e.Dynamic} },
		def: "off", doc: "exit 0 up, 1 down, 2..255 up with weight code-2"},
	{ka: []string{"user"}, key: "user", val: func(e *ExecCheck) value {
		return userValue{strValue{&e.User}, &e.Group}
	}, def: "global script_user", doc: "`user USER [GROUP]` (native: `user`, `group`)"},
	{key: "group", val: func(e *ExecCheck) value { return strValue{&e.Group} },
		def: "the user's primary group", doc: "with `user`"},
}

// urlFields are a url block's, as a urlView: HTTPCheck holds the first url
// block's fields itself (native: in the http mapping), HTTPURL each further one.
var urlFields = []field[urlView]{
	{ka: []string{"path"}, key: "path", show: true, init: DefaultHTTPPath, val: func(u *urlView) value { return strValue{u.path} },
		def: "/", doc: "must start with /"},
	{ka: []string{"status_code"}, key: "status_codes", init: DefaultStatusCodes[0].String(), val: func(u *urlView) value { return statusValue{u.codes} },
		def: "200-299", doc: "codes and ranges: `status_code 200 204-206`"},
	{ka: []string{"regex"}, key: "body_regex", val: func(u *urlView) value { return strValue{u.regex} },
		def: "none", doc: "RE2; the body must match"},
	{ka: []string{"virtualhost"}, key: "host", val: func(u *urlView) value { return strValue{u.host} },
		def: "none (the check's in a further url)", doc: "Host header; in keepalived.conf also in the check block"},
	{ka: []string{"digest"}, key: "digest", val: func(u *urlView) value { return strValue{u.digest} },
		def: "none", doc: "MD5 of the body, 32 hex digits as genhash prints them"},
}

type urlView struct {
	path                *string
	codes               *[]StatusRange
	regex, host, digest *string
}

func (h *HTTPCheck) firstURL() *urlView {
	return &urlView{&h.Path, &h.StatusCodes, &h.BodyRegex, &h.Host, &h.Digest}
}

func (u *HTTPURL) view() *urlView {
	return &urlView{&u.Path, &u.StatusCodes, &u.BodyRegex, &u.Host, &u.Digest}
}

// httpFields are HTTP_GET's and SSL_GET's own, beside the first url's.
var httpFields = []field[HTTPCheck]{
	{arg: "`SSL_GET`", key: "ssl", val: func(h *HTTPCheck) value { return boolValue{&h.SSL} },
		def: "off", doc: "HTTPS, the certificate not verified, as keepalived"},
	{ka: []string{"sni_name"}, key: "sni", val: func(h *HTTPCheck) value { return strValue{&h.SNI} },
		def: "none; `enable_sni`: the virtualhost", doc: "server name sent in the TLS handshake"},
}

var dnsFields = []field[DNSCheck]{
	{ka: []string{"type"}, key: "type", show: true, init: DefaultDNSType, val: func(d *DNSCheck) value { return strValue{&d.Type} },
		def: "SOA", doc: "A NS CNAME SOA MX TXT AAAA RRSIG DNSKEY; up on a reply with rcode NOERROR"},
	{ka: []string{"name"}, key: "name", show: true, val: func(d *DNSCheck) value { return strValue{&d.Name} },
		def: "the root", doc: ""},
}

var smtpFields = []field[SMTPCheck]{
	{ka: []string{"helo_name"}, key: "helo_name", show: true, init: DefaultHeloName, val: func(s *SMTPCheck) value { return strValue{&s.HeloName} },
		def: "smtpchecker.keepalived.org", doc: "greeting 220, HELO 250, QUIT"},
}

// fileFields: in keepalived.conf FILE_CHECK names a top-level track_file
// block (keepalived.go), which gives the path and a weight.
var fileFields = []field[FileCheck]{
	{arg: "`track_file NAME`: its `file`", key: "path", show: true, val: func(f *FileCheck) value { return strValue{&f.Path} },
		def: "required", doc: "relative: to the config file's directory; watched (inotify), a missing file reads as 0"},
	{ka: []string{"weight"}, key: "weight", show: true, init: "1", val: func(f *FileCheck) value { return fileWeight{intRange(&f.Weight, -(1<<31 - 1), 1<<31-1), &f.Reverse} },
		def: "the track_file's, else 1", doc: "`weight W [reverse]`; 0: a non-zero value in the file is down (reverse: zero is); " +
			"otherwise value x weight is added to the real server's weight, floored at 0"},
	{key: "reverse", val: func(f *FileCheck) value { return boolValue{&f.Reverse} },
		def: "off", doc: "`weight W reverse`"},
}

var udpFields = []field[UDPCheck]{
	{ka: []string{"payload"}, key: "payload", val: func(u *UDPCheck) value { return hexWords{strValue{&u.Payload}} },
		def: "none", doc: "hex bytes"},
	{ka: []string{"require_reply"}, key: "require_reply", val: func(u *UDPCheck) value { return requireReply{boolValue{&u.RequireReply}, &u.Reply} },
		def: "off", doc: "`require_reply [HEX]`: a reply must come (an ICMP unreachable is always down)"},
	{arg: "`require_reply HEX`", key: "reply", val: func(u *UDPCheck) value { return strValue{&u.Reply} },
		def: "any", doc: "the reply's start, `x` a wildcard nibble"},
	{ka: []string{"min_reply_length"}, key: "min_reply_length", val: func(u *UDPCheck) value { return intRange(&u.MinReplyLen, 0, 65535) },
		def: "0", doc: ""},
	{ka: []string{"max_reply_length"}, key: "max_reply_length", init: strconv.Itoa(DefaultMaxReplyLen), val: func(u *UDPCheck) value { return intRange(&u.MaxReplyLen, 0, 65535) },
		def: "255", doc: ""},
}

// checkKinds are the check kinds in the order messages list them: their
// keepalived blocks and their own settings.
var checkKinds = []checkKind{
	{CheckTCP, []string{"TCP_CHECK"}, nil},
	{CheckMySQL, []string{"MYSQL_CHECK"}, kindRows[MySQLCheck]{"mysql", func(c *Check) **MySQLCheck { return &c.MySQL }, mysqlFields}},
	{CheckExec, []string{"MISC_CHECK"}, kindRows[ExecCheck]{"exec", func(c *Check) **ExecCheck { return &c.Exec }, execFields}},
	{CheckHTTP, []string{"HTTP_GET", "SSL_GET"}, httpBlock{}},
	{CheckDNS, []string{"DNS_CHECK"}, kindRows[DNSCheck]{"dns", func(c *Check) **DNSCheck { return &c.DNS }, dnsFields}},
	{CheckSMTP, []string{"SMTP_CHECK"}, kindRows[SMTPCheck]{"smtp", func(c *Check) **SMTPCheck { return &c.SMTP }, smtpFields}},
	{CheckPing, []string{"PING_CHECK"}, nil},
	{CheckUDP, []string{"UDP_CHECK"}, kindRows[UDPCheck]{"udp", func(c *Check) **UDPCheck { return &c.UDP }, udpFields}},
	{CheckFile, []string{"FILE_CHECK"}, kindRows[FileCheck]{"file", func(c *Check) **FileCheck { return &c.File }, fileFields}},
}

type checkKind struct {
	kind  CheckKind
	ka    []string   // keepalived's block names, its own first
	block checkBlock // the kind's own settings; nil: none
}

// checkBlock is one kind's own settings: a mapping under its key in YAML,
// keywords beside the common ones in keepalived's block.
type checkBlock interface {
	key() string
	isSet(c *Check) bool
	ensure(c *Check) // allocates the settings (empty)
	defaults(c *Check, src *srcMap, path string)
	readKA(k *kreader, s *stmt, ctx, path string, c *Check) bool
	readYAML(y *yreader, f yfield, ctx, path string, c *Check)
	node(c, def *Check) *yaml.Node
	table() string
}

// kindOf returns the kind's row; nil for an unknown kind.
func kindOf(k CheckKind) *checkKind {
	for i := range checkKinds {
		if checkKinds[i].kind == k {
			return &checkKinds[i]
		}
	}
	return nil
}

// kindNamed returns the row of a keepalived check block; nil for another keyword.
func kindNamed(block string) *checkKind {
	for i := range checkKinds {
		for _, n := range checkKinds[i].ka {
			if n == block {
				return &checkKinds[i]
			}
		}
	}
	return nil
}

// Keepalived names the keepalived checker of kind k ("" for none).
func (k CheckKind) Keepalived() string {
	if kd := kindOf(k); kd != nil {
		return kd.ka[0]
	}
	return ""
}

func kaCheckNames() string {
	var names []string
	for _, kd := range checkKinds {
		for _, n := range kd.ka {
			names = append(names, "`"+n+"`")
		}
	}
	return strings.Join(names, " ")
}

// kindRows is a kind whose settings are a struct of their own, one row each.
type kindRows[T any] struct {
	name string
	get  func(*Check) **T
	rows []field[T]
}

func (b kindRows[T]) key() string         { return b.name }
func (b kindRows[T]) isSet(c *Check) bool { return *b.get(c) != nil }
func (b kindRows[T]) ensure(c *Check) {
	if p := b.get(c); *p == nil {
		*p = new(T)
	}
}
func (b kindRows[T]) defaults(c *Check, src *srcMap, path string) {
	rowDefaults(b.rows, *b.get(c), src, path+"."+b.name)
}
func (b kindRows[T]) readKA(k *kreader, s *stmt, ctx, path string, c *Check) bool {
	return readRow(k, b.rows, s, ctx, path+"."+b.name, *b.get(c))
}
func (b kindRows[T]) readYAML(y *yreader, f yfield, ctx, path string, c *Check) {
	t := new(T)
	*b.get(c) = t
	y.src.field(path, b.name, y.p(f.key), b.name)
	ctx += ": " + b.name
	y.fields(f.val, ctx, yamlHandlers(y, b.rows, ctx, path+"."+b.name, t, nil))
}
func (b kindRows[T]) node(c, def *Check) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	marshalRows(m, b.rows, *b.get(c), *b.get(def))
	return m
}
func (b kindRows[T]) table() string { return keywordTable(b.rows, nil) }

// httpBlock is HTTP_GET's and SSL_GET's settings: the first url block's,
// httpFields, and the further url blocks (urls).
type httpBlock struct{}

func (httpBlock) key() string         { return "http" }
func (httpBlock) isSet(c *Check) bool { return c.HTTP != nil }
func (httpBlock) ensure(c *Check) {
	if c.HTTP == nil {
		c.HTTP = &HTTPCheck{}
	}
}
func (httpBlock) defaults(c *Check, src *srcMap, path string) {
	rowDefaults(urlFields, c.HTTP.firstURL(), src, path+".http")
	rowDefaults(httpFields, c.HTTP, src, path+".http")
	for i := range c.HTTP.More {
		if u := &c.HTTP.More[i]; len(u.StatusCodes) == 0 {
			u.StatusCodes = append([]StatusRange(nil), DefaultStatusCodes...)
		}
	}
}
func (httpBlock) readKA(k *kreader, s *stmt, ctx, path string, c *Check) bool {
	return readRow(k, httpFields, s, ctx, path+".http", c.HTTP)
}
func (httpBlock) readYAML(y *yreader, f yfield, ctx, path string, c *Check) {
	h := &HTTPCheck{}
	c.HTTP = h
	y.src.field(path, "http", y.p(f.key), "http")
	ctx += ": http"
	hpath := path + ".http"
	y.fields(f.val, ctx, yamlHandlers(y, urlFields, ctx, hpath, h.firstURL(), yamlHandlers(y, httpFields, ctx, hpath, h, map[string]func(yfield){
		"urls": func(g yfield) {
			for i, un := range y.seq(g, ctx) {
				upath := fmt.Sprintf("%s.urls[%d]", hpath, i)
				uctx := fmt.Sprintf("%s: urls[%d]", ctx, i)
				y.src.object(upath, y.p(un), uctx)
				var u HTTPURL
				y.fields(un, uctx, yamlHandlers(y, urlFields, uctx, upath, u.view(), nil))
				h.More = append(h.More, u)
			}
		},
	})))
}
func (httpBlock) node(c, def *Check) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	marshalRows(m, urlFields, c.HTTP.firstURL(), def.HTTP.firstURL())
	marshalRows(m, httpFields, c.HTTP, def.HTTP)
	if len(c.HTTP.More) > 0 {
		urls := &yaml.Node{Kind: yaml.SequenceNode}
		udef := HTTPURL{StatusCodes: DefaultStatusCodes}
		for i := range c.HTTP.More {
			un := &yaml.Node{Kind: yaml.MappingNode}
			marshalRows(un, urlFields, c.HTTP.More[i].view(), udef.view())
			urls.Content = append(urls.Content, un)
		}
		addNode(m, "urls", urls)
	}
	return m
}
func (httpBlock) table() string {
	return keywordTable(httpFields, nil) + "\nIn each `url { }` block:\n\n" + keywordTable(urlFields, ignoredURL)
}

func fmtString[T ~string](x T) string { return string(x) }

func parseScheduler(s string, _ bool) (Scheduler, error) { return Scheduler(strings.ToLower(s)), nil }

func parseProtocol(s string, native bool) (lb.Protocol, error) {
	if p, ok := lb.ParseProtocol(s); ok {
		return p, nil
	}
	if native {
		return 0, fmt.Errorf("%q is not tcp or udp", s)
	}
	return 0, unsupported(fmt.Sprintf("%q is not supported (TCP or UDP)", s))
}

func parseMethod(s string, native bool) (Method, error) {
	switch strings.ToUpper(s) {
	case "DR":
		return MethodDR, nil
	case "NAT", "TUN":
		return "", unsupported(s + " is not supported: xlb does DR (direct routing) only")
	}
	dr := "DR"
	if native {
		dr = "dr"
	}
	return "", fmt.Errorf("%q is not a forwarding method (xlb does %s, direct routing)", s, dr)
}

func parseGranularity(s string, _ bool) (struct{}, error) {
	// keepalived's pgr_handler: a netmask for IPv4, a prefix length
	// 1..128 for IPv6; per address is 255.255.255.255 or 128.
	if s != "255.255.255.255" && s != "32" && s != "128" {
		return struct{}{}, unsupported(fmt.Sprintf("%q is not supported: affinity is per client address (255.255.255.255; 128 for IPv6)", s))
	}
	return struct{}{}, nil
}

func parseMAC(s string, _ bool) (net.HardwareAddr, error) { return parseUnicastMAC(s) }

func parseCheckKind(s string, _ bool) (CheckKind, error) {
	k := CheckKind(strings.ToLower(s))
	names := make([]string, len(checkKinds))
	for i, kd := range checkKinds {
		if kd.kind == k {
			return k, nil
		}
		names[i] = string(kd.kind)
	}
	return "", fmt.Errorf("%q is not %s or %s", s, strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
}

// unsupported is a parse error that means "xlb does not do this" (ErrUnsupported).
type unsupported string

func (e unsupported) Error() string        { return string(e) }
func (e unsupported) Is(target error) bool { return target == ErrUnsupported }

// sorryValue is the sorry server: `sorry_server IP PORT`, or a mapping of sorryFields.
type sorryValue struct{ p **SorryServer }

func (v sorryValue) set(string, bool) error { return nil }
func (v sorryValue) flag() bool             { return false }
func (v sorryValue) get() any               { return *v.p }
func (v sorryValue) node() *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	marshalRows(m, sorryFields, *v.p, &SorryServer{})
	return m
}
func (v sorryValue) readKA(k *kreader, s *stmt, ctx, path, key string) bool {
	path += "." + key
	if len(s.args) != 2 || len(s.block) > 0 {
		k.d.err(s.line(), ctx, s.key.text, ErrSyntax, "wants IP PORT")
		return false
	}
	var ss SorryServer
	var err error
	if ss.IP, err = parseAddr(s.args[0].text); err != nil {
		k.d.err(s.line(), ctx, s.key.text, ErrInvalid, "%v", err)
		return false
	}
	if ss.Port, err = parsePort(s.args[1].text); err != nil {
		k.d.err(s.line(), ctx, s.key.text, ErrInvalid, "port %v", err)
		return false
	}
	k.src.object(path, s.line(), ctx)
	k.src.field(path, "ip", s.line(), s.key.text)
	k.src.field(path, "port", s.line(), s.key.text)
	*v.p = &ss
	return true
}
func (v sorryValue) readYAML(y *yreader, f yfield, ctx, path, key string) {
	ss := &SorryServer{}
	*v.p = ss
	path += "." + key
	ctx += ": " + key
	y.src.object(path, y.p(f.val), ctx)
	if !y.fields(f.val, ctx, yamlHandlers(y, sorryFields, ctx, path, ss, nil)) {
		y.src.badObject(path, y.p(f.val))
	}
}

// fileWeight is FILE_CHECK's `weight W [reverse]`.
type fileWeight struct {
	value
	reverse *bool
}

func (v fileWeight) readKA(k *kreader, s *stmt, ctx, path, key string) bool {
	w, rev, ok := k.fileWeight(s, ctx)
	if ok {
		_ = v.set(strconv.Itoa(w), false)
		*v.reverse = rev
		k.src.field(path, key, s.line(), s.key.text)
	}
	return ok
}

// hexWords is UDP_CHECK's payload: hex bytes, in keepalived.conf as one or
// more words.
type hexWords struct{ strValue }

func (v hexWords) readKA(k *kreader, s *stmt, ctx, path, key string) bool {
	x, ok := joinArgs(k, s, ctx)
	if ok && x == "" {
		k.d.err(s.line(), ctx, s.key.text, ErrSyntax, "wants hex bytes")
		return false
	}
	if ok {
		*v.p = x
		k.src.field(path, key, s.line(), s.key.text)
	}
	return ok
}

// requireReply is UDP_CHECK's `require_reply [HEX]`: in keepalived.conf
// it sets the reply too.
type requireReply struct {
	boolValue
	reply *string
}

func (v requireReply) readKA(k *kreader, s *stmt, ctx, path, key string) bool {
	x, ok := joinArgs(k, s, ctx)
	if ok {
		*v.p, *v.reply = true, x
		k.src.field(path, key, s.line(), s.key.text)
		if x != "" {
			k.src.field(path, "reply", s.line(), s.key.text)
		}
	}
	return ok
}

func joinArgs(k *kreader, s *stmt, ctx string) (string, bool) {
	if !k.noBlock(s, ctx) {
		return "", false
	}
	parts := make([]string, len(s.args))
	for i, a := range s.args {
		parts[i] = a.text
	}
	return strings.Join(parts, " "), true
}
