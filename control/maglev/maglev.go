// Package maglev builds weighted Maglev lookup tables (Eisenbud et al.,
// "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI 2016).
//
// Each backend walks its own permutation of the table's slots, given by an
// offset and a skip derived from a hash of its name; backends take turns
// claiming their next free preferred slot until the table is full. Weights
// follow Katran's scheme: in every round a backend accumulates its weight and
// claims a slot each time the accumulator passes the largest weight, so its
// share of slots tracks its share of the total weight.
//
// The table depends only on the set of (name, weight) pairs, never on their
// order or on the host, so two directors given the same backends build the
// same table and send every new flow to the same backend.
package maglev

import (
	"cmp"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
)

// Backend is one entry of a table.
type Backend struct {
	// ID is what the table's slots hold. 0 means "no backend" and is rejected.
	ID uint32
	// Name is the backend's stable identity ("10.0.0.1:3306"): it alone
	// decides the backend's permutation, so it must be the same on every
	// director and must not change when other backends come and go.
	Name string
	// Weight is the backend's relative share; 0 leaves it out of the table.
	Weight uint32
}

// ErrNotPrime is returned for a table size that is not a prime.
var ErrNotPrime = errors.New("maglev table size must be a prime")

// Build returns a table of size slots (a prime) holding backend IDs. With no
// backend of positive weight every slot is 0.
func Build(backends []Backend, size int) ([]uint32, error) {
	if size < 2 || !isPrime(size) {
		return nil, fmt.Errorf("%w: %d", ErrNotPrime, size)
	}
	live := make([]Backend, 0, len(backends))
	seen := make(map[string]bool, len(backends))
	for _, b := range backends {
		if b.ID == 0 {
			return nil, fmt.Errorf("backend %q: id 0 is reserved for empty slots", b.Name)
		}
		if seen[b.Name] {
			return nil, fmt.Errorf("backend %q listed twice", b.Name)
		}
		seen[b.Name] = true
		if b.Weight > 0 {
			live = append(live, b)
		}
	}
	table := make([]uint32, size)
	if len(live) == 0 {
		return table, nil
	}
	// Sorted by name: ties between backends are broken the same way on
	// every director, whatever order the config lists them in.
	slices.SortFunc(live, func(a, b Backend) int { return cmp.Compare(a.Name, b.Name) })

	n := len(live)
	offset := make([]uint64, n)
	skip := make([]uint64, n)
	next := make([]uint64, n)
	acc := make([]uint64, n)
	var maxWeight uint64
	for i, b := range live {
		h1, h2 := hashName(b.Name)
		offset[i] = h1 % uint64(size)
		skip[i] = h2%uint64(size-1) + 1
		maxWeight = max(maxWeight, uint64(b.Weight))
	}

	filled := make([]bool, size)
	for placed := 0; ; {
		for i := range live {
			acc[i] += uint64(live[i].Weight)
			if acc[i] < maxWeight {
				continue
			}
			acc[i] -= maxWeight
			c := (offset[i] + next[i]*skip[i]) % uint64(size)
			for filled[c] {
				next[i]++
				c = (offset[i] + next[i]*skip[i]) % uint64(size)
			}
			filled[c] = true
			table[c] = live[i].ID
			next[i]++
			if placed++; placed == size {
				return table, nil
			}
		}
	}
}

// hashName gives two independent 64-bit hashes of a name: FNV-1a, then two
// differently seeded finalizers, so offset and skip are not correlated.
func hashName(name string) (uint64, uint64) {
	f := fnv.New64a()
	f.Write([]byte(name))
	h := f.Sum64()
	return fmix64(h ^ 0x9e3779b97f4a7c15), fmix64(h ^ 0xc2b2ae3d27d4eb4f)
}

func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

// Shares counts each backend ID's slots in a table, as a fraction of it.
func Shares(table []uint32) map[uint32]float64 {
	counts := make(map[uint32]int)
	for _, id := range table {
		counts[id]++
	}
	out := make(map[uint32]float64, len(counts))
	for id, c := range counts {
		out[id] = float64(c) / float64(len(table))
	}
	return out
}
