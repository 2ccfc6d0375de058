// Package lab builds the setup xlb replaces (two directors sharing a VIP by
// VRRP in front of a MariaDB master-master pair, and a client) as network
// namespaces on one bridge, runs xlbd on the directors, and tears it all down.
// Its BGP variant puts three directors behind a bird2 router that spreads the
// clients over them by ECMP; the client sits on the router's other side.
//
// Hosts are provisioned by the same scripts the Vagrantfile runs
// (scripts/lab), with the same addresses (scripts/lab/lab.env), so the
// namespace lab and the VM lab never drift. Names start with a prefix, so two
// labs (or a lab and a test) never collide, and Down removes everything with
// that prefix, also after a crash.
package lab

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netns"

	"xlb/loader/bpffs"
	"xlb/test/testutil"
)

// Roles of the lab's hosts, in start order.
var Roles = []string{"db1", "db2", "lvs1", "lvs2", "client"}

// BGPRoles are the hosts of the BGP lab: three directors and the router.
var BGPRoles = []string{"db1", "db2", "lvs1", "lvs2", "lvs3", "router", "client"}

// Options configure a lab.
type Options struct {
	// Prefix starts every namespace, pin and state directory name.
	Prefix string
	// Repo is the xlb checkout (scripts/lab is read from it).
	Repo string
	// BinDir holds xlbd and xlbctl.
	BinDir string
	// Scheduler of the MySQL service: rr (both masters) or fo (one writer).
	Scheduler string
	// BGP builds the active-active lab: lvs1-3 announce the VIP by BGP to
	// a bird2 router (ECMP, L4 hash, BFD), the client behind it.
	BGP bool
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Lab is a running lab.
type Lab struct {
	opts  Options
	Env   map[string]string
	Dir   string
	Hosts map[string]*Host
}

// Host is one namespace of the lab.
type Host struct {
	Role string
	NS   string
	IP   netip.Addr
	IP6  netip.Addr // on the ULA prefix beside IP's
	MAC  net.HardwareAddr
}

// DefaultPrefix names the lab `make lab-up` builds.
const DefaultPrefix = "xlblab"

func stateDir(prefix string) string { return filepath.Join(os.TempDir(), prefix) }
func pinRoot(prefix string) string  { return filepath.Join("/sys/fs/bpf", prefix) }

// LoadEnv reads scripts/lab/lab.env.
func LoadEnv(repo string) (map[string]string, error) {
	f, err := os.Open(filepath.Join(repo, "scripts/lab/lab.env"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("lab.env:%d: want KEY=VALUE, got %q", n, line)
		}
		env[k] = v
	}
	return env, sc.Err()
}

func (l *Lab) logf(format string, args ...any) {
	if l.opts.Log != nil {
		fmt.Fprintf(l.opts.Log, time.Now().Format("15:04:05.000 ")+format+"\n", args...)
	}
}

// Up builds and starts the lab. On failure everything built is torn down.
func Up(opts Options) (l *Lab, err error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Scheduler == "" {
		opts.Scheduler = "rr"
	}
	env, err := LoadEnv(opts.Repo)
	if err != nil {
		return nil, fmt.Errorf("lab addresses: %w", err)
	}
	if existing, _ := namespaces(opts.Prefix); len(existing) > 0 {
		return nil, fmt.Errorf("a lab with prefix %q is already up (%v): run `make lab-down` first", opts.Prefix, existing)
	}
	l = &Lab{opts: opts, Env: env, Dir: stateDir(opts.Prefix), Hosts: map[string]*Host{}}
	defer func() {
		if err != nil {
			if derr := Down(opts.Prefix); derr != nil {
				err = errors.Join(err, fmt.Errorf("teardown after failure: %w", derr))
			}
		}
	}()
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return nil, err
	}
	if err := bpffs.Ensure(); err != nil {
		return nil, err
	}
	addr, addr6 := Addresses(env)

	l.logf("building namespaces %s-* on one bridge", opts.Prefix)
	bridge := opts.Prefix + "-br"
	if err := addNS(bridge); err != nil {
		return nil, err
	}
	if _, err := inNS(bridge, "ip", "link", "add", "br0", "type", "bridge"); err != nil {
		return nil, err
	}
	// No multicast snooping: neighbour solicitations go to solicited-node
	// groups, and a bridge that missed a host's MLD report would not pass
	// them; flooding is what a plain L2 segment does.
	if _, err := inNS(bridge, "ip", "link", "set", "br0", "type", "bridge", "mcast_snooping", "0"); err != nil {
		return nil, err
	}
	if _, err := inNS(bridge, "ip", "link", "set", "br0", "up"); err != nil {
		return nil, err
	}
	for _, role := range l.Roles() {
		if role == "client" && opts.BGP {
			continue
		}
		ip := netip.MustParseAddr(addr[role])
		b := ip.As4()
		ip6, err := netip.ParseAddr(addr6[role])
		if err != nil || !ip6.Is6() {
			return nil, fmt.Errorf("lab.env: IPv6 address of %s: %q", role, addr6[role])
		}
		h := &Host{Role: role, NS: opts.Prefix + "-" + role, IP: ip, IP6: ip6, MAC: net.HardwareAddr{2, 0, 0, 0, 0, b[3]}}
		if err := l.addHost(bridge, h, env["LAB_PREFIXLEN"], env["LAB_PREFIXLEN6"]); err != nil {
			return nil, fmt.Errorf("host %s: %w", role, err)
		}
		l.Hosts[role] = h
	}
	if opts.BGP {
		if err := l.addClientBehindRouter(); err != nil {
			return nil, fmt.Errorf("client behind the router: %w", err)
		}
	}

	l.logf("provisioning MariaDB master-master on db1 and db2 (scripts/lab/db.sh)")
	if err := parallel("db1", "db2", func(role string) error { return l.DB("setup", role) }); err != nil {
		return nil, err
	}
	for _, role := range []string{"db1", "db2"} {
		if err := l.DB("replicate", role); err != nil {
			return nil, err
		}
	}
	for _, role := range []string{"db1", "db2"} {
		if err := l.waitReplicating(role, 20*time.Second); err != nil {
			return nil, err
		}
	}
	if opts.BGP {
		return l, l.upBGP()
	}

	l.logf("starting xlbd on lvs1 (VRRP MASTER, priority 101) and lvs2 (BACKUP, 100), scheduler %s", opts.Scheduler)
	for _, role := range []string{"lvs1", "lvs2"} {
		if _, err := l.script("director.sh", "config", role, opts.Scheduler); err != nil {
			return nil, err
		}
		if err := l.StartXlbd(role); err != nil {
			return nil, err
		}
	}
	if err := l.WaitVIP("lvs1", 15*time.Second); err != nil {
		return nil, err
	}
	if err := l.WaitVIPOf("lvs1", env["LAB_VIP6"], 15*time.Second); err != nil {
		return nil, err
	}
	for _, role := range []string{"lvs1", "lvs2"} {
		if err := l.WaitBackends(role, 2, 20*time.Second); err != nil {
			return nil, err
		}
	}
	l.logf("lab up: VIPs %s:3306 and [%s]:3306 on lvs1", env["LAB_VIP"], env["LAB_VIP6"])
	return l, nil
}

// Addresses are each role's IPv4 and IPv6 addresses on the lab segment, from
// lab.env (LAB_DB1 and LAB_DB1_6 for db1, and so on; the Vagrantfile reads
// them the same way). The BGP lab's client is not on the segment: it sits
// behind the router, at LAB_BGP_CLIENT.
func Addresses(env map[string]string) (v4, v6 map[string]string) {
	v4, v6 = map[string]string{}, map[string]string{}
	for _, role := range BGPRoles {
		key := "LAB_" + strings.ToUpper(role)
		v4[role], v6[role] = env[key], env[key+"_6"]
	}
	return v4, v6
}

// Roles are the hosts of this lab.
func (l *Lab) Roles() []string {
	if l.opts.BGP {
		return BGPRoles
	}
	return Roles
}

// BGP reports whether this is the BGP lab.
func (l *Lab) BGP() bool { return l.opts.BGP }

// Directors are the lab's directors.
func (l *Lab) Directors() []string {
	if l.opts.BGP {
		return []string{"lvs1", "lvs2", "lvs3"}
	}
	return []string{"lvs1", "lvs2"}
}

// addClientBehindRouter gives the router a second leg, to the client's
// namespace (scripts/lab/lab.env's LAB_CLIENT_NET).
func (l *Lab) addClientBehindRouter() error {
	env := l.Env
	ip := netip.MustParseAddr(env["LAB_BGP_CLIENT"])
	b := ip.As4()
	h := &Host{Role: "client", NS: l.opts.Prefix + "-client", IP: ip, MAC: net.HardwareAddr{2, 0, 0, 0, 1, b[3]}}
	if err := addNS(h.NS); err != nil {
		return err
	}
	bits := strings.TrimPrefix(env["LAB_CLIENT_NET"][strings.Index(env["LAB_CLIENT_NET"], "/"):], "/")
	rt := l.Hosts["router"].NS
	steps := [][]string{
		{rt, "ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		{rt, "ip", "addr", "add", env["LAB_ROUTER_CLIENT_SIDE"] + "/" + bits, "dev", "eth1"},
		{rt, "ip", "link", "set", "eth1", "up"},
		{rt, "ethtool", "-K", "eth1", "tx", "off"},
		{h.NS, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"},
		{h.NS, "ip", "link", "set", "eth0", "address", h.MAC.String(), "up"},
		{h.NS, "ip", "addr", "add", ip.String() + "/" + bits, "dev", "eth0"},
		{h.NS, "ip", "route", "add", "default", "via", env["LAB_ROUTER_CLIENT_SIDE"]},
		{h.NS, "ethtool", "-K", "eth0", "tx", "off"},
	}
	for _, s := range steps {
		if _, err := inNS(s[0], s[1], s[2:]...); err != nil {
			return err
		}
	}
	l.Hosts["client"] = h
	return nil
}

// upBGP starts the router and the three directors of the BGP lab and waits
// until the router spreads the VIP over all three.
func (l *Lab) upBGP() error {
	l.logf("starting bird2 on the router (scripts/lab/router.sh): ECMP, L4 hash, BFD 100 ms x 3")
	for _, role := range []string{"db1", "db2"} {
		if err := l.DB("route", role); err != nil {
			return err
		}
	}
	if _, err := l.script("router.sh", "setup", "router"); err != nil {
		return err
	}
	l.logf("starting xlbd on lvs1, lvs2 and lvs3, each announcing the VIP by BGP, scheduler %s", l.opts.Scheduler)
	for _, role := range l.Directors() {
		if _, err := l.script("director.sh", "config", role, l.opts.Scheduler, "bgp"); err != nil {
			return err
		}
		if err := l.StartXlbd(role); err != nil {
			return err
		}
	}
	for _, role := range l.Directors() {
		if err := l.WaitBackends(role, 2, 20*time.Second); err != nil {
			return err
		}
	}
	if err := l.WaitNexthops(3, 30*time.Second); err != nil {
		return err
	}
	l.logf("lab up: VIP %s:3306 through lvs1, lvs2 and lvs3 (ECMP)", l.Env["LAB_VIP"])
	return nil
}

// Nexthops are the directors the router's route to the VIP goes through
// (BGP lab), by role.
func (l *Lab) Nexthops() []string {
	out, _ := inNS(l.Hosts["router"].NS, "ip", "-4", "route", "show", l.Env["LAB_VIP"]+"/32")
	byIP := map[string]string{}
	for _, r := range l.Directors() {
		byIP[l.Hosts[r].IP.String()] = r
	}
	var hops []string
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "via" && byIP[f[i+1]] != "" {
			hops = append(hops, byIP[f[i+1]])
		}
	}
	slices.Sort(hops)
	return hops
}

// WaitNexthops waits until the router spreads the VIP over n directors.
func (l *Lab) WaitNexthops(n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for len(l.Nexthops()) != n {
		if time.Now().After(deadline) {
			return fmt.Errorf("the router's route to the VIP goes through %v, not %d directors, after %s", l.Nexthops(), n, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// SetLink sets a host's lab interface up or down (a director dying with its
// machine: no BGP NOTIFICATION, no FIN: only BFD tells the router).
func (l *Lab) SetLink(role string, up bool) error {
	state := map[bool]string{true: "up", false: "down"}[up]
	_, err := inNS(l.Hosts[role].NS, "ip", "link", "set", "eth0", state)
	return err
}

// Detach removes a director's pinned data plane (as a reboot loses it).
func (l *Lab) Detach(role string) error {
	_, err := run(filepath.Join(l.opts.BinDir, "xlbd"), "detach", "--pin-root", filepath.Join(pinRoot(l.opts.Prefix), role))
	return err
}

func addNS(name string) error {
	if _, err := run("ip", "netns", "add", name); err != nil {
		return err
	}
	_, err := inNS(name, "ip", "link", "set", "lo", "up")
	return err
}

func (l *Lab) addHost(bridge string, h *Host, prefixLen, prefixLen6 string) error {
	if err := addNS(h.NS); err != nil {
		return err
	}
	port := "p-" + h.Role
	steps := [][]string{
		{bridge, "ip", "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		{bridge, "ip", "link", "set", port, "master", "br0", "up"},
		// IPv6 without duplicate address detection (the lab's addresses
		// are its own: usable at once) nor router solicitations (nothing
		// routes here).
		{h.NS, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0"},
		{h.NS, "sysctl", "-qw", "net.ipv6.conf.eth0.router_solicitations=0"},
		{h.NS, "ip", "link", "set", "eth0", "address", h.MAC.String(), "up"},
		{h.NS, "ip", "addr", "add", h.IP.String() + "/" + prefixLen, "dev", "eth0"},
		{h.NS, "ip", "-6", "addr", "add", h.IP6.String() + "/" + prefixLen6, "dev", "eth0", "nodad"},
		// Frames that XDP forwards keep the checksum the sender left: no offload.
		{h.NS, "ethtool", "-K", "eth0", "tx", "off"},
	}
	for _, s := range steps {
		if _, err := inNS(s[0], s[1], s[2:]...); err != nil {
			return err
		}
	}
	if strings.HasPrefix(h.Role, "lvs") {
		return l.attachPass(bridge, port)
	}
	return nil
}

// attachPass gives a director's bridge port the XDP_PASS program a veth needs
// to accept its peer's XDP_TX frames, pinned so it outlives this process.
func (l *Lab) attachPass(bridge, port string) error {
	prog, err := testutil.NewXDPPass()
	if err != nil {
		return fmt.Errorf("XDP_PASS program: %w", err)
	}
	defer prog.Close()
	if err := os.MkdirAll(pinRoot(l.opts.Prefix), 0o700); err != nil {
		return err
	}
	h, err := netns.GetFromName(bridge)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", bridge, err)
	}
	defer h.Close()
	return (&testutil.NetNS{Name: bridge, Handle: h}).Do(func() error {
		iface, err := net.InterfaceByName(port)
		if err != nil {
			return err
		}
		lk, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: iface.Index})
		if err != nil {
			return fmt.Errorf("attach XDP_PASS to %s: %w", port, err)
		}
		defer lk.Close()
		return lk.Pin(filepath.Join(pinRoot(l.opts.Prefix), "pass-"+port))
	})
}

func parallel(a, b string, fn func(string) error) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, r := range []string{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = fn(r) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// script runs scripts/lab/NAME inside the namespace of the host ARGS[1] names.
func (l *Lab) script(name string, args ...string) (string, error) {
	h := l.Hosts[args[1]]
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + h.NS, "--", "bash", filepath.Join(l.opts.Repo, "scripts/lab", name)}, args...)...)
	cmd.Env = append(os.Environ(), "LAB_MODE=netns", "LAB_DIR="+l.Dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// DB runs scripts/lab/db.sh CMD ROLE (setup, replicate, start, stop, kill).
func (l *Lab) DB(cmd, role string) error {
	_, err := l.script("db.sh", cmd, role)
	return err
}

// SQL runs a statement as root on a database host (through its socket) and
// returns the values, without column names.
func (l *Lab) SQL(role, query string) (string, error) {
	out, err := run("mariadb", "--socket="+filepath.Join(l.Dir, role, "mysqld.sock"), "-uroot", "--batch", "--skip-column-names", "-e", query)
	return strings.TrimSpace(out), err
}

// replicaStatus is SHOW SLAVE STATUS as "Name: value" lines.
func (l *Lab) replicaStatus(role string) (string, error) {
	return run("mariadb", "--socket="+filepath.Join(l.Dir, role, "mysqld.sock"), "-uroot", "-e", "SHOW SLAVE STATUS\\G")
}

func (l *Lab) waitReplicating(role string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out, err := l.replicaStatus(role)
		if err == nil && strings.Contains(out, "Slave_IO_Running: Yes") && strings.Contains(out, "Slave_SQL_Running: Yes") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: replication not running after %s: %v\n%s", role, timeout, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitCaughtUp waits until role has applied everything its peer has.
func (l *Lab) WaitCaughtUp(role string, timeout time.Duration) error {
	peer := map[string]string{"db1": "db2", "db2": "db1"}[role]
	deadline := time.Now().Add(timeout)
	for {
		if err := l.waitReplicating(role, time.Until(deadline)); err != nil {
			return err
		}
		want, err1 := l.SQL(peer, "SELECT @@gtid_binlog_pos")
		got, err2 := l.SQL(role, "SELECT @@gtid_slave_pos")
		if err1 == nil && err2 == nil && gtidCovers(got, want, peer) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s has not caught up with %s after %s: slave_pos %q, peer binlog %q", role, peer, timeout, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// gtidCovers reports whether pos has applied the peer's own domain as far as
// the peer's binlog says (the lab gives db1 domain 1 and db2 domain 2).
func gtidCovers(pos, peerBinlog, peer string) bool {
	domain := map[string]string{"db1": "1-", "db2": "2-"}[peer]
	seq := func(list string) int64 {
		for _, g := range strings.Split(list, ",") {
			if strings.HasPrefix(strings.TrimSpace(g), domain) {
				parts := strings.Split(strings.TrimSpace(g), "-")
				n, _ := strconv.ParseInt(parts[len(parts)-1], 10, 64)
				return n
			}
		}
		return 0
	}
	return seq(pos) >= seq(peerBinlog)
}

// StartXlbd starts xlbd on a director, detached, logging to its state dir.
func (l *Lab) StartXlbd(role string) error {
	dir := filepath.Join(l.Dir, role)
	log, err := os.OpenFile(filepath.Join(dir, "xlbd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command("nsenter", "--net=/run/netns/"+l.Hosts[role].NS, "--", filepath.Join(l.opts.BinDir, "xlbd"), "run",
		"--config", filepath.Join(dir, "xlb.yaml"), "--pin-root", filepath.Join(pinRoot(l.opts.Prefix), role),
		"--socket", l.Socket(role), "--max-flows", "262144", "--flow-sync-key", filepath.Join(dir, "flowsync.key"),
		"--hash-seed-file", filepath.Join(dir, "hashseed"))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start xlbd on %s: %w", role, err)
	}
	pid := cmd.Process.Pid
	go cmd.Wait() // reap it when it exits; the lab tracks it by pid file
	return os.WriteFile(filepath.Join(dir, "xlbd.pid"), []byte(strconv.Itoa(pid)), 0o600)
}

// SignalXlbd sends sig to a director's xlbd and, for a fatal signal, waits
// until it is gone.
func (l *Lab) SignalXlbd(role string, sig syscall.Signal) error {
	pidFile := filepath.Join(l.Dir, role, "xlbd.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("xlbd on %s is not running: %w", role, err)
	}
	pid, _ := strconv.Atoi(string(b))
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signal xlbd on %s: %w", role, err)
	}
	if sig == syscall.SIGHUP {
		return nil
	}
	for i := 0; i < 200; i++ {
		if syscall.Kill(pid, 0) != nil {
			os.Remove(pidFile)
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("xlbd on %s (pid %d) still running 10s after %s", role, pid, sig)
}

// Socket is a director's control socket.
func (l *Lab) Socket(role string) string { return filepath.Join(l.Dir, role, "xlbd.sock") }

// Xlbctl runs xlbctl against a director.
func (l *Lab) Xlbctl(role string, args ...string) (string, error) {
	return run(filepath.Join(l.opts.BinDir, "xlbctl"), append([]string{"--pin-root", filepath.Join(pinRoot(l.opts.Prefix), role), "--socket", l.Socket(role)}, args...)...)
}

// HasVIP reports whether a director holds the (IPv4) VIP on eth0.
func (l *Lab) HasVIP(role string) bool { return l.HasVIPOf(role, l.Env["LAB_VIP"]) }

// HasVIPOf reports whether a director holds vip (either family) on eth0.
func (l *Lab) HasVIPOf(role, vip string) bool {
	out, err := inNS(l.Hosts[role].NS, "ip", "-o", "addr", "show", "dev", "eth0")
	return err == nil && strings.Contains(out, " "+vip+"/")
}

// WaitVIP waits until role holds the (IPv4) VIP.
func (l *Lab) WaitVIP(role string, timeout time.Duration) error {
	return l.WaitVIPOf(role, l.Env["LAB_VIP"], timeout)
}

// WaitVIPOf waits until role holds vip.
func (l *Lab) WaitVIPOf(role, vip string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !l.HasVIPOf(role, vip) {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not take the VIP %s within %s", role, vip, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// ActiveBackends counts a director's active backends (from its pinned maps)
// in each service (IPv4 and IPv6 MySQL) and returns the smaller count: both
// services balance over the same pair, so n means n in each.
func (l *Lab) ActiveBackends(role string) int {
	active := l.activeByVIP(role)
	if len(active) == 0 {
		return 0
	}
	return slices.Min(slices.Collect(maps.Values(active)))
}

// ActiveBackendsOf counts a director's active backends in the service of
// vip (either family).
func (l *Lab) ActiveBackendsOf(role, vip string) int {
	return l.activeByVIP(role)[vip]
}

// activeByVIP counts a director's active backends by service VIP.
func (l *Lab) activeByVIP(role string) map[string]int {
	out, err := l.Xlbctl(role, "--json", "backends")
	if err != nil {
		return nil
	}
	var rows []struct {
		Service string `json:"service"` // VIP:port/protocol
		State   string `json:"state"`
	}
	if json.Unmarshal([]byte(out), &rows) != nil {
		return nil
	}
	active := map[string]int{}
	for _, r := range rows {
		ap, err := netip.ParseAddrPort(strings.Split(r.Service, "/")[0])
		if err != nil {
			return nil
		}
		vip := ap.Addr().String()
		if _, ok := active[vip]; !ok {
			active[vip] = 0
		}
		if r.State == "active" {
			active[vip]++
		}
	}
	return active
}

// WaitBackends waits until a director has n active backends in each service.
func (l *Lab) WaitBackends(role string, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for l.ActiveBackends(role) != n {
		if time.Now().After(deadline) {
			out, _ := l.Xlbctl(role, "backends")
			return fmt.Errorf("%s: %d backends not active within %s:\n%s", role, n, timeout, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// Shells says how to get a shell on each host.
func (l *Lab) Shells() string {
	var b strings.Builder
	for _, role := range l.Roles() {
		fmt.Fprintf(&b, "  %-6s %-15s %-21s sudo nsenter --net=/run/netns/%s bash\n", role, l.Hosts[role].IP, l.Hosts[role].IP6, l.Hosts[role].NS)
	}
	if l.opts.BGP {
		fmt.Fprintf(&b, "  the router's view: sudo nsenter --net=/run/netns/%s birdc -s %s show protocols\n", l.Hosts["router"].NS, filepath.Join(l.Dir, "router", "bird.ctl"))
		fmt.Fprintf(&b, "  ECMP route:        sudo nsenter --net=/run/netns/%s ip route show %s\n", l.Hosts["router"].NS, l.Env["LAB_VIP"])
	}
	fmt.Fprintf(&b, "  xlbctl on lvs1:  sudo bin/xlbctl --pin-root %s --socket %s backends\n", filepath.Join(pinRoot(l.opts.Prefix), "lvs1"), l.Socket("lvs1"))
	for _, vip := range []string{l.Env["LAB_VIP"], l.Env["LAB_VIP6"]} {
		fmt.Fprintf(&b, "  mysql client:    sudo nsenter --net=/run/netns/%s mariadb -h %s -u %s -p%s %s\n",
			l.Hosts["client"].NS, vip, l.Env["LAB_APP_USER"], l.Env["LAB_APP_PASS"], l.Env["LAB_DATABASE"])
	}
	return b.String()
}

// namespaces lists the namespaces whose name starts with prefix-.
func namespaces(prefix string) ([]string, error) {
	out, err := run("ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	var found []string
	for _, line := range strings.Split(out, "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.HasPrefix(name, prefix+"-") {
			found = append(found, name)
		}
	}
	return found, nil
}

// Down tears down the lab with this prefix, whatever state it is in: every
// process in its namespaces, its pins, namespaces and state directory.
func Down(prefix string) error {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	nss, err := namespaces(prefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, ns := range nss {
		// Everything running inside (mariadbd, xlbd) dies with SIGKILL: the
		// lab's data is throw-away.
		if out, err := run("ip", "netns", "pids", ns); err == nil {
			for _, f := range strings.Fields(out) {
				// Never ourselves: a thread of this process may have been
				// left in the namespace by a dialer.
				if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
	// Pins hold links (XDP stays attached while pinned): remove them first.
	if err := os.RemoveAll(pinRoot(prefix)); err != nil {
		errs = append(errs, fmt.Errorf("remove pins: %w", err))
	}
	for _, ns := range nss {
		if _, err := run("ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(stateDir(prefix)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ClientNeighbour is the client's neighbour-table line for the VIP.
func (l *Lab) ClientNeighbour() string { return l.ClientNeighbourOf(l.Env["LAB_VIP"]) }

// ClientNeighbourOf is the client's neighbour-table line for vip (either
// family).
func (l *Lab) ClientNeighbourOf(vip string) string {
	out, _ := inNS(l.Hosts["client"].NS, "ip", "neigh", "show", vip, "dev", "eth0")
	return strings.TrimSpace(out)
}

// Forwarded is the packets a director's program forwarded for the MySQL
// service (from its pinned maps).
func (l *Lab) Forwarded(role string) uint64 {
	out, err := l.Xlbctl(role, "--json", "services")
	if err != nil {
		return 0
	}
	var rows []struct {
		Packets uint64 `json:"packets"`
	}
	if json.Unmarshal([]byte(out), &rows) != nil || len(rows) == 0 {
		return 0
	}
	return rows[0].Packets
}

// FlushClientNeighbour makes the client forget the VIP's MAC, so its next
// packet asks ARP afresh.
func (l *Lab) FlushClientNeighbour() error {
	_, err := inNS(l.Hosts["client"].NS, "ip", "neigh", "flush", "to", l.Env["LAB_VIP"], "dev", "eth0")
	return err
}
