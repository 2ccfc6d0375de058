package loader

import "errors"

// The Go twin of bpf/xlb_hash.h: tests check that the kernel picks what this
// predicts, and the control plane uses it to show which backend owns a flow.

func mix32(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// addrHash mixes an address in: one word for IPv4, four for IPv6, so IPv4
// flows hash as they did before IPv6.
func addrHash(h uint32, a xlbXlbAddr, family uint8) uint32 {
	h = mix32(h ^ a.V6[0])
	if family == familyIPv6 {
		h = mix32(h ^ a.V6[1])
		h = mix32(h ^ a.V6[2])
		h = mix32(h ^ a.V6[3])
	}
	return h
}

func flowHash(k xlbXlbFlowKey, seed uint32) uint32 {
	h := seed ^ uint32(k.Proto)
	h = addrHash(h, k.Saddr, k.Family)
	h = addrHash(h, k.Daddr, k.Family)
	return mix32(h ^ (uint32(k.Sport) | uint32(k.Dport)<<16))
}

func srcHash(k xlbXlbFlowKey, seed uint32) uint32 { return addrHash(seed, k.Saddr, k.Family) }

// TableSlot is the slot of the service's Maglev table a flow hashes to, as
// the program computes it with the seed it was loaded with. A data plane
// from OpenPinned does not know that seed: ask the one that loaded it.
func (d *Dataplane) TableSlot(k FlowKey, flags ServiceFlags) (int, error) {
	if d.hashSeed == 0 {
		return 0, errors.New("flow hash seed unknown: this data plane was opened from pins, not loaded")
	}
	r, err := k.raw()
	if err != nil {
		return 0, err
	}
	h := flowHash(r, d.hashSeed)
	if flags&HashSource != 0 {
		h = srcHash(r, d.hashSeed)
	}
	return int(h % uint32(d.tableSize)), nil
}
