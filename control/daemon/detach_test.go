package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCheckIfaceName(t *testing.T) {
	for _, ok := range []string{"eth0", "lvs1", "veth-a.100", "enp0s31f6", "a23456789012345"} {
		if err := checkIfaceName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "../..", "a/b", "eth0:1", "a b", "a234567890123456"} {
		if err := checkIfaceName(bad); !errors.Is(err, ErrBadInterface) {
			t.Errorf("%q: %v, want ErrBadInterface", bad, err)
		}
	}
}

// detach -i with a name that escapes the pin root, or a pin root that is
// an ordinary directory, removes nothing.
func TestDetachRefusesWhatIsNotAPin(t *testing.T) {
	root := filepath.Join(t.TempDir(), "pins")
	victim := filepath.Join(root, "eth0")
	if err := os.MkdirAll(victim, 0o700); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(root, "..", "keep")
	if err := os.WriteFile(keep, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		ifaces []string
		want   error
	}{
		"parent":         {[]string{".."}, ErrBadInterface},
		"two up":         {[]string{"../.."}, ErrBadInterface},
		"empty name":     {[]string{""}, ErrBadInterface},
		"not on bpffs":   {[]string{"eth0"}, ErrNotBPFFS},
		"all, not bpffs": {nil, ErrNotBPFFS},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if err := Detach(root, tc.ifaces); !errors.Is(err, tc.want) {
				t.Fatalf("Detach(%q) = %v, want %v", tc.ifaces, err, tc.want)
			}
			for _, p := range []string{victim, keep} {
				if _, err := os.Stat(p); err != nil {
					t.Fatalf("%s gone after a refused detach: %v", p, err)
				}
			}
		})
	}
}
