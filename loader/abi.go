package loader

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// The ABI of the data plane is what a pinned map's bytes mean: the layout of
// every struct and enum shared with Go, the layout of the load-time
// constants, and each map's definition (type, key and value sizes, entries,
// flags, inner map). Two builds with the same ABI can share pinned maps; any
// other pair must not, even when every size matches (a moved field or a
// renumbered enum would be silently reinterpreted).

// abiPin is the name of the map under the pin directory that holds the ABI
// of the maps pinned beside it. bpffs holds no plain files, hence a map.
const abiPin = "xlb_abi"

// abiLen is the length of the ABI hash (SHA-256).
const abiLen = sha256.Size

// ABIHash identifies a data-plane ABI.
type ABIHash [abiLen]byte

// String is the hash in hex, shortened: enough to tell builds apart in a
// log line or `--version`.
func (h ABIHash) String() string { return hex.EncodeToString(h[:6]) }

// ABI is the ABI of the data plane this binary embeds.
func ABI() (ABIHash, error) {
	spec, err := loadXlb()
	if err != nil {
		return ABIHash{}, fmt.Errorf("read embedded BPF object: %w", err)
	}
	return abiOf(spec), nil
}

// abiOf hashes spec's ABI. It must see the spec as built, before configure:
// the flow table's size is an option, not part of the ABI (a pinned table of
// another size is carried over like any other change, see upgrade).
func abiOf(spec *ebpf.CollectionSpec) ABIHash {
	h := sha256.New()
	names := make([]string, 0, len(spec.Maps))
	for name := range spec.Maps {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprintf(h, "map %s ", name)
		describeMap(h, spec.Maps[name])
		io.WriteString(h, "\n")
	}
	// Enums index counter arrays and fill struct fields, yet appear in no
	// map's key or value type: hash every xlb_ type of the object by name.
	for _, t := range sharedTypes(spec) {
		io.WriteString(h, "type ")
		describeType(h, t, map[btf.Type]bool{})
		io.WriteString(h, "\n")
	}
	var out ABIHash
	h.Sum(out[:0])
	return out
}

// sharedTypes are the object's structs and enums shared with Go (named
// xlb_), sorted by name.
func sharedTypes(spec *ebpf.CollectionSpec) []btf.Type {
	var named []btf.Type
	if spec.Types == nil {
		return nil
	}
	for t, err := range spec.Types.All() {
		if err != nil {
			break
		}
		switch t.(type) {
		case *btf.Struct, *btf.Union, *btf.Enum:
			if strings.HasPrefix(t.TypeName(), "xlb_") {
				named = append(named, t)
			}
		}
	}
	slices.SortFunc(named, func(a, b btf.Type) int { return strings.Compare(a.TypeName(), b.TypeName()) })
	return named
}

func describeMap(w io.Writer, m *ebpf.MapSpec) {
	fmt.Fprintf(w, "%s key=%d value=%d entries=%d flags=%#x ", m.Type, m.KeySize, m.ValueSize, m.MaxEntries, m.Flags)
	if m.Key != nil {
		io.WriteString(w, "key:")
		describeType(w, m.Key, map[btf.Type]bool{})
	}
	if m.Value != nil {
		io.WriteString(w, " value:")
		describeType(w, m.Value, map[btf.Type]bool{})
	}
	if m.InnerMap != nil {
		io.WriteString(w, " inner:(")
		describeMap(w, m.InnerMap)
		io.WriteString(w, ")")
	}
}

// describeType writes a canonical description of t's layout: names, sizes,
// offsets, encodings and enum values; nothing that varies between two
// compilations of the same source (type ids, line info).
func describeType(w io.Writer, t btf.Type, seen map[btf.Type]bool) {
	if t == nil {
		io.WriteString(w, "void")
		return
	}
	if seen[t] {
		fmt.Fprintf(w, "%s(ref)", t.TypeName())
		return
	}
	seen[t] = true
	defer delete(seen, t)
	switch t := t.(type) {
	case *btf.Int:
		fmt.Fprintf(w, "int %s %d %s", t.Name, t.Size, t.Encoding)
	case *btf.Struct:
		describeMembers(w, "struct", t.Name, t.Size, t.Members, seen)
	case *btf.Union:
		describeMembers(w, "union", t.Name, t.Size, t.Members, seen)
	case *btf.Enum:
		fmt.Fprintf(w, "enum %s %d signed=%t {", t.Name, t.Size, t.Signed)
		for _, v := range t.Values {
			fmt.Fprintf(w, "%s=%d;", v.Name, v.Value)
		}
		io.WriteString(w, "}")
	case *btf.Array:
		fmt.Fprintf(w, "[%d]", t.Nelems)
		describeType(w, t.Type, seen)
	case *btf.Typedef:
		fmt.Fprintf(w, "typedef %s=", t.Name)
		describeType(w, t.Type, seen)
	case *btf.Pointer:
		io.WriteString(w, "*")
		describeType(w, t.Target, seen)
	case *btf.Const:
		io.WriteString(w, "const ")
		describeType(w, t.Type, seen)
	case *btf.Volatile:
		io.WriteString(w, "volatile ")
		describeType(w, t.Type, seen)
	case *btf.Restrict:
		io.WriteString(w, "restrict ")
		describeType(w, t.Type, seen)
	case *btf.Datasec:
		fmt.Fprintf(w, "datasec %s %d {", t.Name, t.Size)
		for _, v := range t.Vars {
			fmt.Fprintf(w, "@%d+%d:", v.Offset, v.Size)
			describeType(w, v.Type, seen)
			io.WriteString(w, ";")
		}
		io.WriteString(w, "}")
	case *btf.Var:
		fmt.Fprintf(w, "var %s ", t.Name)
		describeType(w, t.Type, seen)
	default:
		fmt.Fprintf(w, "%T %s", t, t.TypeName())
	}
}

func describeMembers(w io.Writer, kind, name string, size uint32, members []btf.Member, seen map[btf.Type]bool) {
	fmt.Fprintf(w, "%s %s %d {", kind, name, size)
	for _, m := range members {
		fmt.Fprintf(w, "%s@%d:%d ", m.Name, m.Offset, m.BitfieldSize)
		describeType(w, m.Type, seen)
		io.WriteString(w, ";")
	}
	io.WriteString(w, "}")
}

// ErrOtherABI is returned by OpenPinned for maps another build pinned.
var ErrOtherABI = errors.New("pinned by a different xlbd build")

// readPinnedABI reads the ABI pinned in dir. ok is false when there is none:
// a directory pinned by a build from before ABIs were pinned.
func readPinnedABI(dir string) (h ABIHash, ok bool, err error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, abiPin), nil)
	if errors.Is(err, os.ErrNotExist) {
		return h, false, nil
	}
	if err != nil {
		return h, false, fmt.Errorf("open pinned ABI: %w", err)
	}
	defer m.Close()
	var v []byte
	if err := m.Lookup(uint32(0), &v); err != nil {
		return h, false, fmt.Errorf("read pinned ABI: %w", err)
	}
	if len(v) < abiLen {
		return h, false, fmt.Errorf("pinned ABI is %d bytes, want >= %d", len(v), abiLen)
	}
	copy(h[:], v)
	return h, true, nil
}

// pinABI pins h as path: a one-entry array, frozen so nothing can change it.
// Its value type is a struct with a member of each shared type after the
// hash, so the kernel keeps, with the pin, the BTF of every struct and enum
// of this build: what a later build needs to translate the maps (an enum
// that indexes a counter array is in no map's own BTF).
func pinABI(path string, h ABIHash, spec *ebpf.CollectionSpec) error {
	u8 := &btf.Int{Name: "unsigned char", Size: 1}
	members := []btf.Member{{Name: "hash", Type: &btf.Array{Index: &btf.Int{Name: "unsigned int", Size: 4}, Type: u8, Nelems: abiLen}}}
	off := uint32(abiLen)
	for _, t := range sharedTypes(spec) {
		sz, err := btf.Sizeof(t)
		if err != nil {
			return fmt.Errorf("size of %s: %w", t.TypeName(), err)
		}
		members = append(members, btf.Member{Name: t.TypeName(), Type: t, Offset: btf.Bits(off * 8)})
		off += (uint32(sz) + 7) &^ 7
	}
	value := &btf.Struct{Name: "xlb_abi", Size: off, Members: members}
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: abiPin, Type: ebpf.Array, KeySize: 4, ValueSize: off, MaxEntries: 1,
		Key: &btf.Int{Name: "unsigned int", Size: 4}, Value: value})
	if err != nil {
		return fmt.Errorf("create ABI map: %w", err)
	}
	defer m.Close()
	v := make([]byte, off)
	copy(v, h[:])
	if err := m.Put(uint32(0), v); err != nil {
		return fmt.Errorf("write ABI map: %w", err)
	}
	if err := m.Freeze(); err != nil {
		return fmt.Errorf("freeze ABI map: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("replace pinned ABI: %w", err)
	}
	if err := m.Pin(path); err != nil {
		return fmt.Errorf("pin ABI: %w", err)
	}
	return nil
}

// pinnedABITypes is the BTF pinned with the ABI in dir (see pinABI), nil
// when there is none.
func pinnedABITypes(dir string) *btf.Spec {
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, abiPin), nil)
	if err != nil {
		return nil
	}
	defer m.Close()
	s, err := mapTypes(m)
	if err != nil {
		return nil
	}
	return s
}

// checkPinnedABI says, in the words an operator needs, why the maps in dir
// cannot be read by this build.
func checkPinnedABI(dir string, want ABIHash) error {
	got, ok, err := readPinnedABI(dir)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: %w (an xlbd from before ABI pins, this xlbctl abi %s): restart xlbd with this build to upgrade the pins in place, or use the xlbctl of the running build", dir, ErrOtherABI, want)
	}
	if !bytes.Equal(got[:], want[:]) {
		return fmt.Errorf("%s: %w (abi %s, this xlbctl %s): use the xlbctl of the running xlbd, or restart xlbd with this build to upgrade the pins in place", dir, ErrOtherABI, got, want)
	}
	return nil
}
