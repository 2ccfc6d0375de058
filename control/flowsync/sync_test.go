package flowsync

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"xlb/loader"
	"xlb/test/testutil"
)

var (
	vip     = netip.MustParseAddr("192.168.1.30")
	service = loader.ServiceKey{VIP: vip, Port: 3306, Proto: loader.TCP}
	db1     = netip.MustParseAddr("192.168.1.10")
	db2     = netip.MustParseAddr("192.168.1.11")
)

// director loads a data plane whose backend ids start at base, so the two
// directors' ids differ and only addresses can match flows up.
func director(t *testing.T, mac net.HardwareAddr, base uint32) *loader.Dataplane {
	t.Helper()
	dp, err := loader.Load(mac, loader.Options{MaxFlows: 4096, FlowEvents: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })
	if err := dp.SetService(service, loader.Service{ID: 1}); err != nil {
		t.Fatal(err)
	}
	table := make([]uint32, dp.TableSize())
	for i := range table {
		table[i] = base + uint32(i%2)
	}
	for i, ip := range []netip.Addr{db1, db2} {
		if err := dp.SetBackend(base+uint32(i), loader.Backend{ServiceID: 1, IP: ip, MAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(10 + i)}, State: loader.BackendActive}); err != nil {
			t.Fatal(err)
		}
	}
	if err := dp.WriteMaglev(service, table); err != nil {
		t.Fatal(err)
	}
	return dp
}

// segment is the client's SYN, or with ack a later segment of its flow: the
// program records a flow, and reports it for sync, on its second packet.
func segment(dst net.HardwareAddr, client netip.AddrPort, ack bool) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: client.Addr().AsSlice(), DstIP: vip.AsSlice()}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(client.Port()), DstPort: 3306, SYN: !ack, ACK: ack}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 100}, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}, ip, tcp)
	return buf.Bytes()
}

// A flow recorded by one director's program appears in the other's flow
// table, on the same backend address under the other's own id; malformed
// datagrams and flows of unknown services are counted and dropped.
func TestSyncBetweenDirectors(t *testing.T) {
	testutil.RequirePriv(t)
	seg := testutil.NewSegment(t, "fs")
	h1 := seg.AddHost(t, "lvs1", "192.168.1.20/24")
	h2 := seg.AddHost(t, "lvs2", "192.168.1.21/24")
	dp1 := director(t, h1.MAC, 1)
	dp2 := director(t, h2.MAC, 101)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	var waits []func()
	defer func() {
		cancel()
		for _, w := range waits {
			w()
		}
	}()
	var s2 *Syncer
	for _, d := range []struct {
		h  *testutil.Host
		dp *loader.Dataplane
	}{{h1, dp1}, {h2, dp2}} {
		err := d.h.Do(func() error {
			iface, err := net.InterfaceByName("eth0")
			if err != nil {
				return err
			}
			s := New(d.dp, iface, DefaultGroup, log)
			if d.dp == dp2 {
				s2 = s
			}
			w, err := s.Start(ctx)
			waits = append(waits, w)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // multicast joins settle

	clients := []netip.AddrPort{netip.MustParseAddrPort("192.168.1.100:40000"), netip.MustParseAddrPort("192.168.1.100:40001")}
	for _, c := range clients {
		for _, ack := range []bool{false, true} {
			if ret, err := dp1.Program().Run(&ebpf.RunOptions{Data: segment(h1.MAC, c, ack)}); err != nil || ret != 3 {
				t.Fatalf("frame through lvs1: %d %v", ret, err)
			}
		}
	}
	for _, c := range clients {
		flow := loader.FlowKey{Client: c, VIP: netip.AddrPortFrom(vip, 3306), Proto: loader.TCP}
		id1, _, _ := dp1.Flow(flow)
		deadline := time.Now().Add(3 * time.Second)
		for {
			id2, ok, err := dp2.Flow(flow)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				if id2 != id1+100 {
					t.Fatalf("flow %v: lvs1 has backend id %d, lvs2 got id %d (want %d: the same address)", c, id1, id2, id1+100)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("flow %v never reached lvs2: %+v", c, s2.Status())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Bad input from the segment: garbage, and a flow of a service lvs2 lacks.
	h1.MustRun(t, "ip", "route", "add", "224.0.0.0/4", "dev", "eth0")
	err := h1.Do(func() error {
		c, err := net.Dial("udp4", DefaultGroup.String())
		if err != nil {
			return err
		}
		defer c.Close()
		c.Write([]byte("garbage"))
		b, _ := Encode([]Entry{{Flow: loader.FlowKey{Client: clients[0], VIP: netip.MustParseAddrPort("192.168.1.31:3306"), Proto: loader.TCP}, Backend: db1}})
		_, err = c.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		st := s2.Status()
		if st.Dropped["malformed"] >= 1 && st.Dropped["unknown_service"] >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bad datagrams not counted: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
