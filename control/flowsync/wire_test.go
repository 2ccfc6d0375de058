package flowsync

import (
	"errors"
	"net/netip"
	"testing"

	"xlb/lb"
	"xlb/loader"
)

func entry(i int) Entry {
	return Entry{
		Flow: loader.FlowKey{Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), uint16(1024+i)),
			VIP: netip.MustParseAddrPort("192.168.1.30:3306"), Proto: lb.TCP},
		Backend: netip.MustParseAddr("192.168.1.11"),
	}
}

func testKey(t testing.TB, s string) *Key {
	t.Helper()
	k, err := NewKey([]byte(s), s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ring(t testing.TB, keys ...*Key) *Keyring {
	t.Helper()
	r, err := NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var peer1 = netip.MustParseAddr("192.168.1.20")

func msg(entries ...Entry) Message {
	return Message{Kind: KindFlows, Sender: peer1, Epoch: 7, Seq: 1, SentAt: 1_800_000_000_000, Count: 12345, Entries: entries}
}

func TestRoundTrip(t *testing.T) {
	k := testKey(t, "0123456789abcdef0123456789abcdef")
	var es []Entry
	for i := 0; i < MaxEntries; i++ {
		es = append(es, entry(i))
	}
	m := msg(es...)
	b, err := Seal(k, m)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 1400 {
		t.Fatalf("datagram of %d bytes exceeds 1400", len(b))
	}
	got, err := Open(ring(t, k), b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != m.Kind || got.Sender != m.Sender || got.Epoch != m.Epoch || got.Seq != m.Seq || got.SentAt != m.SentAt || got.Count != m.Count || len(got.Entries) != len(es) {
		t.Fatalf("header: %+v, want %+v", got, m)
	}
	for i := range es {
		if got.Entries[i] != es[i] {
			t.Fatalf("entry %d: %+v, want %+v", i, got.Entries[i], es[i])
		}
	}
	if _, err := Seal(k, msg(append(es, entry(999))...)); err == nil {
		t.Fatal("datagram over MaxEntries sealed")
	}
	req, err := Seal(k, Message{Kind: KindBulkRequest, Sender: peer1, Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := Open(ring(t, k), req); err != nil || m.Kind != KindBulkRequest || len(m.Entries) != 0 {
		t.Fatalf("bulk request: %+v %v", m, err)
	}
}

// Every byte of the header and the entries is covered by the HMAC, and a
// datagram under another key, or without a MAC, is refused.
func TestOpenRejects(t *testing.T) {
	k1 := testKey(t, "key-one-0123456789abcdef")
	k2 := testKey(t, "key-two-0123456789abcdef")
	good, _ := Seal(k1, msg(entry(1)))
	mut := func(f func(b []byte) []byte) []byte { c := append([]byte(nil), good...); return f(c) }
	other, _ := Seal(k2, msg(entry(1)))
	forgedID := append([]byte(nil), other...)
	forgedID[6] = k1.ID // claims k1 but is sealed with k2
	badProto := msg(entry(1))
	badProto.Entries[0].Flow.Proto = 1
	badProtoB, _ := Seal(k1, badProto)
	entriesInRequest := msg(entry(1))
	entriesInRequest.Kind = KindBulkRequest
	entriesInRequestB, _ := Seal(k1, entriesInRequest)
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"header only, no MAC", good[:headerLen], ErrShort},
		{"magic", mut(func(b []byte) []byte { b[0] = 'Y'; return b }), ErrMagic},
		{"version 1 (unauthenticated)", mut(func(b []byte) []byte { b[4] = 1; return b }), ErrVersion},
		{"count", mut(func(b []byte) []byte { b[7] = 2; return b }), ErrCount},
		{"MAC cut short", good[:len(good)-1], ErrCount},
		{"unknown key id", other, ErrKeyID},
		{"key id swapped", forgedID, ErrMAC},
		{"sender changed", mut(func(b []byte) []byte { b[11]++; return b }), ErrMAC},
		{"sequence changed", mut(func(b []byte) []byte { b[27]++; return b }), ErrMAC},
		{"count changed", mut(func(b []byte) []byte { b[39]++; return b }), ErrMAC},
		{"backend changed", mut(func(b []byte) []byte { b[headerLen+19]++; return b }), ErrMAC},
		{"MAC changed", mut(func(b []byte) []byte { b[len(b)-1]++; return b }), ErrMAC},
		{"kind", mut(func(b []byte) []byte { b[5] = 9; return k1.sum(b[:len(b)-macLen]) }), ErrKind},
		{"protocol", badProtoB, ErrEntry},
		{"entries in a request", entriesInRequestB, ErrCount},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Open(ring(t, k1), tc.b); !errors.Is(err, tc.want) {
				t.Errorf("%v, want %v", err, tc.want)
			}
		})
	}
}

// During a rotation a director holds two keys: it opens datagrams sealed
// with either, and seals with the first.
func TestKeyringRotation(t *testing.T) {
	old := testKey(t, "old-key-0123456789abcdef")
	next := testKey(t, "new-key-0123456789abcdef")
	fromOld, _ := Seal(old, msg(entry(1)))
	fromNew, _ := Seal(next, msg(entry(1)))
	both := ring(t, next, old)
	for name, b := range map[string][]byte{"old": fromOld, "new": fromNew} {
		if _, err := Open(both, b); err != nil {
			t.Errorf("sealed with the %s key: %v", name, err)
		}
	}
	if both.Send() != next {
		t.Errorf("sends with key %d, want the first (%d)", both.Send().ID, next.ID)
	}
	if _, err := Open(ring(t, next), fromOld); !errors.Is(err, ErrKeyID) {
		t.Errorf("old key after it was dropped: %v, want %v", err, ErrKeyID)
	}
	if _, err := NewKeyring(old, old); err == nil {
		t.Error("the same key twice accepted")
	}
	if _, err := NewKeyring(); !errors.Is(err, ErrNoKey) {
		t.Errorf("no key: %v, want %v", err, ErrNoKey)
	}
}

func FuzzOpen(f *testing.F) {
	k := testKey(f, "fuzz-key-0123456789abcdef")
	good, _ := Seal(k, msg(entry(1), entry(2)))
	f.Add(good)
	f.Add([]byte("XLBS"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Open(ring(t, k), b)
		if err != nil {
			return
		}
		again, err := Seal(k, m)
		if err != nil {
			t.Fatalf("opened message does not seal: %v", err)
		}
		m2, err := Open(ring(t, k), again)
		if err != nil || len(m2.Entries) != len(m.Entries) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range m.Entries {
			if m.Entries[i] != m2.Entries[i] {
				t.Fatalf("entry %d changed in round trip", i)
			}
		}
	})
}

// BenchmarkSeal and BenchmarkOpen measure the HMAC's cost per datagram at
// the largest size (MaxEntries flows).
func BenchmarkSeal(b *testing.B) {
	k := testKey(b, "bench-key-0123456789abcdef0123456789")
	var es []Entry
	for i := 0; i < MaxEntries; i++ {
		es = append(es, entry(i))
	}
	m := msg(es...)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Seal(k, m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	k := testKey(b, "bench-key-0123456789abcdef0123456789")
	var es []Entry
	for i := 0; i < MaxEntries; i++ {
		es = append(es, entry(i))
	}
	d, _ := Seal(k, msg(es...))
	r := ring(b, k)
	b.SetBytes(int64(len(d)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Open(r, d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenForged is the cost of refusing a forged full-size datagram:
// what a flood of them costs the receiver.
func BenchmarkOpenForged(b *testing.B) {
	k := testKey(b, "bench-key-0123456789abcdef0123456789")
	var es []Entry
	for i := 0; i < MaxEntries; i++ {
		es = append(es, entry(i))
	}
	d, _ := Seal(k, msg(es...))
	d[len(d)-1]++
	r := ring(b, k)
	b.SetBytes(int64(len(d)))
	for b.Loop() {
		if _, err := Open(r, d); !errors.Is(err, ErrMAC) {
			b.Fatal(err)
		}
	}
}
