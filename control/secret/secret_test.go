package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A password file gives its first line, without the line ending; an error
// names the file, never its content.
func TestFromFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"nl": "s3cret\n", "crlf": "s3cret\r\nignored\n", "bare": "s3cret"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := FromFile(p); err != nil || s.Reveal() != "s3cret" {
			t.Errorf("%s: %q, %v", name, s.Reveal(), err)
		}
	}
	missing := filepath.Join(dir, "missing")
	if _, err := FromFile(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v, want an error naming it", err)
	}
	if s := New("x"); s.String() != Redacted || New("").String() != "" || !New("").IsZero() {
		t.Errorf("printing: %q %q", s.String(), New("").String())
	}
}
