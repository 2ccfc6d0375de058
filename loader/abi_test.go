package loader

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// TestABIHash: the hash is a function of the layout alone (stable across
// loads) and moves with every kind of change that makes pinned bytes mean
// something else.
func TestABIHash(t *testing.T) {
	base := func(t *testing.T) *ebpf.CollectionSpec {
		t.Helper()
		spec, err := loadXlb()
		if err != nil {
			t.Fatal(err)
		}
		return spec
	}
	want := abiOf(base(t))
	if got := abiOf(base(t)); got != want {
		t.Fatalf("two loads of one object hash differently: %s, %s", got, want)
	}
	if exported, err := ABI(); err != nil || exported != want {
		t.Fatalf("ABI() = %s, %v; want %s", exported, err, want)
	}
	member := func(spec *ebpf.CollectionSpec, typ, name string) *btf.Member {
		var s *btf.Struct
		if err := spec.Types.TypeByName(typ, &s); err != nil {
			t.Fatal(err)
		}
		for i := range s.Members {
			if s.Members[i].Name == name {
				return &s.Members[i]
			}
		}
		t.Fatalf("%s has no member %s", typ, name)
		return nil
	}
	for _, c := range []struct {
		name   string
		change func(*ebpf.CollectionSpec)
	}{
		{"struct member moved, same size", func(s *ebpf.CollectionSpec) {
			ip, sid := member(s, "xlb_backend", "ip"), member(s, "xlb_backend", "service_id")
			ip.Offset, sid.Offset = sid.Offset, ip.Offset
		}},
		{"struct member renamed", func(s *ebpf.CollectionSpec) { member(s, "xlb_flow", "backend_id").Name = "backend" }},
		{"enum renumbered", func(s *ebpf.CollectionSpec) {
			var e *btf.Enum
			if err := s.Types.TypeByName("xlb_reason", &e); err != nil {
				t.Fatal(err)
			}
			e.Values[0].Value, e.Values[1].Value = e.Values[1].Value, e.Values[0].Value
		}},
		{"constant layout", func(s *ebpf.CollectionSpec) { member(s, "xlb_config", "hash_seed").Name = "seed" }},
		{"map size", func(s *ebpf.CollectionSpec) { s.Maps["xlb_backends"].MaxEntries *= 2 }},
		{"Maglev size", func(s *ebpf.CollectionSpec) { s.Maps["xlb_maglev"].InnerMap.MaxEntries = 4099 }},
		{"map flags", func(s *ebpf.CollectionSpec) { s.Maps["xlb_flows"].Flags |= 1 }},
		{"map type", func(s *ebpf.CollectionSpec) { s.Maps["xlb_flows"].Type = ebpf.Hash }},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := base(t)
			c.change(spec)
			if got := abiOf(spec); got == want {
				t.Fatalf("hash unchanged (%s)", got)
			}
		})
	}
	t.Run("load-time values are not layout", func(t *testing.T) {
		spec := base(t)
		cfg := xlbXlbConfig{HashSeed: 12345, InsertsPerWindow: 7}
		if err := spec.Variables["xlb_cfg"].Set(cfg); err != nil {
			t.Fatal(err)
		}
		if got := abiOf(spec); got != want {
			t.Fatalf("setting .rodata values changed the hash: %s, want %s", got, want)
		}
	})
	t.Run("previous layout object differs", func(t *testing.T) {
		prev := prevSpec(t)
		if got := abiOf(prev); got == want {
			t.Fatalf("the previous build's object hashes like the current one: %s", got)
		}
	})
}
