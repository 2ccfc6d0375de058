// Package config reads xlb's configuration: the native YAML format, or a
// keepalived.conf as it stands, into one typed, defaulted and validated Config.
//
// Load (or Parse, for bytes already read) is the only entry point. It detects
// the format from the content unless told, reads the file, applies the
// defaults of defaults.go, validates, and returns either the Config with its
// warnings or every error found, joined, each an *Error naming file, line,
// block and keyword:
//
//	keepalived.conf:23: real_server 192.168.1.10 3306: weight: "x" is not an integer
//
// Nothing of an invalid file is returned, so a daemon reloading on SIGHUP
// keeps its running config when the new file is bad. MarshalNative turns a
// Config back into native YAML (xlbctl convert).
//
// README.md beside this file lists every field, its default, the keepalived
// keywords that set it, and what happens to the keepalived keywords xlb does
// not implement.
package config
