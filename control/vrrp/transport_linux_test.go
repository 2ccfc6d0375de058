package vrrp_test

import (
	"net/netip"
	"testing"
	"time"

	"xlb/control/vrrp"
	"xlb/test/testutil"
)

// TestRawTransportTryReceive: TryReceive takes what the socket holds, in
// order, says so at once when it holds nothing, and does not wait behind a
// Receive blocked in another goroutine (Run's receive goroutine).
func TestRawTransportTryReceive(t *testing.T) {
	t.Parallel()
	testutil.RequirePriv(t)
	a, b := testutil.NewNetNS(t, "trya"), testutil.NewNetNS(t, "tryb")
	a.MustRun(t, "ip", "link", "add", "tr0", "type", "veth", "peer", "name", "tr1", "netns", b.Name)
	a.MustRun(t, "ip", "addr", "add", "10.78.0.1/24", "dev", "tr0")
	b.MustRun(t, "ip", "addr", "add", "10.78.0.2/24", "dev", "tr1")
	a.MustRun(t, "ip", "link", "set", "tr0", "up")
	b.MustRun(t, "ip", "link", "set", "tr1", "up")
	open := func(ns *testutil.NetNS, dev string) *vrrp.RawTransport {
		t.Helper()
		var tr *vrrp.RawTransport
		err := ns.Do(func() (err error) {
			tr, err = vrrp.OpenRawTransport(vrrp.Config{Name: "VI_T", Interface: dev, VRID: 7, Version: 2, McastGroup: vrrp.Group})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = tr.Close() })
		return tr
	}
	rx, tx := open(a, "tr0"), open(b, "tr1")
	if p, ok := rx.TryReceive(); ok {
		t.Fatalf("TryReceive on an empty socket: %+v", p)
	}
	send := func(prio uint8) {
		t.Helper()
		adv := vrrp.Advert{Version: 2, Type: vrrp.TypeAdvertisement, VRID: 7, Priority: prio, Count: 1, Interval: 1,
			Addrs: []netip.Addr{netip.MustParseAddr("10.78.0.100")}}
		if err := tx.Send(vrrp.Group, adv.Seal(tx.LocalAddr(), vrrp.Group)); err != nil {
			t.Fatal(err)
		}
	}
	for prio := range uint8(3) {
		send(100 + prio)
	}
	var got []uint8
	for deadline := time.Now().Add(5 * time.Second); len(got) < 3 && time.Now().Before(deadline); {
		p, ok := rx.TryReceive()
		if !ok {
			time.Sleep(time.Millisecond) // the veth delivers asynchronously
			continue
		}
		a, err := vrrp.ParseAdvert(p.Payload, false)
		if err != nil || p.Src != tx.LocalAddr() || p.Dst != vrrp.Group || p.TTL != 255 {
			t.Fatalf("TryReceive: %+v, %v", p, err)
		}
		got = append(got, a.Priority)
	}
	if len(got) != 3 || got[0] != 100 || got[1] != 101 || got[2] != 102 {
		t.Fatalf("TryReceive took priorities %v, want [100 101 102]", got)
	}
	if p, ok := rx.TryReceive(); ok {
		t.Fatalf("TryReceive after the socket was drained: %+v", p)
	}

	received := make(chan vrrp.Packet, 1)
	go func() {
		p, err := rx.Receive()
		if err == nil {
			received <- p
		}
	}()
	time.Sleep(20 * time.Millisecond) // let Receive block on the empty socket
	tried := make(chan bool, 1)
	go func() { _, ok := rx.TryReceive(); tried <- ok }()
	select {
	case ok := <-tried:
		if ok {
			t.Fatal("TryReceive found a packet that was never sent")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("TryReceive waited behind a blocked Receive")
	}
	send(200)
	select {
	case p := <-received:
		if a, err := vrrp.ParseAdvert(p.Payload, false); err != nil || a.Priority != 200 {
			t.Fatalf("Receive: %+v, %v", a, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Receive did not return the advert sent after TryReceive")
	}
}
