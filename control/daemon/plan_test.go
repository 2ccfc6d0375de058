package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"xlb/control"
	"xlb/control/config"
	"xlb/control/vrrp"
	"xlb/lb"
)

func parse(t *testing.T, yaml string) *config.Config {
	t.Helper()
	cfg, _, err := config.Parse("test.yaml", []byte(yaml), config.FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// fakeLinks is a host with the given interfaces and subnets.
func fakeLinks(subnets map[string]string) (func(string) (*net.Interface, error), func(*net.Interface, netip.Addr) error) {
	lookup := func(name string) (*net.Interface, error) {
		if _, ok := subnets[name]; !ok {
			return nil, errors.New("no such network interface")
		}
		return &net.Interface{Name: name}, nil
	}
	onLink := func(iface *net.Interface, ip netip.Addr) error {
		if !netip.MustParsePrefix(subnets[iface.Name]).Contains(ip) {
			return fmt.Errorf("backend %s: %w %s", ip, control.ErrNotOnLink, iface.Name)
		}
		return nil
	}
	return lookup, onLink
}

// Services land on the interface whose subnet holds their real servers; a
// server no interface reaches directly is an error naming it.
func TestPlanInterfaces(t *testing.T) {
	lookup, onLink := fakeLinks(map[string]string{"eth0": "192.168.1.0/24", "eth1": "10.1.0.0/16"})
	good := parse(t, `
interfaces: [eth0, eth1]
services:
  - vip: 192.168.1.30
    port: 3306
    scheduler: fo
    reals:
      - {ip: 192.168.1.10, weight: 3, inhibit_on_failure: true}
      - {ip: 192.168.1.11}
  - vip: 10.1.0.30
    port: 80
    reals:
      - {ip: 10.1.2.3}
`)
	plans, err := planInterfaces(good, lookup, onLink)
	if err != nil {
		t.Fatalf("valid plan: %v", err)
	}
	if len(plans) != 2 || plans[0].name != "eth0" || plans[1].name != "eth1" || len(plans[0].services) != 1 || len(plans[1].services) != 1 {
		t.Fatalf("plans: %+v", plans)
	}
	specs := plans[0].specs()
	if len(specs) != 1 || specs[0].Balancing != lb.Failover || len(specs[0].Backends) != 2 ||
		specs[0].Backends[0] != (control.BackendSpec{IP: netip.MustParseAddr("192.168.1.10"), Weight: 3, InhibitOnFailure: true}) {
		t.Errorf("eth0 specs: %+v", specs)
	}
	if got, ok := plans[1].macTargets()[netip.MustParseAddr("10.1.2.3")]; len(plans[1].macTargets()) != 1 || !ok || got != nil {
		t.Errorf("eth1 backends: %v", got)
	}

	bad := parse(t, `
interfaces: [eth0]
services:
  - name: far
    vip: 192.168.1.30
    port: 3306
    reals:
      - {ip: 192.168.1.10}
      - {ip: 10.9.9.9}
  - name: nowhere
    vip: 192.168.1.31
    port: 3306
    reals:
      - {ip: 172.16.0.1}
`)
	_, err = planInterfaces(bad, lookup, onLink)
	for _, want := range []string{"far", "10.9.9.9", "nowhere", "172.16.0.1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("off-link servers: %v, want an error naming %s", err, want)
		}
	}
	missing := parse(t, "interfaces: [eth7]\nservices:\n  - {vip: 192.168.1.30, port: 80, reals: [{ip: 192.168.1.10}]}\n")
	if _, err := planInterfaces(missing, lookup, onLink); err == nil || !strings.Contains(err.Error(), "eth7") {
		t.Errorf("missing interface: %v", err)
	}
}

// runVRRP starts nothing: it builds the instance the daemon would run from
// one configured VRRP instance and returns the config it runs with.
func runVRRP(t *testing.T, v config.VRRPInstance) vrrp.Config {
	t.Helper()
	inst, err := vrrp.New(v.Config, vrrp.Options{Transport: stubNet{}, Actions: stubNet{}, Links: stubNet{}})
	if err != nil {
		t.Fatal(err)
	}
	return inst.Config()
}

// Every field of vrrp.Config can be set from a config file, and the running
// instance gets the file's value, not a default (issue 10: no field-by-field
// copy that forgets one, as garp_master_refresh_repeat and VIP labels were).
func TestEveryVRRPFieldReachesInstance(t *testing.T) {
	cfg := parse(t, `
global:
  vrrp_mcast_group4: 224.0.0.99
  vrrp_startup_delay: 2
  script_user: nobody
vrrp:
  - name: A
    interface: eth1
    vrid: 51
    priority: 200
    state: master
    advert_int: 2
    auth_pass: secret
    vips: [192.168.1.30/24 dev eth2 label eth2:vip]
    excluded_vips: [192.168.1.40/24]
    routes: [10.9.0.0/24 via 192.168.1.254]
    rules: [from 192.168.1.30 table 100]
    unicast_src_ip: 192.168.1.2
    unicast_peers: [192.168.1.3]
    track_interfaces: [eth3]
    notify_master: /bin/m
    notify_backup: /bin/b
    notify_fault: /bin/f
    notify_stop: /bin/s
    notify: /bin/n
    garp_master_delay: 3
    garp_master_repeat: 2
    garp_master_refresh: 30
    garp_master_refresh_repeat: 3
    garp_lower_prio_delay: 4
    garp_lower_prio_repeat: 6
    check_unicast_src: true
    skip_check_adv_addr: true
    higher_prio_send_advert: true
    track_scripts: [{name: chk, command: [/bin/true], interval: 3, timeout: 2, weight: -20, rise: 2, fall: 4, init_fail: true, user: nobody, group: nogroup}]
  - {name: B, interface: eth1, vrid: 52, priority: 50, version: 3, advert_int: 0.5, nopreempt: true, strict_mode: true, vips: [192.168.1.31]}
  - {name: C, interface: eth1, vrid: 53, preempt_delay: 7, vips: [192.168.1.32]}
`)
	def := parse(t, "vrrp:\n  - {name: D, interface: eth0, vrid: 1, vips: [10.0.0.1]}\n").VRRP[0].Config
	running := make([]vrrp.Config, len(cfg.VRRP))
	for i, v := range cfg.VRRP {
		running[i] = runVRRP(t, v)
		if !reflect.DeepEqual(running[i], v.Config) {
			t.Errorf("instance %s runs\n%+v\nconfigured\n%+v", v.Name, running[i], v.Config)
		}
	}
	// Fields the vrrp package has that no config keyword sets yet.
	notReadYet := map[string]string{}
	dv := reflect.ValueOf(def)
	for f := range dv.NumField() {
		name := dv.Type().Field(f).Name
		if _, ok := notReadYet[name]; ok {
			continue
		}
		set := false
		for _, r := range running {
			got := reflect.ValueOf(r).Field(f)
			if !got.IsZero() && !reflect.DeepEqual(got.Interface(), dv.Field(f).Interface()) {
				set = true
			}
		}
		if !set {
			t.Errorf("vrrp.Config.%s: no instance runs a value from the file (default %v): a config keyword does not reach VRRP", name, dv.Field(f))
		}
	}
}

// stubNet lets vrrp.New build an instance without opening sockets.
type stubNet struct{}

func (stubNet) LocalAddr() netip.Addr                                          { return netip.MustParseAddr("192.168.1.20") }
func (stubNet) Destinations() []netip.Addr                                     { return nil }
func (stubNet) Send(netip.Addr, []byte) error                                  { return nil }
func (stubNet) Receive() (vrrp.Packet, error)                                  { return vrrp.Packet{}, vrrp.ErrClosed }
func (stubNet) Close() error                                                   { return nil }
func (stubNet) AddVIPs([]vrrp.VIP) error                                       { return nil }
func (stubNet) RemoveVIPs([]vrrp.VIP) error                                    { return nil }
func (stubNet) SendGARP([]vrrp.VIP) error                                      { return nil }
func (stubNet) AddRoutes([]vrrp.Route, []vrrp.Rule) error                      { return nil }
func (stubNet) RemoveRoutes([]vrrp.Route, []vrrp.Rule) error                   { return nil }
func (stubNet) Notify(vrrp.Notification)                                       {}
func (stubNet) Watch([]string, <-chan struct{}) (<-chan vrrp.LinkEvent, error) { return nil, nil }

// global_defs' VRRP defaults reach the running instance (issue 11: a
// keepalived v3 peer next to an xlb that stayed on v2 meant split brain), and
// so do garp_master_refresh_repeat and a VIP's label.
func TestGlobalVRRPDefaultsReachInstance(t *testing.T) {
	cfg, _, err := config.Parse("k.conf", []byte(`global_defs {
    vrrp_version 3
    vrrp_mcast_group4 224.0.0.19
    vrrp_garp_master_refresh 30
    vrrp_garp_master_refresh_repeat 4
}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    advert_int 0.5
    virtual_ipaddress {
        192.168.1.30/32 dev eth0 label eth0:vip
    }
}
vrrp_instance VI_2 {
    interface eth0
    virtual_router_id 52
    version 2
    virtual_ipaddress {
        192.168.1.31
    }
}
`), config.FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	c := runVRRP(t, cfg.VRRP[0])
	if c.Version != 3 || c.AdvertInterval != 500*time.Millisecond {
		t.Errorf("VI_1 runs version %d advert %v, want global_defs' version 3 at 500ms", c.Version, c.AdvertInterval)
	}
	if c.McastGroup != netip.MustParseAddr("224.0.0.19") || c.GARPMasterRefresh != 30*time.Second || c.GARPMasterRefreshRepeat != 4 {
		t.Errorf("VI_1 group %v refresh %v x%d, want 224.0.0.19, 30s x4", c.McastGroup, c.GARPMasterRefresh, c.GARPMasterRefreshRepeat)
	}
	if len(c.VIPs) != 1 || c.VIPs[0].Label != "eth0:vip" {
		t.Errorf("VI_1 VIPs %+v, want the label eth0:vip", c.VIPs)
	}
	if c2 := runVRRP(t, cfg.VRRP[1]); c2.Version != 2 {
		t.Errorf("VI_2 runs version %d: the instance's own version 2 must win over global_defs", c2.Version)
	}
}
