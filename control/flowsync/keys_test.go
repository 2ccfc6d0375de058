package flowsync

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "  0123456789abcdef0123456789abcdef\n", 0o600)
	k, err := ReadKey(good)
	if err != nil {
		t.Fatal(err)
	}
	same, _ := NewKey([]byte("0123456789abcdef0123456789abcdef"), "x")
	if k.ID != same.ID {
		t.Errorf("white space around the key changed it: id %d, want %d", k.ID, same.ID)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"group readable", write("g", "0123456789abcdef0123456789abcdef", 0o640), "chmod 600"},
		{"world readable", write("w", "0123456789abcdef0123456789abcdef", 0o604), "lets group or others read it"},
		{"too short", write("short", "secret\n", 0o600), "at least 16"},
		{"missing", filepath.Join(dir, "none"), "no such file"},
		{"directory", dir, "not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ReadKey(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "flow sync key") {
				t.Errorf("%v, want an error saying %q", err, tc.want)
			}
		})
	}
	if _, err := LoadKeyring([]string{good, good}); err == nil || !strings.Contains(err.Error(), "same key id") {
		t.Errorf("one key file twice: %v", err)
	}
	if _, err := LoadKeyring([]string{good, good, good}); err == nil {
		t.Error("three keys accepted")
	}
}

// TestKeyIDsPrintAsNumbers: key ids reach the log, xlbctl and /status.json as
// numbers (a []uint8 is text to slog and base64 to encoding/json).
func TestKeyIDsPrintAsNumbers(t *testing.T) {
	a, b := &Key{ID: 186}, &Key{ID: 7}
	ring, err := NewKeyring(a, b)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(Status{KeyIDs: ring.IDs()})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"key_ids":[186,7]`) {
		t.Errorf("status JSON %s, want key_ids [186,7]", js)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "key_ids", ring.IDs())
	if !strings.Contains(buf.String(), "key_ids=\"[186 7]\"") {
		t.Errorf("log line %q, want key_ids=\"[186 7]\"", buf.String())
	}
}
