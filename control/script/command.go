package script

import "slices"

// Command is an operator script as keepalived.conf names one: the words it
// runs (not through a shell) and who runs it. keepalived writes it
// `KEYWORD SCRIPT [USER [GROUP]]` for notify_* and quorum_* (notify_script_init
// in keepalived/core/notify.c), where SCRIPT, quoted when it has arguments, is
// split into Argv.
type Command struct {
	Argv  []string
	User  string // "": the policy's script_user (then keepalived_script)
	Group string // "": User's primary group
}

// IsZero reports whether no script is set.
func (c Command) IsZero() bool { return len(c.Argv) == 0 }

// Equal reports whether c and o run the same words as the same user.
func (c Command) Equal(o Command) bool {
	return slices.Equal(c.Argv, o.Argv) && c.User == o.User && c.Group == o.Group
}
