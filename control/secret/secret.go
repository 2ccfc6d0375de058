// Package secret is the one type for passwords (VRRP auth_pass, MySQL check
// credentials): every way of printing one shows "[redacted]", and only Reveal
// returns the value, for the code that must hand it on.
package secret

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Redacted is what a non-empty secret prints as.
const Redacted = "[redacted]"

// Secret holds a password. fmt (every verb), slog, JSON, YAML and text
// marshalling all show Redacted (an empty secret shows as empty).
type Secret struct{ v string }

// New wraps s.
func New(s string) Secret { return Secret{v: s} }

// FromFile reads a secret kept in a root-only file: its first line, without
// the line ending. Errors name the file, never its content.
func FromFile(path string) (Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Secret{}, fmt.Errorf("read password file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return New(strings.TrimSuffix(line, "\r")), nil
}

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return s.v }

// IsZero reports whether no secret is set.
func (s Secret) IsZero() bool { return s.v == "" }

func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return Redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return `secret.Secret("` + s.String() + `")` }

// Format covers every fmt verb, %x and %q included, which would otherwise
// print the field.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprint(f, s.String())
}

// LogValue keeps slog from printing the value.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalYAML keeps yaml.Marshal from printing the value.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalText keeps encoding/json and others from printing the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
