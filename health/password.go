package health

import (
	"errors"
	"fmt"

	sec "xlb/control/secret"
)

// Password is a secret that never prints (see control/secret).
type Password = sec.Secret

// NewPassword wraps an inline secret.
func NewPassword(s string) Password { return sec.New(s) }

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
	p, err := sec.FromFile(file)
	if err != nil {
		return Password{}, fmt.Errorf("%w: %w", ErrPasswordSource, err)
	}
	if p.IsZero() {
		return Password{}, fmt.Errorf("%w: password_file %s is empty", ErrPasswordSource, file)
	}
	return p, nil
}
