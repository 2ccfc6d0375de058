package config

import (
	"slices"
	"strings"
	"testing"

	"xlb/lb"
)

// ka prefixes a keepalived.conf body with a one-line global_defs naming the
// interface, so the body's first line is line 2.
func ka(body string) string { return "global_defs { xlb_interface eth0 }\n" + body }

const vrrpOK = `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        10.0.0.100
    }
`

func TestInvalidFiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  string
		in    string
		want  []string
		warns []string // nil: not checked
	}{
		{
			name: "weight not an integer",
			in: ka(`virtual_server 192.168.1.30 3306 {
    lvs_method DR
    real_server 192.168.1.10 3306 {
        weight x
    }
}
`),
			want: []string{`t.conf:5: real_server 192.168.1.10 3306: weight: "x" is not an integer`},
		},
		{
			name: "weight out of range",
			in:   ka("virtual_server 10.0.0.1 80 {\n lvs_method DR\n real_server 10.0.0.2 80 {\n  weight 70000\n }\n}\n"),
			want: []string{`t.conf:5: real_server 10.0.0.2 80: weight: 70000 is out of range 0..65535`},
		},
		{
			name: "NAT TUN and unknown methods, every error collected",
			in: ka(`virtual_server 10.0.0.1 80 {
    lvs_method NAT
}
virtual_server 10.0.0.1 81 {
    lb_kind TUN
}
virtual_server 10.0.0.1 82 {
    lb_kind FOO
}
`),
			want: []string{
				"t.conf:3: virtual_server 10.0.0.1 80: lvs_method: NAT is not supported: xlb does DR (direct routing) only",
				"t.conf:6: virtual_server 10.0.0.1 81: lb_kind: TUN is not supported: xlb does DR (direct routing) only",
				`t.conf:9: virtual_server 10.0.0.1 82: lb_kind: "FOO" is not a forwarding method (xlb does DR, direct routing)`,
			},
		},
		{
			name: "fwmark and group virtual servers",
			in:   ka("virtual_server fwmark 1 {\n}\nvirtual_server group G {\n}\nvirtual_server 10.0.0.1 {\n}\n"),
			want: []string{
				"t.conf:2: virtual_server fwmark 1: virtual_server fwmark is " + fwmarkWhy,
				`t.conf:4: virtual_server group G: virtual_server_group "G" is not defined`,
				"t.conf:6: virtual_server 10.0.0.1: wants IP PORT",
			},
		},
		{
			name: "unknown and unsupported keywords at every level",
			in: ka(vrrpOK + `    track_script {
        chk
    }
    nopreemt
}
virtual_server 10.0.0.1 80 {
    lvs_method DR
    persistence_granularity 255.255.255.0
    real_server 10.0.0.2 80 {
        BFD_CHECK {
        }
        uthreshold 10
        TCP_CHECK {
            connect_tmeout 3
        }
        MISC_CHECK {
            misc_path /bin/true
        }
    }
}
garp_group {
    garp_intervall 1 }
virtual_sever 10.0.0.1 80 {
}
`),
			want: []string{
				"t.conf:11: vrrp_instance VI_1: nopreemt: unknown keyword",
				`t.conf:15: virtual_server 10.0.0.1 80: persistence_granularity: "255.255.255.0" is not supported: affinity is per client address (255.255.255.255; 128 for IPv6)`,
				"t.conf:17: real_server 10.0.0.2 80: BFD_CHECK: not supported: use TCP_CHECK or MISC_CHECK",
				"t.conf:21: real_server 10.0.0.2 80: TCP_CHECK: connect_tmeout: unknown keyword",
				"t.conf:23: real_server 10.0.0.2 80: MISC_CHECK: a second check: xlb runs one check per real server (first at line 20)",
				"t.conf:29: garp_group: garp_intervall: unknown keyword",
				"t.conf:30: virtual_sever: unknown keyword",
			},
		},
		{
			name: "vrrp ranges",
			in: ka(`vrrp_instance A {
    interface eth0
    virtual_router_id 256
    priority 0
    advert_int fast
    version 4
    virtual_ipaddress {
        10.0.0.300
        10.0.0.1 dev eth0 foo bar
    }
    unicast_src_ip ::1x
}
`),
			want: []string{
				"t.conf:4: vrrp_instance A: virtual_router_id: 256 is out of range 1..255",
				"t.conf:5: vrrp_instance A: priority: 0 is out of range 1..255",
				`t.conf:6: vrrp_instance A: advert_int: "fast" is not a number of seconds`,
				"t.conf:7: vrrp_instance A: version: 4 is out of range 2..3",
				`t.conf:9: vrrp_instance A: virtual_ipaddress: "10.0.0.300" is not an address or address/length`,
				`t.conf:10: vrrp_instance A: virtual_ipaddress: "foo" is not supported on an address line (dev, label, brd, scope, preferred_lft, no_track are)`,
				`t.conf:12: vrrp_instance A: unicast_src_ip: "::1x" is not an IP address`,
			},
		},
		{
			name: "vrrp consistency",
			in: ka(`vrrp_instance A {
    interface eth0
    advert_int 0.5
    authentication {
        auth_type AH
    }
}
vrrp_instance B {
    interface eth0
    virtual_router_id 5
    version 3
    advert_int 0.005
    authentication {
        auth_type PASS
        auth_pass x
    }
    virtual_ipaddress {
        10.0.0.1
    }
}
vrrp_instance C {
    interface eth0
    virtual_router_id 5
    version 3
    advert_int 50
    virtual_ipaddress {
        10.0.0.1/24
    }
}
vrrp_instance C {
    interface an-interface-name-too-long
    virtual_router_id 6
    virtual_ipaddress {
        10.0.0.2
    }
}
`),
			want: []string{
				"t.conf:2: vrrp_instance A: virtual_router_id: required (1..255)",
				"t.conf:2: vrrp_instance A: virtual_ipaddress: no address: at least one is required",
				"t.conf:4: vrrp_instance A: advert_int: 500ms: VRRPv2 wants whole seconds from 1 to 255 (use version 3 for less)",
				"t.conf:6: vrrp_instance A: authentication: auth_type: AH is not supported (use PASS, or none)",
				"t.conf:13: vrrp_instance B: advert_int: 5ms: VRRPv3 wants 0.01 to 40.95 seconds in steps of 0.01",
				"t.conf:15: vrrp_instance B: auth_type: authentication is only for version 2 (VRRPv3 has none)",
				"t.conf:24: vrrp_instance C: virtual_router_id: VRID 5 is used twice on eth0 (first at line 9)",
				"t.conf:26: vrrp_instance C: advert_int: 50s: VRRPv3 wants 0.01 to 40.95 seconds in steps of 0.01",
				"t.conf:28: vrrp_instance C: virtual_ipaddress: 10.0.0.1 is given twice (first at line 19)",
				`t.conf:31: vrrp_instance C: vrrp_instance: instance name "C" is used twice (first at line 22)`,
				`t.conf:32: vrrp_instance C: interface: interface name "an-interface-name-too-long" is longer than 15 characters`,
				`t.conf:35: vrrp_instance C: virtual_ipaddress: dev: interface name "an-interface-name-too-long" is longer than 15 characters`,
			},
		},
		{
			name: "services: duplicates, scheduler, protocol, addresses",
			in: ka(`virtual_server 10.0.0.1 80 {
    lvs_method DR
    lvs_sched lblc
    protocol SCTP
    real_server 10.0.0.2 80 {
    }
    real_server 10.0.0.2 80 {
    }
    real_server 10.0.0.1 80 {
    }
    real_server 10.0.0.x 80 {
    }
}
virtual_server 10.0.0.1 80 {
    protocol TCP
}
virtual_server 10.0.0.1 0 {
    lvs_method DR
}
virtual_server 2001:db8::1 80 {
    lvs_method DR
    real_server 10.0.0.2 80 {
    }
    real_server fe80::2 80 {
    }
    real_server 2001:db8::2 80 {
    }
    sorry_server 10.0.0.9 80
}
virtual_server fe80::1 80 {
    lvs_method DR
}
virtual_server ff02::1 80 {
    lvs_method DR
}
virtual_server :: 80 {
    lvs_method DR
}
virtual_server ::1 80 {
    lvs_method DR
}
virtual_server 2001:0db8::0001 80 {
    lvs_method DR
}
`),
			want: []string{
				`t.conf:4: virtual_server 10.0.0.1 80: lvs_sched: "lblc" is not supported (rr, wrr, lc, wlc, sed, nq: weighted Maglev; sh, mh: source-IP affinity; fo: failover)`,
				`t.conf:5: virtual_server 10.0.0.1 80: protocol: "SCTP" is not supported (TCP or UDP)`,
				"t.conf:8: real_server 10.0.0.2 80: real server 10.0.0.2:80 is listed twice in this service (first at line 6)",
				"t.conf:10: real_server 10.0.0.1 80: 10.0.0.1 is the VIP itself",
				`t.conf:12: real_server 10.0.0.x 80: "10.0.0.x" is not an IP address`,
				"t.conf:15: virtual_server 10.0.0.1 80: 10.0.0.1:80/tcp is defined twice (first at line 2)",
				"t.conf:18: virtual_server 10.0.0.1 0: port 0 is out of range 1..65535",
				"t.conf:23: real_server 10.0.0.2 80: real_server: real server 10.0.0.2 is IPv4, the VIP 2001:db8::1 is IPv6: a service and its real servers are one address family (direct routing forwards the client's packet unchanged); write a virtual_server per family",
				"t.conf:25: real_server fe80::2 80: real_server: fe80::2 is a link-local address: its checks would need an interface zone; give the real server a global or unique local address on the director's segment",
				"t.conf:29: virtual_server 2001:db8::1 80: sorry_server: sorry server 10.0.0.9 is IPv4, the VIP 2001:db8::1 is IPv6: a service and its real servers are one address family (direct routing forwards the client's packet unchanged); write a virtual_server per family",
				"t.conf:31: virtual_server fe80::1 80: virtual_server: fe80::1 is a link-local address: only hosts on one segment reach it, and a routed client never can; use a global or unique local (fd00::/8) address",
				"t.conf:34: virtual_server ff02::1 80: virtual_server: ff02::1 is a multicast address: no client packet can reach it",
				"t.conf:37: virtual_server :: 80: virtual_server: :: is the unspecified address: no client packet can reach it",
				"t.conf:40: virtual_server ::1 80: virtual_server: ::1 is a loopback address: no client packet can reach it",
				"t.conf:43: virtual_server 2001:0db8::0001 80: [2001:db8::1]:80/udp is defined twice (first at line 21)",
			},
		},
		{
			name: "checks",
			in: ka(`virtual_server 10.0.0.1 3306 {
    lvs_method DR
    delay_loop 0
    real_server 10.0.0.2 3306 {
        MYSQL_CHECK {
            password a
            password_file /etc/p
            read_only maybe
        }
    }
    real_server 10.0.0.3 3306 {
        MISC_CHECK {
            misc_dynamic
            misc_timeout 0
        }
    }
    real_server 10.0.0.4 3306 {
        HTTP_GET {
            url {
                path health
                status_code 200 700
                regex "(["
                digest 1234
            }
            url {
            }
            connect_timeout 0
        }
    }
}
`),
			want: []string{
				"t.conf:4: virtual_server 10.0.0.1 3306: delay_loop: must be more than 0",
				"t.conf:6: real_server 10.0.0.2 3306: MYSQL_CHECK: delay_loop: must be more than 0",
				"t.conf:6: real_server 10.0.0.2 3306: MYSQL_CHECK: user: required",
				"t.conf:8: real_server 10.0.0.2 3306: MYSQL_CHECK: password_file: give password or password_file, not both",
				`t.conf:9: real_server 10.0.0.2 3306: MYSQL_CHECK: read_only: "maybe" is not on/off (yes/no, true/false)`,
				"t.conf:13: real_server 10.0.0.3 3306: MISC_CHECK: delay_loop: must be more than 0",
				"t.conf:13: real_server 10.0.0.3 3306: MISC_CHECK: misc_path: required",
				"t.conf:15: real_server 10.0.0.3 3306: MISC_CHECK: misc_timeout: must be more than 0",
				"t.conf:19: real_server 10.0.0.4 3306: HTTP_GET: delay_loop: must be more than 0",
				`t.conf:21: real_server 10.0.0.4 3306: HTTP_GET: path: "health" does not start with /`,
				"t.conf:22: real_server 10.0.0.4 3306: HTTP_GET: url: status_code: status code 700 is out of range 100..599",
				"t.conf:23: real_server 10.0.0.4 3306: HTTP_GET: regex: error parsing regexp: missing closing ]: `[`",
				"t.conf:24: real_server 10.0.0.4 3306: HTTP_GET: digest: \"1234\": want the 32 hex digits of an MD5 (as genhash prints it)",
				"t.conf:26: real_server 10.0.0.4 3306: HTTP_GET: url: path: required (keepalived drops a url without a path)",
				"t.conf:28: real_server 10.0.0.4 3306: HTTP_GET: connect_timeout: must be more than 0",
			},
		},
		{
			name: "vrrp sub-blocks",
			in: ka(vrrpOK + `    track_interface {
        eth1 weight -10
    }
    unicast_peer {
        10.0.0.999
    }
    authentication {
        auth_type PASS
        auth_pass
        auth_key x
    }
    notify_master ""
    state PRIMARY
}
`),
			want: []string{
				"t.conf:9: vrrp_instance VI_1: track_interface: eth1: a weight on a tracked interface is not supported (a tracked interface going down means FAULT)",
				`t.conf:12: vrrp_instance VI_1: unicast_peer: "10.0.0.999" is not an IP address`,
				"t.conf:16: vrrp_instance VI_1: authentication: auth_pass: wants one value",
				"t.conf:17: vrrp_instance VI_1: authentication: auth_key: unknown keyword",
				"t.conf:19: vrrp_instance VI_1: notify_master: wants a command",
				`t.conf:20: vrrp_instance VI_1: state: "PRIMARY" is not MASTER or BACKUP`,
			},
		},
		{
			name: "syntax: unbalanced braces",
			in:   ka("vrrp_instance VI_1 {\n  interface eth0\n  authentication {\n    auth_type PASS\n}\n"),
			want: []string{"t.conf:2: block opened here has no closing }"},
		},
		{
			name: "syntax: stray brace and quote",
			in:   ka("}\nvrrp_instance VI_1 {\n  notify_master \"/bin/x\n}\n{\n}\n"),
			want: []string{
				"t.conf:2: unexpected }",
				"t.conf:4: unterminated quoted string",
				"t.conf:4: vrrp_instance VI_1: notify_master: wants a command",
				"t.conf:6: { without a keyword before it",
			},
		},
		{
			name: "statement shapes",
			in: ka(`vrrp_instance {
}
virtual_server 10.0.0.1 80
global_defs {
    router_id
}
`),
			want: []string{
				"t.conf:2: vrrp_instance: wants NAME",
				"t.conf:4: virtual_server: wants a { ... } block",
				"t.conf:6: global_defs: router_id: wants one value",
			},
		},
		{
			name: "control characters, invalid UTF-8, blanks in a label",
			in:   ka("! comment \xff\n# comment \x01\nvrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  10.0.0.1 label \"a b\"\n }\n}\n"),
			want: []string{
				"t.conf:2: line is not valid UTF-8",
				"t.conf:3: control character U+0001 in line",
				`t.conf:8: vrrp_instance V: virtual_ipaddress: label: "a b" is not an address label (at most 15 characters, no blanks)`,
			},
		},
		{
			name: "nothing configured",
			in:   "# only comments\n",
			want: []string{"t.conf: nothing configured: no virtual services and no VRRP instances"},
		},
		{
			name: "yaml: unknown fields, types and ranges with their lines",
			file: "t.yaml",
			in: `interfaces: [eth0, eth0]
services:
  - name: web
    vip: 10.0.0.1
    port: http
    schedular: rr
    method: nat
    delay_loop: 5 minutes
    reals:
      - ip: 10.0.0.2
        weight: -1
        check:
          kind: icmp
          retry: [1]
      - {ip: 10.0.0.3, check: {kind: tcp, mysql: {user: u}, exec: {command: []}}}
vrrp:
  - name: V
    interface: eth0
    vrid: 300
    vips: [10.0.0.1 brd 10.0.0.255, {address: 10.0.0.5, dev: eth0, color: red}]
    unicast_peers: [10.0.0.9]
    track_services: [web, db]
    auth_pass: x
    auth_type: pass
    auth_type: none
unknown_top: 1
`,
			want: []string{
				"t.yaml:1: interfaces: interface eth0 is listed twice (first at line 1)",
				`t.yaml:5: service "web": port: "http" is not an integer`,
				`t.yaml:6: service "web": schedular: unknown field`,
				`t.yaml:7: service "web": method: nat is not supported: xlb does DR (direct routing) only`,
				`t.yaml:8: service "web": delay_loop: "5 minutes" is not a duration (seconds, or e.g. 1.5s, 100ms)`,
				`t.yaml:11: real 10.0.0.2: weight: -1 is out of range 0..65535`,
				`t.yaml:13: real 10.0.0.2: check: kind: "icmp" is not tcp, mysql, exec, http, dns, smtp, ping, udp or file`,
				`t.yaml:14: real 10.0.0.2: check: retry: wants a single value`,
				"t.yaml:15: real 10.0.0.3: check: exec: command: wants a command",
				"t.yaml:15: real 10.0.0.3: check: mysql: settings given, but the check's kind is tcp",
				"t.yaml:15: real 10.0.0.3: check: exec: settings given, but the check's kind is tcp",
				`t.yaml:19: vrrp "V": vrid: 300 is out of range 1..255`,
				`t.yaml:20: vrrp "V": vips: "brd" is not supported here (dev, label, no_track are): ignored: changes nothing for a VIP`,
				`t.yaml:20: vrrp "V": vips: color: unknown field`,
				`t.yaml:22: vrrp "V": track_services: no service is named "db"`,
				`t.yaml:25: vrrp "V": auth_type: given twice (first at line 24)`,
				`t.yaml:26: unknown_top: unknown field`,
			},
		},
		{
			name: "yaml: validation after a clean read",
			file: "t.yaml",
			in: `interfaces: [eth0, eth0]
services:
  - name: web
    vip: 10.0.0.1
    port: 80
    reals:
      - {ip: 10.0.0.3, check: {kind: tcp, mysql: {user: u}, exec: {command: []}}}
      - {ip: 10.0.0.4, check: {kind: exec}}
vrrp:
  - name: V
    interface: eth0
    vrid: 3
    version: 3
    vips: [10.0.0.1]
    unicast_src_ip: 10.0.0.9
    unicast_peers: [10.0.0.9]
    track_services: [web, db]
    auth_pass: x
`,
			want: []string{
				"t.yaml:1: interfaces: interface eth0 is listed twice (first at line 1)",
				"t.yaml:7: real 10.0.0.3: check: exec: command: wants a command",
				"t.yaml:7: real 10.0.0.3: check: mysql: settings given, but the check's kind is tcp",
				"t.yaml:7: real 10.0.0.3: check: exec: settings given, but the check's kind is tcp",
				"t.yaml:8: real 10.0.0.4: check: exec.command: required",
				`t.yaml:10: vrrp "V": auth_type: authentication is only for version 2 (VRRPv3 has none)`,
				`t.yaml:16: vrrp "V": unicast_peers: 10.0.0.9 is this director's own unicast_src_ip`,
				`t.yaml:17: vrrp "V": track_services: no service is named "db"`,
			},
		},
		{
			name: "yaml: syntax error",
			file: "t.yaml",
			in:   "global:\n  router_id: r\nservices: vip: 10.0.0.1\n",
			want: []string{"t.yaml:3: mapping values are not allowed in this context"},
		},
		{
			name: "yaml: wrong shapes",
			file: "t.yaml",
			in:   "services: {vip: 1}\nvrrp:\n  - [1, 2]\nglobal: [x]\n",
			want: []string{
				"t.yaml:1: services: wants a list",
				"t.yaml:3: vrrp[0]: wants a mapping (key: value)",
				"t.yaml:4: global: wants a mapping (key: value)",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file
			if file == "" {
				file = "t.conf"
			}
			cfg, warns, err := Parse(file, []byte(tc.in), FormatAuto)
			if err == nil {
				t.Fatalf("no error; config %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("a config came back with the errors")
			}
			diffLines(t, "errors", errStrings(err), tc.want)
			if tc.warns != nil {
				diffLines(t, "warnings", warnStrings(warns), tc.warns)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{
			name: "ignored global and top-level keywords",
			in: `global_defs {
    router_id R
    notification_email {
        a@b
    }
    vrrp_strict
    some_future_keyword 1
}
vrrp_script chk {
    script /bin/true
}
linkbeat_interfaces {
    eth0
}
` + vrrpOK + "}\n",
			want: []string{
				"t.conf:3: global_defs: notification_email: ignored: not used by xlb",
				"t.conf:6: global_defs: vrrp_strict: strict RFC mode, as keepalived: PASS authentication is dropped, unicast peers are refused, " +
					"state MASTER needs priority 255, preempt_delay and lower-priority gratuitous ARPs are off",
				"t.conf:7: global_defs: some_future_keyword: ignored: not used by xlb",
				"t.conf:12: linkbeat_interfaces: ignored: xlb watches links through netlink",
			},
		},
		{
			name: "keepalived's VRRP traps",
			in: `vrrp_instance OWNER {
    interface eth0
    virtual_router_id 1
    priority 255
    nopreempt
    virtual_ipaddress {
        10.0.0.1/24 brd 10.0.0.255 dev eth0
    }
    smtp_alert
}
vrrp_instance M {
    state MASTER
    interface eth0
    virtual_router_id 2
    preempt_delay 5
    virtual_ipaddress {
        10.0.0.2
    }
}
vrrp_instance B {
    interface eth0
    virtual_router_id 3
    nopreempt
    preempt_delay 5
    virtual_ipaddress {
        10.0.0.3
    }
    unicast_peer {
        10.0.0.4 min_ttl 2
    }
}
`,
			want: []string{
				"t.conf:5: vrrp_instance OWNER: nopreempt: nopreempt is incompatible with priority 255 - resetting nopreempt (as keepalived: the address owner always takes the VIP)",
				"t.conf:7: vrrp_instance OWNER: virtual_ipaddress: brd: ignored: changes nothing for a VIP",
				"t.conf:9: vrrp_instance OWNER: smtp_alert: ignored: xlb sends no mail; use notify scripts",
				"t.conf:12: vrrp_instance M: state: state MASTER without priority: priority 255, the address owner, as keepalived (it takes the VIPs at once and always preempts; set a priority below 255 to have it elected)",
				"t.conf:15: vrrp_instance M: preempt_delay: Warning - preempt delay will not work with initial state MASTER - clearing (as keepalived)",
				"t.conf:24: vrrp_instance B: preempt_delay: preempt_delay is incompatible with nopreempt mode - resetting (as keepalived)",
				"t.conf:29: vrrp_instance B: unicast_peer: min_ttl: ignored: xlb checks TTL 255 on every advert",
			},
		},
		{
			name: "service keywords keepalived ignores",
			in: ka(`virtual_server 10.0.0.1 3306 {
    lvs_method DR
    nat_mask 255.255.255.0
    net_mask 255.255.255.0
    omega
    real_server 10.0.0.5 3306 {
    }
}
`),
			want: []string{
				"t.conf:2: virtual_server 10.0.0.1 3306: protocol: not set: keepalived defaults to UDP, and so does xlb; write `protocol TCP` for a TCP service such as MySQL",
				"t.conf:4: virtual_server 10.0.0.1 3306: nat_mask: ignored, as keepalived has since 1.2.20",
				"t.conf:5: virtual_server 10.0.0.1 3306: net_mask: ignored, as keepalived has since 1.2.20",
				"t.conf:6: virtual_server 10.0.0.1 3306: omega: ignored: xlb runs no quorum_down or notify_down scripts at shutdown",
			},
		},
		{
			name: "services",
			in: ka(`virtual_server 10.0.0.1 80 {
    quorum_up /bin/true
    real_server 10.0.0.2 8080 {
        notify_up /bin/true
        HTTP_GET {
            url {
                path /
                digest d41d8cd98f00b204e9800998ecf8427e
            }
            bindto 10.0.0.1
        }
    }
}
virtual_server 10.0.0.1 81 {
    lvs_method DR
}
virtual_server 10.0.0.1 3306 {
    lvs_method DR
    real_server 10.0.0.5 3306 {
        MYSQL_CHECK {
            user u
            max_replication_lag 10
        }
    }
}
`),
			want: []string{
				"t.conf:2: virtual_server 10.0.0.1 80: lvs_method: not set: keepalived would use NAT; xlb forwards by DR (direct routing)",
				"t.conf:2: virtual_server 10.0.0.1 80: protocol: not set: keepalived defaults to UDP, and so does xlb; write `protocol TCP` for a TCP service such as MySQL",
				"t.conf:4: real_server 10.0.0.2 8080: DR does not change ports: clients' packets reach 10.0.0.2 on port 80; port 8080 is only checked",
				"t.conf:11: real_server 10.0.0.2 8080: HTTP_GET: bindto: ignored: checks use the route's source address",
				"t.conf:15: virtual_server 10.0.0.1 81: protocol: not set: keepalived defaults to UDP, and so does xlb; write `protocol TCP` for a TCP service such as MySQL",
				"t.conf:15: virtual_server 10.0.0.1 81: no real servers: new flows to this service are dropped",
				"t.conf:18: virtual_server 10.0.0.1 3306: protocol: not set: keepalived defaults to UDP, and so does xlb; write `protocol TCP` for a TCP service such as MySQL",
				"t.conf:23: real_server 10.0.0.5 3306: MYSQL_CHECK: max_replication_lag: also checks that replication runs (a NULL lag is down)",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, warns, err := Parse("t.conf", []byte(tc.in), FormatAuto)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			diffLines(t, "warnings", warnStrings(warns), tc.want)
		})
	}
}

// TestKeepalivedProtocolDefault: a virtual_server without a protocol line is
// UDP, as keepalived makes it (check/check_data.c: "no protocol set -
// defaulting to UDP"), with a warning; `protocol TCP` gives TCP, silently.
func TestKeepalivedProtocolDefault(t *testing.T) {
	for _, tc := range []struct {
		line string
		want lb.Protocol
		warn bool
	}{
		{"", lb.UDP, true},
		{"    protocol TCP\n", lb.TCP, false},
		{"    protocol UDP\n", lb.UDP, false},
	} {
		in := ka("virtual_server 10.0.0.1 3306 {\n    lvs_method DR\n" + tc.line + "    real_server 10.0.0.5 3306 {\n    }\n}\n")
		cfg, warns, err := Parse("t.conf", []byte(in), FormatAuto)
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if got := cfg.Services[0].Protocol; got != tc.want {
			t.Errorf("%q: protocol %v, want %v", tc.line, got, tc.want)
		}
		warned := slices.ContainsFunc(warnStrings(warns), func(w string) bool { return strings.Contains(w, "protocol: not set: keepalived defaults to UDP") })
		if warned != tc.warn {
			t.Errorf("%q: warned %v, want %v: %q", tc.line, warned, tc.warn, warnStrings(warns))
		}
	}
}
