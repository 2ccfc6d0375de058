package health

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"xlb/control/config"
)

func TestUDPCheck(t *testing.T) {
	noLeak(t)
	var mu sync.Mutex
	var got [][]byte
	echo := udpResponder(t, func(q []byte) [][]byte {
		mu.Lock()
		got = append(got, q)
		mu.Unlock()
		return [][]byte{q}
	})
	silent := udpResponder(t, func([]byte) [][]byte { return nil })
	huge := udpResponder(t, func([]byte) [][]byte { return [][]byte{bytes.Repeat([]byte{0xab}, 60000)} })
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().String()
	pc.Close()

	pattern, mask, err := config.ParseHex("50 4f 4e 47 xx", true) // "PONG" then any byte
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		cfg     UDPConfig
		ok      bool
		wantErr error
		reason  string
	}{
		{name: "echo, reply not required", cfg: UDPConfig{Addr: echo, Payload: []byte("PING")}, ok: true, reason: "4-byte reply"},
		{name: "empty payload still sends a datagram", cfg: UDPConfig{Addr: echo, RequireReply: true}, ok: true, reason: "0-byte reply"},
		{name: "silence without require_reply is up", cfg: UDPConfig{Addr: silent, Payload: []byte{1}}, ok: true, reason: "no reply and no ICMP error"},
		{name: "silence with require_reply is down", cfg: UDPConfig{Addr: silent, RequireReply: true}, wantErr: ErrTimeout, reason: "no reply"},
		{name: "closed port: ICMP unreachable is down", cfg: UDPConfig{Addr: closed}, wantErr: ErrConnect, reason: "refused"},
		{name: "reply matches with a wildcard byte", cfg: UDPConfig{Addr: echo, Payload: []byte("PONG!"), RequireReply: true, Reply: pattern, ReplyMask: mask}, ok: true},
		{name: "reply differs", cfg: UDPConfig{Addr: echo, Payload: []byte("PANG!"), RequireReply: true, Reply: pattern, ReplyMask: mask},
			wantErr: ErrProtocol, reason: "reply byte 1 is 0x41, want 0x4f"},
		{name: "reply too short", cfg: UDPConfig{Addr: echo, Payload: []byte("PO"), RequireReply: true, Reply: pattern, ReplyMask: mask, MinReplyLen: 5},
			wantErr: ErrProtocol, reason: "reply of 2 bytes, want 5-255"},
		{name: "60 KB reply is over the default 255", cfg: UDPConfig{Addr: huge, RequireReply: true, Reply: []byte{0xab}},
			wantErr: ErrProtocol, reason: "over 255 bytes"},
		{name: "60 KB reply is fine when only a reply is required", cfg: UDPConfig{Addr: huge, RequireReply: true}, ok: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewUDP(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			r := checkWithin(c, 300*time.Millisecond)
			if r.OK != tc.ok || (tc.wantErr != nil && !errors.Is(r.Err, tc.wantErr)) || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("got %+v, want ok=%v err %v reason ~%q", r, tc.ok, tc.wantErr, tc.reason)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) < 2 || string(got[0]) != "PING" || len(got[1]) != 0 {
		t.Fatalf("echo server got %q, want the payload, then an empty datagram", got)
	}
}

func TestUDPConfigErrors(t *testing.T) {
	for name, cfg := range map[string]UDPConfig{
		"no port":              {Addr: "10.0.0.1"},
		"min above max":        {Addr: "10.0.0.1:53", RequireReply: true, MinReplyLen: 10, MaxReplyLen: 5},
		"reply without demand": {Addr: "10.0.0.1:53", Reply: []byte{1}},
		"mask length":          {Addr: "10.0.0.1:53", RequireReply: true, Reply: []byte{1, 2}, ReplyMask: []byte{0}},
		"payload too big":      {Addr: "10.0.0.1:53", Payload: make([]byte, 70000)},
	} {
		if _, err := NewUDP(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
