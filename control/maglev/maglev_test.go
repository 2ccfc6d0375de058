package maglev

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

const size = 65537

func backends(n int, weight func(i int) uint32) []Backend {
	bs := make([]Backend, n)
	for i := range bs {
		bs[i] = Backend{ID: uint32(i + 1), Name: fmt.Sprintf("10.%d.%d.%d:3306", i>>16&255, i>>8&255, i&255), Weight: weight(i)}
	}
	return bs
}

// Every backend's share of slots is within 1% (relative) of its share of the
// total weight, or within two slots where that is more than 1% of its share
// (1000 backends hold ~65 slots each: one slot is 1.5%), from 2 to 1000
// backends with equal, mixed and skewed weights.
func TestSharesFollowWeights(t *testing.T) {
	worstRel := 0.0
	for _, n := range []int{2, 3, 5, 10, 50, 100, 250, 500, 1000} {
		for _, tc := range []struct {
			name   string
			weight func(i int) uint32
		}{
			{"equal", func(int) uint32 { return 1 }},
			{"1to4", func(i int) uint32 { return uint32(i%4 + 1) }},
			{"skewed", func(i int) uint32 {
				if i == 0 {
					return 100
				}
				return 1
			}},
		} {
			t.Run(fmt.Sprintf("%d/%s", n, tc.name), func(t *testing.T) {
				bs := backends(n, tc.weight)
				table, err := Build(bs, size)
				if err != nil {
					t.Fatal(err)
				}
				var total float64
				for _, b := range bs {
					total += float64(b.Weight)
				}
				shares := Shares(table)
				if _, ok := shares[0]; ok {
					t.Fatalf("table has empty slots")
				}
				for _, b := range bs {
					want := float64(b.Weight) / total
					got := shares[b.ID]
					tol := max(0.01*want, 2.0/size)
					if d := math.Abs(got - want); d > tol {
						t.Errorf("backend %s weight %d: share %.5f, want %.5f +- %.5f", b.Name, b.Weight, got, want, tol)
					}
					worstRel = max(worstRel, math.Abs(got-want)/want)
				}
			})
		}
	}
	t.Logf("worst relative deviation of a backend's share from its weight share: %.1f%%", worstRel*100)
}

// Removing one backend of N moves few slots that did not belong to it: the
// Maglev paper's "minimal disruption" property.
func TestRemovalDisruption(t *testing.T) {
	for _, n := range []int{2, 3, 10, 100, 1000} {
		bs := backends(n, func(int) uint32 { return 1 })
		before, err := Build(bs, size)
		if err != nil {
			t.Fatal(err)
		}
		victim := bs[n/2]
		after, err := Build(append(append([]Backend{}, bs[:n/2]...), bs[n/2+1:]...), size)
		if err != nil {
			t.Fatal(err)
		}
		moved := 0
		for i := range before {
			if before[i] != victim.ID && before[i] != after[i] {
				moved++
			}
			if after[i] == victim.ID {
				t.Fatalf("removed backend still in slot %d", i)
			}
		}
		frac := float64(moved) / size
		t.Logf("n=%d: removing one backend moved %.2f%% of the other backends' slots", n, frac*100)
		// The paper reports a few percent for 1000 backends; anything beyond
		// 5% means the permutation logic is broken.
		if frac > 0.05 {
			t.Errorf("n=%d: %.2f%% of unaffected slots moved, want <= 5%%", n, frac*100)
		}
	}
}

// Same backends in any order give the same table: two directors agree.
func TestDeterministic(t *testing.T) {
	bs := backends(37, func(i int) uint32 { return uint32(i%3 + 1) })
	want, err := Build(bs, size)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 5; trial++ {
		shuffled := append([]Backend{}, bs...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		got, err := Build(shuffled, size)
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("trial %d: slot %d differs (%d vs %d) for the same backends in another order", trial, i, got[i], want[i])
			}
		}
	}
	// Pin a few slots so a change of hash or algorithm, which would make two
	// directors of different versions disagree, fails loudly.
	two, _ := Build([]Backend{{ID: 1, Name: "192.168.1.10:3306", Weight: 1}, {ID: 2, Name: "192.168.1.11:3306", Weight: 1}}, size)
	if got := fmt.Sprint(two[:8]); got != goldenTwo {
		t.Fatalf("first slots of the two-backend table changed: %s, want %s", got, goldenTwo)
	}
}

const goldenTwo = "[1 2 2 1 2 1 2 1]"

func TestDrainedAndEmpty(t *testing.T) {
	table, err := Build([]Backend{{ID: 1, Name: "a", Weight: 0}, {ID: 2, Name: "b", Weight: 5}}, 7)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range table {
		if id != 2 {
			t.Fatalf("slot %d = %d: a weight-0 backend must get no slots", i, id)
		}
	}
	empty, err := Build(nil, 7)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range empty {
		if id != 0 {
			t.Fatalf("table without backends must be all empty, got %v", empty)
		}
	}
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		bs   []Backend
		size int
	}{
		{"size not prime", nil, 65536},
		{"size too small", nil, 1},
		{"id zero", []Backend{{ID: 0, Name: "a", Weight: 1}}, 7},
		{"duplicate name", []Backend{{ID: 1, Name: "a", Weight: 1}, {ID: 2, Name: "a", Weight: 1}}, 7},
	} {
		if _, err := Build(tc.bs, tc.size); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func BenchmarkBuild(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		bs := backends(n, func(i int) uint32 { return uint32(i%4 + 1) })
		b.Run(fmt.Sprintf("backends=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Build(bs, size); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
