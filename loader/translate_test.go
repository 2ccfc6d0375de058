package loader

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// TestTranslate: members are matched by name wherever they moved, a member
// the new layout adds stays zero, one it drops is gone, enumerators keep
// their names across renumbering, and a value that does not fit a narrower
// field is refused rather than truncated.
func TestTranslate(t *testing.T) {
	u16 := &btf.Int{Name: "u16", Size: 2}
	u32 := &btf.Int{Name: "u32", Size: 4}
	oldEnum := &btf.Enum{Name: "e", Size: 4, Values: []btf.EnumValue{{Name: "X", Value: 0}, {Name: "Y", Value: 1}}}
	newEnum := &btf.Enum{Name: "e", Size: 4, Values: []btf.EnumValue{{Name: "Y", Value: 0}, {Name: "X", Value: 1}, {Name: "Z", Value: 2}}}
	from := &btf.Struct{Name: "s", Size: 12, Members: []btf.Member{
		{Name: "a", Type: u32, Offset: 0},
		{Name: "gone", Type: u16, Offset: 32},
		{Name: "small", Type: u16, Offset: 48},
		{Name: "kind", Type: oldEnum, Offset: 64},
	}}
	to := &btf.Struct{Name: "s", Size: 16, Members: []btf.Member{
		{Name: "kind", Type: newEnum, Offset: 0},
		{Name: "a", Type: u32, Offset: 32},
		{Name: "added", Type: u32, Offset: 64},
		{Name: "small", Type: u32, Offset: 96},
	}}
	tr, err := translate(from, to)
	if err != nil {
		t.Fatal(err)
	}
	src := make([]byte, 12)
	binary.LittleEndian.PutUint32(src[0:], 0xa1a2a3a4)
	binary.LittleEndian.PutUint16(src[4:], 0xffff)
	binary.LittleEndian.PutUint16(src[6:], 0x0102)
	binary.LittleEndian.PutUint32(src[8:], 1) // Y
	dst := make([]byte, 16)
	if err := tr(dst, src); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if kind, a, added, small := le.Uint32(dst[0:]), le.Uint32(dst[4:]), le.Uint32(dst[8:]), le.Uint32(dst[12:]); kind != 0 || a != 0xa1a2a3a4 || added != 0 || small != 0x0102 {
		t.Fatalf("translated kind=%d a=%#x added=%d small=%#x; want Y(0) 0xa1a2a3a4 0 0x102", kind, a, added, small)
	}

	// Back: the wider field narrows only when the value fits.
	back, err := translate(to, from)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 12)
	if err := back(out, dst); err != nil || le.Uint16(out[6:]) != 0x0102 || le.Uint32(out[8:]) != 1 {
		t.Fatalf("back: %x, %v", out, err)
	}
	le.PutUint32(dst[12:], 0x10000)
	if err := back(out, dst); !errors.Is(err, errNoFit) {
		t.Fatalf("0x10000 into a u16: %v, want errNoFit", err)
	}
	le.PutUint32(dst[12:], 1)
	le.PutUint32(dst[0:], 2) // Z: the old enum has no such name
	if err := back(out, dst); !errors.Is(err, errNoFit) {
		t.Fatalf("an enumerator the old enum lacks: %v, want errNoFit", err)
	}

	if _, err := translate(from, &btf.Struct{Name: "s", Size: 4, Members: []btf.Member{{Name: "a", Type: &btf.Array{Type: u32, Index: u32, Nelems: 1}}}}); err == nil {
		t.Fatal("an integer that became an array was translated")
	}
}
