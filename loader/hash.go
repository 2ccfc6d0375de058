package loader

// The Go twin of bpf/xlb_hash.h: tests check that the kernel picks what this
// predicts, and the control plane uses it to show which backend owns a flow.

const hashSeed = 0x9e3779b9

func mix32(h uint32) uint32 {
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

func flowHash(k xlbXlbFlowKey) uint32 {
	h := uint32(hashSeed) ^ uint32(k.Proto)
	h = mix32(h ^ k.Saddr)
	h = mix32(h ^ k.Daddr)
	return mix32(h ^ (uint32(k.Sport) | uint32(k.Dport)<<16))
}

func srcHash(k xlbXlbFlowKey) uint32 { return mix32(hashSeed ^ k.Saddr) }

// TableSlot is the slot of the service's Maglev table a flow hashes to, as
// the program computes it.
func (d *Dataplane) TableSlot(k FlowKey, flags ServiceFlags) (int, error) {
	r, err := k.raw()
	if err != nil {
		return 0, err
	}
	h := flowHash(r)
	if flags&HashSource != 0 {
		h = srcHash(r)
	}
	return int(h % uint32(d.tableSize)), nil
}
