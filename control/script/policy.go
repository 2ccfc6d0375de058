package script

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Identity is the user and group a script runs as.
type Identity struct {
	User   string
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups
}

func (id *Identity) credential() *syscall.Credential {
	return &syscall.Credential{Uid: id.UID, Gid: id.GID, Groups: id.Groups}
}

func (id *Identity) root() bool {
	return id == nil && os.Geteuid() == 0 || id != nil && (id.UID == 0 || id.GID == 0)
}

// defaultUser is the user keepalived runs scripts as when script_user is
// not set, if it exists (get_default_script_user, keepalived/core/notify.c).
const defaultUser = "keepalived_script"

// Policy is keepalived's script_user and enable_script_security.
type Policy struct {
	User     string // script_user; "" is keepalived_script if it exists, else xlbd's own user
	Group    string // script_user's optional group
	Security bool   // enable_script_security
}

// ErrInsecure is why a script is refused under enable_script_security.
var ErrInsecure = errors.New("refused by enable_script_security")

// Resolve finds who runs a script that names user and group (both optional;
// "" falls back to the policy's script_user, then to keepalived_script):
// nil means xlbd itself. As keepalived, a missing default user is no error
// without enable_script_security, and refuses the script with it.
func (p Policy) Resolve(usr, group string) (*Identity, error) {
	if usr == "" {
		usr, group = p.User, p.Group
	}
	if usr == "" {
		if _, err := user.Lookup(defaultUser); err != nil {
			if p.Security {
				return nil, fmt.Errorf("%w: no script_user and no user %s: %w", ErrInsecure, defaultUser, err)
			}
			return nil, nil
		}
		usr = defaultUser
	}
	u, err := user.Lookup(usr)
	if err != nil {
		return nil, fmt.Errorf("script user %q: %w", usr, err)
	}
	id := &Identity{User: u.Username}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("script user %q: uid %q: %w", usr, u.Uid, err)
	}
	gidStr := u.Gid
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("script group %q: %w", group, err)
		}
		gidStr = g.Gid
	}
	gid, err := strconv.ParseUint(gidStr, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("script user %q: gid %q: %w", usr, gidStr, err)
	}
	id.UID, id.GID = uint32(uid), uint32(gid)
	if gids, err := u.GroupIds(); err == nil {
		for _, s := range gids {
			if g, err := strconv.ParseUint(s, 10, 32); err == nil {
				id.Groups = append(id.Groups, uint32(g))
			}
		}
	}
	return id, nil
}

// Check applies enable_script_security to argv[0] run as id, as keepalived's
// check_script_secure and check_security (keepalived/core/notify.c) do: a
// script that runs as root (or is set-uid/gid root) is insecure when it, or
// a directory on its path (the path as written and the one it resolves to),
// is owned by a non-root user, or is writable by a non-root group or by
// everyone (a directory with the sticky bit excepted). An insecure script is
// refused only when the policy's Security is on; the error says why either
// way, for a warning.
func (p Policy) Check(argv0 string, id *Identity) error {
	path := argv0
	if !strings.Contains(path, "/") {
		found, err := exec.LookPath(path)
		if err != nil {
			return fmt.Errorf("script %s: %w", argv0, err)
		}
		path = found
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("script %s: %w", argv0, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("script %s: %w", argv0, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("script %s: %w", argv0, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	setRoot := st.Uid == 0 && st.Mode&syscall.S_ISUID != 0 && st.Mode&0o100 != 0 ||
		st.Gid == 0 && st.Mode&syscall.S_ISGID != 0 && st.Mode&0o010 != 0
	if !id.root() && !setRoot {
		return nil
	}
	for _, pth := range uniq(filepath.Clean(abs), real) {
		if why := unsafePath(pth); why != "" {
			return fmt.Errorf("%w: script %s runs as root and %s", ErrInsecure, argv0, why)
		}
	}
	return nil
}

func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

// unsafePath walks path from / and says which element a non-root user could
// change, or "".
func unsafePath(path string) string {
	elems := strings.Split(strings.TrimPrefix(path, "/"), "/")
	cur := "/"
	for i := -1; i < len(elems); i++ {
		if i >= 0 {
			cur = filepath.Join(cur, elems[i])
		}
		fi, err := os.Lstat(cur)
		if err != nil {
			return fmt.Sprintf("%s cannot be read: %v", cur, err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode()
		last := i == len(elems)-1
		switch {
		case st.Uid != 0:
			return fmt.Sprintf("%s is owned by uid %d, not root", cur, st.Uid)
		case !(mode.IsDir() && mode&os.ModeSticky == 0 || last && mode.IsRegular()):
			// A symlink (its own mode means nothing) or a sticky directory.
		case st.Gid != 0 && mode&0o020 != 0:
			return fmt.Sprintf("%s is writable by group %d", cur, st.Gid)
		case mode&0o002 != 0:
			return fmt.Sprintf("%s is writable by everyone", cur)
		}
	}
	return ""
}

// Prepare sets who runs c (user and group as the script names them, ""
// for the policy's) and applies Check. A script Check finds insecure is
// refused with the reason when Security is on; when it is off the script
// runs and the reason comes back as a warning for the log, as keepalived
// logs "Unsafe permissions found for script".
func (p Policy) Prepare(c Cmd, usr, group string) (prepared Cmd, warning, err error) {
	if len(c.Argv) == 0 || c.Argv[0] == "" {
		return c, nil, errors.New("empty command")
	}
	id, err := p.Resolve(usr, group)
	if err != nil {
		return c, nil, err
	}
	c.As = id
	err = p.Check(c.Argv[0], id)
	switch {
	case err == nil:
		return c, nil, nil
	case p.Security:
		return c, nil, err
	case errors.Is(err, ErrInsecure):
		return c, err, nil
	}
	// Without script security a script that cannot be found is left to
	// fail when it runs, with the error of the run.
	return c, nil, nil
}
