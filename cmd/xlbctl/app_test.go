package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"xlb/control/api"
	"xlb/control/bgp"
	"xlb/control/config"
	"xlb/control/flowsync"
	"xlb/control/maglev"
	"xlb/control/vrrp"
	"xlb/lb"
	"xlb/loader"
	"xlb/test/testutil"
)

// run runs xlbctl in-process and returns its stdout, stderr and error.
func run(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := newApp(&out, &errOut).Run(append([]string{"xlbctl"}, args...))
	return out.String(), errOut.String(), err
}

func TestConvertKeepalived(t *testing.T) {
	out, stderr, err := run("convert", "../../control/config/testdata/keepalived-master.conf")
	if err != nil {
		t.Fatalf("convert: %v\n%s", err, stderr)
	}
	for _, want := range []string{"192.168.1.30", "192.168.1.10", "192.168.1.11", "3306"} {
		if !strings.Contains(out, want) {
			t.Errorf("converted config lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "nopreempt") {
		t.Errorf("keepalived's nopreempt + state MASTER trap not warned about on stderr:\n%s", stderr)
	}
	if _, _, err := run("convert"); err == nil {
		t.Errorf("convert without a file did not fail")
	}
	if _, _, err := run("convert", "/nonexistent.conf"); err == nil || !strings.Contains(err.Error(), "/nonexistent.conf") {
		t.Errorf("missing file error does not name it: %v", err)
	}
}

// convert --bgp-*: a keepalived.conf user gets a bgp block in place of the
// VRRP instances, one that loads again as it was written; bad flags say
// which and what is wanted.
func TestConvertBGP(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "md5.pass")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := "../../control/config/testdata/keepalived-master.conf"
	out, stderr, err := run("convert", "--bgp-local-as", "65001", "--bgp-router-id", "192.168.1.20", "--bgp-neighbor", "192.168.1.1:65000",
		"--bgp-neighbor", "192.168.1.2:65002", "--bgp-password-file", pw, src)
	if err != nil {
		t.Fatalf("convert: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "vrrp instance VI_1 left out") {
		t.Errorf("dropping the VRRP instance is not said on stderr:\n%s", stderr)
	}
	cfg, _, err := config.Parse("converted.yaml", []byte(out), config.FormatYAML)
	if err != nil {
		t.Fatalf("the output does not load: %v\n%s", err, out)
	}
	b := cfg.BGP
	if b == nil || len(cfg.VRRP) != 0 || b.LocalAS != 65001 || b.RouterID.String() != "192.168.1.20" || len(b.Neighbors) != 2 ||
		b.Neighbors[1].PeerAS != 65002 || !b.Neighbors[0].BFD.Enabled || b.Neighbors[0].Password.Reveal() != "s3cret" {
		t.Errorf("converted bgp block: %+v, vrrp %d instances\n%s", b, len(cfg.VRRP), out)
	}
	if len(cfg.Interfaces) == 0 {
		t.Errorf("the interfaces (from the left-out VRRP instance) are lost:\n%s", out)
	}
	for _, bad := range [][]string{
		{"--bgp-local-as", "65001", "--bgp-neighbor", "192.168.1.1:65000"},                               // no router id
		{"--bgp-local-as", "65001", "--bgp-router-id", "192.168.1.20"},                                   // no neighbour
		{"--bgp-local-as", "65001", "--bgp-router-id", "192.168.1.20", "--bgp-neighbor", "192.168.1.1"},  // no AS
		{"--bgp-router-id", "192.168.1.20", "--bgp-neighbor", "192.168.1.1:65000"},                       // no local AS
		{"--bgp-local-as", "65001", "--bgp-router-id", "fe80::1", "--bgp-neighbor", "192.168.1.1:65000"}, // not IPv4
		{"--bgp-local-as", "65001", "--bgp-router-id", "192.168.1.20", "--bgp-neighbor", "192.168.1.1:65000", "--bgp-password-file", "/nonexistent"},
		{"--bgp-local-as", "65001", "--bgp-router-id", "192.168.1.20", "--bgp-neighbor", "fd00::1:65000"},   // IPv6 without brackets
		{"--bgp-local-as", "65001", "--bgp-router-id", "192.168.1.20", "--bgp-neighbor", "[fe80::1]:65000"}, // link-local
		{"--bgp-local-as", "65001", "--bgp-router-id", "192.168.1.20", "--bgp-neighbor", "[fd00::1]:65000"}, // no IPv4 router for the IPv4 VIPs
	} {
		if _, _, err := run(append(append([]string{"convert"}, bad...), src)...); err == nil || !strings.Contains(err.Error(), "--bgp-") {
			t.Errorf("convert %v: %v, want an error naming the flag", bad, err)
		}
	}
}

// An IPv6 service needs an IPv6 router: [ADDRESS]:AS gives one.
func TestConvertBGPIPv6(t *testing.T) {
	src := filepath.Join(t.TempDir(), "keepalived.conf")
	conf := "virtual_server fd00:10::100 3306 {\n lb_kind DR\n protocol TCP\n real_server fd00:1::10 3306 {\n  TCP_CHECK {\n  }\n }\n}\n" +
		"virtual_server 10.0.0.100 3306 {\n lb_kind DR\n protocol TCP\n real_server 192.168.1.10 3306 {\n  TCP_CHECK {\n  }\n }\n}\n"
	if err := os.WriteFile(src, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := []string{"convert", "--bgp-local-as", "65001", "--bgp-router-id", "192.168.1.20", "--bgp-neighbor", "192.168.1.1:65000"}
	if _, _, err := run(append(flags, src)...); err == nil || !strings.Contains(err.Error(), "VIP fd00:10::100: an IPv6 VIP needs a session that carries IPv6") {
		t.Fatalf("an IPv6 service with only an IPv4 router: %v", err)
	}
	out, stderr, err := run(append(flags, "--bgp-neighbor", "[fd00:1::1]:65000", src)...)
	if err != nil {
		t.Fatalf("convert: %v\n%s", err, stderr)
	}
	cfg, _, err := config.Parse("converted.yaml", []byte(out), config.FormatYAML)
	if err != nil {
		t.Fatalf("the output does not load: %v\n%s", err, out)
	}
	if n := cfg.BGP.Neighbors; len(n) != 2 || n[1].Address.String() != "fd00:1::1" || n[1].PeerAS != 65000 || !n[1].Carries(bgp.IPv6) || n[1].Carries(bgp.IPv4) {
		t.Errorf("neighbours: %+v\n%s", n, out)
	}
}

func TestConvertConfigID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keepalived.conf")
	conf := "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n @lb1 priority 201\n @^lb1 priority 99\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"lb1": "priority: 201", "lb2": "priority: 99"} {
		out, stderr, err := run("convert", "--config-id", id, path)
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("convert --config-id %s: %v %s\n%s", id, err, stderr, out)
		}
	}
}

func TestNothingPinned(t *testing.T) {
	_, _, err := run("--pin-root", t.TempDir(), "services")
	if err == nil || !strings.Contains(err.Error(), "no xlb data plane is pinned") {
		t.Fatalf("services with nothing pinned: %v", err)
	}
	_, _, err = run("--socket", filepath.Join(t.TempDir(), "none.sock"), "vrrp")
	if err == nil || !strings.Contains(err.Error(), "xlbd is not running") {
		t.Fatalf("vrrp without a daemon: %v", err)
	}
}

// pinService pins a data plane under a new pin root on a director's veth in
// a namespace, with the service key over backends (each Name is its
// address; the MAC is 02:00:00:00:00:<ID>), detached at the test's end.
func pinService(t *testing.T, tag string, key loader.ServiceKey, backends []maglev.Backend) (*testutil.Host, string, *loader.Dataplane) {
	t.Helper()
	seg := testutil.NewSegment(t, tag)
	director := seg.AddHost(t, "lvs", "192.168.1.20/24")
	root := testutil.PinRoot(t, tag)
	var dp *loader.Dataplane
	if err := director.Do(func() (err error) {
		dp, err = loader.Open("eth0", loader.Options{PinRoot: root, MaxFlows: 4096})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Detach() })
	if err := dp.SetService(key, loader.Service{ID: 1}); err != nil {
		t.Fatal(err)
	}
	for _, b := range backends {
		if err := dp.SetBackend(b.ID, loader.Backend{ServiceID: 1, IP: netip.MustParseAddr(b.Name), MAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(b.ID)}, State: loader.BackendActive}); err != nil {
			t.Fatal(err)
		}
	}
	table, err := maglev.Build(backends, dp.TableSize())
	if err != nil {
		t.Fatal(err)
	}
	if err := dp.WriteMaglev(key, table); err != nil {
		t.Fatal(err)
	}
	return director, root, dp
}

// TestInspectPinned pins a real data plane on a veth in a namespace, sends it
// traffic, and checks what every command prints, with and without a daemon.
func TestInspectPinned(t *testing.T) {
	testutil.RequirePriv(t)
	key := loader.ServiceKey{VIP: netip.MustParseAddr("192.168.1.30"), Port: 3306, Proto: lb.TCP}
	director, root, dp := pinService(t, "ctl", key, []maglev.Backend{{ID: 1, Name: "192.168.1.10", Weight: 3}, {ID: 2, Name: "192.168.1.11", Weight: 1}})
	flow := loader.FlowKey{Client: netip.MustParseAddrPort("192.168.1.100:40000"), VIP: netip.MustParseAddrPort("192.168.1.30:3306"), Proto: lb.TCP}
	// A SYN and the next segment through the program record a flow (a flow
	// is recorded on its second packet) and count it.
	for _, ack := range []bool{false, true} {
		if ret, err := dp.Program().Run(&ebpf.RunOptions{Data: testutil.TCPFrame(director.MAC, flow.Client, flow.VIP, ack)}); err != nil || ret != 3 {
			t.Fatalf("test frame (ack %v): verdict %d, %v", ack, ret, err)
		}
	}
	sock := filepath.Join(t.TempDir(), "xlbd.sock")
	g := []string{"--pin-root", root, "--socket", sock}

	out, _, err := run(append(g, "services")...)
	if err != nil || !strings.Contains(out, "192.168.1.30:3306/tcp") || !strings.Contains(out, "maglev") {
		t.Fatalf("services: %v\n%s", err, out)
	}
	out, stderr, err := run(append(g, "backends")...)
	if err != nil || !strings.Contains(out, "02:00:00:00:00:01") || !strings.Contains(stderr, "xlbd is not running") {
		t.Fatalf("backends without daemon: %v\n%s\n%s", err, out, stderr)
	}
	out, _, err = run(append(g, "--json", "flows", "--client", "192.168.1.100")...)
	var flows []flowRow
	if err != nil || json.Unmarshal([]byte(out), &flows) != nil || len(flows) != 1 || flows[0].Client != "192.168.1.100:40000" {
		t.Fatalf("flows --client: %v\n%s", err, out)
	}
	out, _, err = run(append(g, "flows", "--count", "--backend", "192.168.1.99")...)
	if err != nil || strings.TrimSpace(out) != "0" {
		t.Fatalf("flows --count for an unused backend: %v %q", err, out)
	}
	if _, _, err := run(append(g, "flows", "--vip", "not-an-ip")...); err == nil {
		t.Fatalf("bad --vip accepted")
	}
	out, _, err = run(append(g, "--json", "maglev")...)
	var shares []shareRow
	if err != nil || json.Unmarshal([]byte(out), &shares) != nil || len(shares) != 2 {
		t.Fatalf("maglev: %v\n%s", err, out)
	}
	for _, s := range shares {
		want := map[string]float64{"192.168.1.10": 0.75, "192.168.1.11": 0.25}[s.Backend]
		if d := s.Share - want; d > 0.01 || d < -0.01 {
			t.Errorf("maglev share of %s: %.3f, want %.2f", s.Backend, s.Share, want)
		}
	}
	out, _, err = run(append(g, "--json", "stats", "--interval", "50ms")...)
	var rates []rateRow
	if err != nil || json.Unmarshal([]byte(out), &rates) != nil || len(rates) == 0 {
		t.Fatalf("stats: %v\n%s", err, out)
	}

	// With a daemon: backends gain weight and reason, vrrp answers.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go api.Serve(ctx, sock, func() api.Status {
		return api.Status{
			Services: []api.Service{{Interface: "eth0", VIP: key.VIP, Port: 3306, Protocol: "tcp", ID: 1, Balancing: "failover", Backends: []api.Backend{
				{ID: 1, IP: netip.MustParseAddr("192.168.1.10"), Weight: 3, Reason: "up"},
				{ID: 2, IP: netip.MustParseAddr("192.168.1.11"), Weight: 1, State: "unresolved", Reason: "check failed: replication SQL thread stopped"},
			}}},
			MACs: []api.MACTracking{{Interface: "eth0", Refused: map[string]uint64{"broadcast": 4, "peer_director": 1, "zero": 0}, Changes: 2, Attempts: 30, Failures: 5,
				Addresses: []api.MACAddress{
					{IP: netip.MustParseAddr("192.168.1.10"), MAC: "02:00:00:00:00:01", Source: "arp", Failures: 3, LastError: "no acceptable ARP reply from 192.168.1.10 within 1s"},
					{IP: netip.MustParseAddr("192.168.1.11")},
					{IP: netip.MustParseAddr("192.168.1.21"), Peer: true, MAC: "02:00:00:00:00:15", Source: "neighbour table"},
				}}},
			VRRP: []vrrp.Status{{Name: "VI_1", Interface: "eth0", VRID: 51, Version: 2, State: vrrp.StateMaster, Priority: 101, BasePriority: 101, MasterAddr: "192.168.1.20",
				Counters:   vrrp.Counters{Drops: map[string]uint64{"ttl": 2, "dest": 3, "vrid": 0}},
				Scripts:    []vrrp.ScriptStatus{{Name: "chk_mysql", State: vrrp.ScriptFailing, Weight: -50, Runs: 9, Fails: 4}},
				Mismatches: []vrrp.Mismatch{{Reason: "version", Count: 7, LastFrom: "192.168.1.21", LastDetail: "sender speaks VRRPv3, this instance v2: neither sees the other's adverts", LastDropped: true}}},
				// FAULT must decode: xlbctl once failed on any state but INIT, BACKUP and MASTER.
				{Name: "VI_2", Interface: "eth0", VRID: 52, Version: 2, State: vrrp.StateFault, Priority: 101, BasePriority: 101, SyncGroup: "G", SyncGroupState: vrrp.StateFault}},
			FlowSync: []flowsync.Status{{Interface: "eth0", Group: "224.0.0.81:8848", Source: "192.168.1.20", KeyIDs: []int{7},
				Applied: 12, Dropped: map[string]uint64{"auth": 3, "ttl": 1, "replay": 0}}},
		}
	})
	waitFor(t, func() bool { _, err := os.Stat(sock); return err == nil })
	out, _, err = run(append(g, "backends")...)
	if err != nil || !strings.Contains(out, "replication SQL thread stopped") {
		t.Fatalf("backends with daemon: %v\n%s", err, out)
	}
	var rows []backendRow
	out, _, err = run(append(g, "--json", "backends")...)
	if err != nil || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != 2 || rows[0].State != "active" || rows[1].State != "unresolved" {
		t.Fatalf("backends: the daemon's unresolved should replace the map's state, and only it: %v\n%s", err, out)
	}
	out, _, err = run(append(g, "macs")...)
	for _, want := range []string{"02:00:00:00:00:01", "no acceptable ARP reply", "peer director", "unresolved",
		"eth0: refused 5 (broadcast 4, peer_director 1); changed 2; attempts 30, failed 5"} {
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("macs: %v: no %q in\n%s", err, want, out)
		}
	}
	// The maps cannot tell failover from Maglev; the daemon can.
	out, _, err = run(append(g, "services")...)
	if err != nil || !strings.Contains(out, "failover") {
		t.Fatalf("services with daemon: %v\n%s", err, out)
	}
	out, _, err = run(append(g, "vrrp")...)
	if err != nil || !strings.Contains(out, "VI_1") || !strings.Contains(out, "MASTER") || !strings.Contains(out, "192.168.1.20") {
		t.Fatalf("vrrp: %v\n%s", err, out)
	}
	if !strings.Contains(out, "WARNING VI_1 (VRID 51): 7 adverts from a differently configured peer (dropped, split brain likely)") || !strings.Contains(out, "version: last from 192.168.1.21") ||
		!strings.Contains(out, "sender speaks VRRPv3") {
		t.Fatalf("vrrp: config mismatch not shown:\n%s", out)
	}
	if !strings.Contains(out, "5 (dest 3, ttl 2)") || !strings.Contains(out, "VI_1 track_script chk_mysql: failing (weight -50, 9 runs, 4 failed)") {
		t.Fatalf("vrrp: drops by reason or script state not shown:\n%s", out)
	}
	if !strings.Contains(out, "VI_2 sync group G: FAULT") {
		t.Fatalf("vrrp: sync group not shown:\n%s", out)
	}
	out, _, err = run(append(g, "flowsync")...)
	if err != nil || !strings.Contains(out, "auth=3 ttl=1") || strings.Contains(out, "replay") || !strings.Contains(out, "on-link") {
		t.Fatalf("flowsync: %v\n%s", err, out)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not met within 2s")
}
