package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf/btf"
)

// translator rewrites one key or value from the old layout (src) into the
// new one (dst, zeroed by the caller). An error means this one entry cannot
// be expressed in the new layout.
type translator func(dst, src []byte) error

var errNoFit = errors.New("value does not fit the new layout")

// translatorFor builds the translator of a map's key or value: newT is the
// new build's type, its old twin is the type of the same name in oldTypes.
// Plain integers (ids, indexes) need no BTF.
func translatorFor(oldTypes *btf.Spec, oldSize uint32, newT btf.Type, newSize uint32) (translator, error) {
	if newT == nil || isInt(newT) {
		if oldSize != newSize {
			return nil, fmt.Errorf("was %d bytes, now %d", oldSize, newSize)
		}
		return copyBytes(newSize), nil
	}
	u := btf.UnderlyingType(newT)
	if oldTypes == nil {
		return nil, fmt.Errorf("the old map carries no type information, so its %s cannot be translated: run `xlbd detach` to start afresh", u.TypeName())
	}
	cands, err := oldTypes.AnyTypesByName(u.TypeName())
	if err != nil {
		return nil, fmt.Errorf("the old build has no %s: run `xlbd detach` to start afresh: %w", u.TypeName(), err)
	}
	for _, c := range cands {
		if c := btf.UnderlyingType(c); sameKind(c, u) {
			if sz, err := btf.Sizeof(c); err != nil || uint32(sz) != oldSize {
				return nil, fmt.Errorf("old %s is %d bytes, the old map holds %d", u.TypeName(), sz, oldSize)
			}
			return translate(c, u)
		}
	}
	return nil, fmt.Errorf("the old build's %s is of another kind: run `xlbd detach` to start afresh", u.TypeName())
}

func isInt(t btf.Type) bool {
	_, ok := btf.UnderlyingType(t).(*btf.Int)
	return ok
}

func sameKind(a, b btf.Type) bool { return fmt.Sprintf("%T", a) == fmt.Sprintf("%T", b) }

func copyBytes(n uint32) translator {
	return func(dst, src []byte) error {
		copy(dst[:n], src)
		return nil
	}
}

func describe(t btf.Type) string {
	var b strings.Builder
	describeType(&b, t, map[btf.Type]bool{})
	return b.String()
}

// translate matches struct members by name (a member the old layout lacks
// stays zero; one the new layout lacks is dropped), enumerators by name and
// integers by value.
func translate(from, to btf.Type) (translator, error) {
	from, to = btf.UnderlyingType(from), btf.UnderlyingType(to)
	toSize, err := btf.Sizeof(to)
	if err != nil {
		return nil, err
	}
	fromSize, err := btf.Sizeof(from)
	if err != nil {
		return nil, err
	}
	if describe(from) == describe(to) {
		return copyBytes(uint32(toSize)), nil
	}
	if fu, ok := from.(*btf.Union); ok {
		// Back: the union narrows to its member of the new type when the
		// value is in that member alone (an IPv4 address, not an IPv6 one).
		if off, ok := unionMember(fu, to); ok {
			return func(dst, src []byte) error {
				for i, b := range src[:fromSize] {
					if (i < off || i >= off+toSize) && b != 0 {
						return errNoFit
					}
				}
				copy(dst[:toSize], src[off:off+toSize])
				return nil
			}, nil
		}
	}
	switch to := to.(type) {
	case *btf.Int:
		if !isIntLike(from) {
			return nil, fmt.Errorf("%s became an integer", from.TypeName())
		}
		return resizeInt(fromSize, toSize), nil
	case *btf.Enum:
		fe, ok := from.(*btf.Enum)
		if !ok {
			return nil, fmt.Errorf("%s became an enum", from.TypeName())
		}
		return enumByName(fe, to, fromSize, toSize), nil
	case *btf.Array:
		fa, ok := from.(*btf.Array)
		if !ok {
			return nil, fmt.Errorf("%s became an array", from.TypeName())
		}
		return arrayOf(fa, to)
	case *btf.Struct:
		fs, ok := from.(*btf.Struct)
		if !ok {
			return nil, fmt.Errorf("%s became a struct", from.TypeName())
		}
		return structOf(fs, to)
	case *btf.Union:
		// An IPv4-only address (__be32) that became union xlb_addr.
		if off, ok := unionMember(to, from); ok {
			return func(dst, src []byte) error {
				copy(dst[off:off+fromSize], src[:fromSize])
				return nil
			}, nil
		}
		return nil, fmt.Errorf("%s became a union without a member of its type", from.TypeName())
	}
	return nil, fmt.Errorf("%s changed in a way not carried over (%T)", to.TypeName(), to)
}

// unionMember is the byte offset of u's member whose layout is t's.
func unionMember(u *btf.Union, t btf.Type) (int, bool) {
	want := describe(btf.UnderlyingType(t))
	for _, m := range u.Members {
		if m.BitfieldSize == 0 && m.Offset%8 == 0 && describe(btf.UnderlyingType(m.Type)) == want {
			return int(m.Offset / 8), true
		}
	}
	return 0, false
}

func isIntLike(t btf.Type) bool {
	switch t.(type) {
	case *btf.Int, *btf.Enum:
		return true
	}
	return false
}

// resizeInt copies a little-endian integer into another width; a value the
// narrower width cannot hold is refused rather than truncated.
func resizeInt(from, to int) translator {
	return func(dst, src []byte) error {
		n := min(from, to)
		for _, b := range src[n:from] {
			if b != 0 {
				return errNoFit
			}
		}
		copy(dst[:n], src[:n])
		return nil
	}
}

func readUint(b []byte) uint64 {
	var buf [8]byte
	copy(buf[:], b)
	return binary.LittleEndian.Uint64(buf[:])
}

// enumRenames maps an enumerator's old name to its new one, so a value
// (a counter's index) is carried over a rename.
var enumRenames = map[string]string{
	"XLB_PASS_NOT_IPV4": "XLB_PASS_NOT_IP", // "not IPv4" became "neither IPv4 nor IPv6"
}

func newEnumName(old string) string {
	if n, ok := enumRenames[old]; ok {
		return n
	}
	return old
}

func enumByName(from, to *btf.Enum, fromSize, toSize int) translator {
	byName := map[string]uint64{}
	for _, v := range to.Values {
		byName[v.Name] = v.Value
	}
	m := map[uint64]uint64{}
	for _, v := range from.Values {
		if nv, ok := byName[newEnumName(v.Name)]; ok {
			m[v.Value] = nv
		}
	}
	return func(dst, src []byte) error {
		nv, ok := m[readUint(src[:fromSize])]
		if !ok {
			return errNoFit
		}
		var buf [8]byte
		binary.LittleEndian.PutUint64(buf[:], nv)
		copy(dst[:toSize], buf[:])
		return nil
	}
}

func arrayOf(from, to *btf.Array) (translator, error) {
	elem, err := translate(from.Type, to.Type)
	if err != nil {
		return nil, err
	}
	fs, err := btf.Sizeof(from.Type)
	if err != nil {
		return nil, err
	}
	ts, err := btf.Sizeof(to.Type)
	if err != nil {
		return nil, err
	}
	n := int(min(from.Nelems, to.Nelems))
	return func(dst, src []byte) error {
		for i := 0; i < n; i++ {
			if err := elem(dst[i*ts:(i+1)*ts], src[i*fs:(i+1)*fs]); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

type memberOp struct {
	from, to         int // byte offsets
	fromSize, toSize int
	t                translator
}

func structOf(from, to *btf.Struct) (translator, error) {
	old := map[string]btf.Member{}
	for _, m := range from.Members {
		old[m.Name] = m
	}
	var ops []memberOp
	for _, m := range to.Members {
		fm, ok := old[m.Name]
		if !ok {
			continue
		}
		if m.BitfieldSize != 0 || fm.BitfieldSize != 0 || m.Offset%8 != 0 || fm.Offset%8 != 0 {
			return nil, fmt.Errorf("%s.%s is a bit field: not carried over", to.Name, m.Name)
		}
		t, err := translate(fm.Type, m.Type)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", to.Name, m.Name, err)
		}
		fs, err := btf.Sizeof(fm.Type)
		if err != nil {
			return nil, err
		}
		ts, err := btf.Sizeof(m.Type)
		if err != nil {
			return nil, err
		}
		ops = append(ops, memberOp{from: int(fm.Offset / 8), to: int(m.Offset / 8), fromSize: fs, toSize: ts, t: t})
	}
	return func(dst, src []byte) error {
		for _, op := range ops {
			if err := op.t(dst[op.to:op.to+op.toSize], src[op.from:op.from+op.fromSize]); err != nil {
				return err
			}
		}
		return nil
	}, nil
}
