package loader

import "testing"

// TestFlowHash6UsesEveryWord: IPv6 flows that differ in one bit of any
// word of either address hash apart, and source affinity follows every word
// of the client address and nothing of the VIP's. TestHashSeed checks that
// the program hashes as this Go twin does.
func TestFlowHash6UsesEveryWord(t *testing.T) {
	const seed = DefaultHashSeed
	base := xlbXlbFlowKey6{Saddr: xlbXlbAddr{V6: [4]uint32{0x00fd, 0x0100, 0, 0x00010000}},
		Daddr: xlbXlbAddr{V6: [4]uint32{0x00fd, 0x0100, 0, 0x30000000}}, Sport: 0x1234, Dport: 0xea0c, Proto: 6}
	for w := 0; w < 8; w++ {
		for bit := 0; bit < 32; bit += 7 {
			k := base
			if w < 4 {
				k.Saddr.V6[w] ^= 1 << bit
			} else {
				k.Daddr.V6[w-4] ^= 1 << bit
			}
			if flowHash6(k, seed) == flowHash6(base, seed) {
				t.Errorf("word %d bit %d: flow hash unchanged", w, bit)
			}
			if changed := srcHash6(k, seed) != srcHash6(base, seed); changed != (w < 4) {
				t.Errorf("word %d bit %d: source hash changed %t, want %t (client words only)", w, bit, changed, w < 4)
			}
		}
	}
}
