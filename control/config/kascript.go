package config

import (
	"os/user"
	"strings"

	"xlb/control/script"
)

// The scripts of a keepalived.conf, read as keepalived reads them: the
// statement's line is split again, quotes grouping blanks into one word
// (alloc_strvec_quoted), and the script is its second word, split once more
// into the argv with the shell's quotes and escapes (set_script_params_array,
// keepalived/core/notify.c). A command with arguments is therefore quoted:
//
//	notify_master "/etc/xlb/master.sh db1" xlbscript xlbscript
//
// and an unquoted `notify_master /etc/xlb/master.sh db1` runs master.sh, with
// no argument, as user db1: exactly what keepalived does.

// scriptLine splits s into the script's argv and the words after it.
func (k *kreader) scriptLine(s *stmt, ctx string) (argv, rest []string, ok bool) {
	if !k.noBlock(s, ctx) {
		return nil, nil, false
	}
	words, err := quotedWords(s.text())
	if err == nil && len(words) > 1 {
		argv, err = splitWords(words[1])
	}
	switch {
	case err != nil:
		k.d.err(s.line(), ctx, s.key.text, ErrSyntax, "%v", err)
		return nil, nil, false
	case len(argv) == 0:
		k.d.err(s.line(), ctx, s.key.text, ErrSyntax, "wants a command")
		return nil, nil, false
	}
	return argv, words[2:], true
}

// script reads a notify_*, notify, notify_up/down or quorum_up/down
// statement: SCRIPT [USER [GROUP]] (notify_script_init). A user or group
// this machine does not know gets a warning (keepalived drops the script
// with "Invalid user/group"; xlbd refuses to run it, with the reason, each
// time it is due), and so does any word after the group, which keepalived
// ignores.
func (k *kreader) script(s *stmt, ctx, path, field string) script.Command {
	argv, rest, ok := k.scriptLine(s, ctx)
	if !ok {
		k.src.badField(path, field, s.line(), s.key.text)
		return script.Command{}
	}
	c := script.Command{Argv: argv}
	if len(rest) > 0 {
		c.User = rest[0]
	}
	if len(rest) > 1 {
		c.Group = rest[1]
	}
	if len(rest) > 2 {
		k.d.warn(s.line(), ctx, s.key.text, "%s ignored, as keepalived ignores words after the user and group; to pass arguments, quote the command: %s %q", strings.Join(rest[2:], " "), s.key.text, strings.Join(append(argv, rest...), " "))
	}
	if why := unknownUser(c.User, c.Group); why != "" {
		hint := ""
		if len(rest) > 0 {
			hint = "; to pass arguments, quote the command: " + s.key.text + " " + quoteWords(append(argv, rest...))
		}
		k.d.warn(s.line(), ctx, s.key.text, "%s: the script runs as USER [GROUP] named after it, so xlbd will not run it, as keepalived would not%s", why, hint)
	}
	k.src.field(path, field, s.line(), s.key.text)
	return c
}

// scriptArgv reads a vrrp_script's script or a MISC_CHECK's misc_path: only
// the script word counts (vrrp_vscript_script_handler, misc_path_handler:
// the user is a keyword of its own); further words are ignored with a
// warning, as keepalived ignores them. path "" records no source.
func (k *kreader) scriptArgv(s *stmt, ctx, path, field string) []string {
	argv, rest, ok := k.scriptLine(s, ctx)
	if !ok {
		if path != "" {
			k.src.badField(path, field, s.line(), s.key.text)
		}
		return nil
	}
	if len(rest) > 0 {
		k.d.warn(s.line(), ctx, s.key.text, "%s ignored, as keepalived runs only the first word (or quoted string) of %s; to pass arguments, quote the command: %s %s", strings.Join(rest, " "), s.key.text, s.key.text, quoteWords(append(argv, rest...)))
	}
	if path != "" {
		k.src.field(path, field, s.line(), s.key.text)
	}
	return argv
}

// userGroup reads USER [GROUP] (script_user, a vrrp_script's or
// MISC_CHECK's user), warning when this machine knows neither.
func (k *kreader) userGroup(s *stmt, ctx string) (usr, group string, ok bool) {
	if !k.noBlock(s, ctx) || len(s.args) < 1 || len(s.args) > 2 {
		k.d.err(s.line(), ctx, s.key.text, ErrSyntax, "wants USER [GROUP]")
		return "", "", false
	}
	usr = s.args[0].text
	if len(s.args) == 2 {
		group = s.args[1].text
	}
	if why := unknownUser(usr, group); why != "" {
		k.d.warn(s.line(), ctx, s.key.text, "%s: xlbd will not run the scripts that need it", why)
	}
	return usr, group, true
}

// unknownUser says which of usr and group (either may be "") this machine
// does not know, or "".
func unknownUser(usr, group string) string {
	if usr != "" {
		if _, err := user.Lookup(usr); err != nil {
			return "no user " + usr + " on this machine"
		}
	}
	if group != "" {
		if _, err := user.LookupGroup(group); err != nil {
			return "no group " + group + " on this machine"
		}
	}
	return ""
}

// quoteWords writes argv as one double-quoted keepalived script word: a
// blank, quote or backslash in a word is escaped with a backslash.
func quoteWords(argv []string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, w := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		for j := 0; j < len(w); j++ {
			if strings.IndexByte(" \t'\"\\", w[j]) >= 0 {
				b.WriteByte('\\')
			}
			b.WriteByte(w[j])
		}
	}
	b.WriteByte('"')
	return b.String()
}
