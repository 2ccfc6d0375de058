package hashseed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeSeed(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "seed")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRead(t *testing.T) {
	a, err := Read(writeSeed(t, "0123456789abcdef\n", 0o600))
	if err != nil {
		t.Fatal(err)
	}
	// Surrounding white space is not part of the seed: a file written by
	// echo and one written by printf give both directors the same seed.
	b, err := Read(writeSeed(t, "  0123456789abcdef", 0o400))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Read(writeSeed(t, "0123456789abcdeF", 0o600))
	if err != nil {
		t.Fatal(err)
	}
	if a != b || a == c || a == 0 {
		t.Fatalf("seeds %#x %#x %#x: want the first two equal, the third different, none 0", a, b, c)
	}
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"short", "abc1234\n", 0o600, "7 characters, want at least 8"},
		{"empty", "\n", 0o600, "0 characters"},
		{"group readable", "0123456789abcdef", 0o640, "mode 0640 lets group or others read it"},
		{"world readable", "0123456789abcdef", 0o604, "mode 0604"},
		{"too long", strings.Repeat("a", 5000), 0o600, "longer than 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(writeSeed(t, tc.content, tc.mode))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "flow hash seed") {
				t.Fatalf("err %v, want one naming the flow hash seed and %q", err, tc.want)
			}
		})
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing file accepted")
	}
	if _, err := Read(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("directory: err %v", err)
	}
}
