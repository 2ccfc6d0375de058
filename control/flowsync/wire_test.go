package flowsync

import (
	"errors"
	"net/netip"
	"testing"

	"xlb/loader"
)

func entry(i int) Entry {
	return Entry{
		Flow: loader.FlowKey{Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), uint16(1024+i)),
			VIP: netip.MustParseAddrPort("192.168.1.30:3306"), Proto: loader.TCP},
		Backend: netip.MustParseAddr("192.168.1.11"),
	}
}

func TestRoundTrip(t *testing.T) {
	var es []Entry
	for i := 0; i < MaxEntries; i++ {
		es = append(es, entry(i))
	}
	b, err := Encode(es)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 1400 {
		t.Fatalf("datagram of %d bytes exceeds 1400", len(b))
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range es {
		if got[i] != es[i] {
			t.Fatalf("entry %d: %+v, want %+v", i, got[i], es[i])
		}
	}
	if _, err := Encode(nil); err == nil {
		t.Fatal("empty datagram encoded")
	}
}

func TestDecodeRejects(t *testing.T) {
	good, _ := Encode([]Entry{entry(1)})
	mut := func(f func(b []byte) []byte) []byte { c := append([]byte(nil), good...); return f(c) }
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"magic", mut(func(b []byte) []byte { b[0] = 'Y'; return b }), ErrMagic},
		{"version", mut(func(b []byte) []byte { b[4] = 9; return b }), ErrVersion},
		{"count zero", mut(func(b []byte) []byte { b[5] = 0; return b }), ErrCount},
		{"count too big", mut(func(b []byte) []byte { b[5] = 2; return b }), ErrCount},
		{"truncated", good[:len(good)-1], ErrCount},
		{"protocol", mut(func(b []byte) []byte { b[headerLen+12] = 1; return b }), ErrEntry},
	} {
		if _, err := Decode(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := Encode([]Entry{entry(1), entry(2)})
	f.Add(good)
	f.Add([]byte("XLBS"))
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Encode(es)
		if err != nil {
			t.Fatalf("decoded entries do not encode: %v", err)
		}
		es2, err := Decode(again)
		if err != nil || len(es2) != len(es) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range es {
			if es[i] != es2[i] {
				t.Fatalf("entry %d changed in round trip", i)
			}
		}
	})
}
