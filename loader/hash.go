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

func flowHash(k xlbXlbFlowKey, seed uint32) uint32 {
	h := seed ^ uint32(k.Proto)
	h = mix32(h ^ k.Saddr)
	h = mix32(h ^ k.Daddr)
	return mix32(h ^ (uint32(k.Sport) | uint32(k.Dport)<<16))
}

func srcHash(k xlbXlbFlowKey, seed uint32) uint32 { return mix32(seed ^ k.Saddr) }

// IPv6: the same over an address's four words.
func addr6Hash(h uint32, a xlbXlbAddr) uint32 {
	for _, w := range a.V6 {
		h = mix32(h ^ w)
	}
	return h
}

func flowHash6(k xlbXlbFlowKey6, seed uint32) uint32 {
	h := seed ^ uint32(k.Proto)
	h = addr6Hash(h, k.Saddr)
	h = addr6Hash(h, k.Daddr)
	return mix32(h ^ (uint32(k.Sport) | uint32(k.Dport)<<16))
}

func srcHash6(k xlbXlbFlowKey6, seed uint32) uint32 { return addr6Hash(seed, k.Saddr) }

// tableHash is the hash the program takes a flow's Maglev slot from.
func tableHash(r rawFlowKey, flags ServiceFlags, seed uint32) uint32 {
	switch {
	case r.v6 && flags&HashSource != 0:
		return srcHash6(r.k6, seed)
	case r.v6:
		return flowHash6(r.k6, seed)
	case flags&HashSource != 0:
		return srcHash(r.k4, seed)
	}
	return flowHash(r.k4, seed)
}

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
	return int(tableHash(r, flags, d.hashSeed) % uint32(d.tableSize)), nil
}
