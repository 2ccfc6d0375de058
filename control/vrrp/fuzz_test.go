package vrrp

import (
	"bytes"
	"testing"
)

// FuzzParseAdvert: the parser never panics, and whatever it accepts (of
// either family) encodes back to the same bytes and parses to the same
// advert.
func FuzzParseAdvert(f *testing.F) {
	cfg := baseConfig()
	f.Add(advertFrom(cfg, addrPeer, 100, nil).Payload, false)
	cfg.Version = 3
	f.Add(advertFrom(cfg, addrPeer, 255, nil).Payload, false)
	f.Add(advertFrom(baseConfig6(), addrPeer6, 100, nil).Payload, true)
	f.Fuzz(func(t *testing.T, b []byte, v6 bool) {
		a, err := ParseAdvert(b, v6)
		if err != nil {
			if _, ok := err.(DropReason); !ok {
				t.Fatalf("error %v is not a DropReason", err)
			}
			return
		}
		if int(a.Count) != len(a.Addrs) || a.Len() != len(b) {
			t.Fatalf("inconsistent advert %+v for %d bytes", a, len(b))
		}
		out := a.Marshal()
		if !bytes.Equal(out, b) {
			t.Fatalf("round trip: in %x out %x", b, out)
		}
		if a.Version == 2 && v6 {
			t.Fatal("accepted VRRPv2 over IPv6")
		}
		again, err := ParseAdvert(out, v6)
		if err != nil || !bytes.Equal(again.Marshal(), out) {
			t.Fatalf("re-parse: %v", err)
		}
	})
}
