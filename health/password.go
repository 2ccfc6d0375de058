package health

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

const redacted = "[redacted]"

// Password is a secret that never prints: fmt (every verb), slog, JSON, YAML
// and text marshalling all show "[redacted]". Only Reveal gives the value, for
// handing to a driver.
type Password struct{ secret string }

// NewPassword wraps an inline secret.
func NewPassword(s string) Password { return Password{secret: s} }

// ErrPasswordSource: both or neither of an inline password and a password
// file were given where exactly one is needed, or the file is unusable.
var ErrPasswordSource = errors.New("password source")

// LoadPassword returns inline if set, else the first line of file (without
// its line ending), as keepalived users keep secrets in root-only files. Both
// set is an error: one of them would be silently ignored.
func LoadPassword(inline, file string) (Password, error) {
	switch {
	case inline != "" && file != "":
		return Password{}, fmt.Errorf("%w: both password and password_file are set", ErrPasswordSource)
	case file == "":
		return NewPassword(inline), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		// The path is not secret; the content never reaches this message.
		return Password{}, fmt.Errorf("%w: read password_file: %w", ErrPasswordSource, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return Password{}, fmt.Errorf("%w: password_file %s is empty", ErrPasswordSource, file)
	}
	return NewPassword(line), nil
}

// Reveal returns the secret.
func (p Password) Reveal() string { return p.secret }

// IsZero reports whether no password is set.
func (p Password) IsZero() bool { return p.secret == "" }

func (p Password) String() string   { return redacted }
func (p Password) GoString() string { return "health.Password{" + redacted + "}" }

// Format covers the verbs String does not (%d, %x on the struct...), which
// would otherwise print the field.
func (p Password) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(p.GoString()))
		return
	}
	_, _ = f.Write([]byte(redacted))
}

// LogValue keeps the secret out of slog output.
func (p Password) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText keeps the secret out of JSON and YAML dumps of a configuration.
func (p Password) MarshalText() ([]byte, error) { return []byte(redacted), nil }
