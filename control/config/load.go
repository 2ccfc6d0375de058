package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Format is a configuration file format.
type Format int

// Formats. FormatAuto detects the format from the content (DetectFormat).
const (
	FormatAuto Format = iota
	FormatYAML
	FormatKeepalived
)

func (f Format) String() string {
	switch f {
	case FormatAuto:
		return "auto"
	case FormatYAML:
		return "yaml"
	case FormatKeepalived:
		return "keepalived"
	}
	return fmt.Sprintf("format(%d)", int(f))
}

// ParseFormat reads a --format flag: auto, yaml (or native), keepalived.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return FormatAuto, nil
	case "yaml", "native":
		return FormatYAML, nil
	case "keepalived":
		return FormatKeepalived, nil
	}
	return FormatAuto, fmt.Errorf("config format %q: want auto, yaml or keepalived", s)
}

// keepalivedTop are the words keepalived accepts at the top level of its
// configuration (every install_keyword_root in keepalived's sources) and
// include; none ends with a colon, as a YAML key does.
var keepalivedTop = map[string]bool{
	"bfd_instance": true, "child_wait_time": true, "garp_group": true, "global_defs": true,
	"instance": true, "interface_up_down_delays": true, "linkbeat_interfaces": true,
	"linkbeat_use_polling": true, "namespace_with_ipsets": true, "net_namespace": true,
	"net_namespace_ipvs": true, "static_ipaddress": true, "static_routes": true, "static_rules": true,
	"track_file": true, "track_group": true, "use_pid_dir": true, "virtual_server": true,
	"virtual_server_group": true, "vrrp_instance": true, "vrrp_script": true, "vrrp_sync_group": true,
	"vrrp_track_file": true, "vrrp_track_process": true,
	"include": true, "includer": true, "includem": true, "includew": true, "includeb": true, "includea": true,
}

// DetectFormat looks at the first line that is not a comment. keepalived.conf
// is what keepalived's reader accepts there: a conditional line (@ID, @^ID),
// a parameter definition or use ($NAME=, ${NAME}), a sequence (~SEQ, ~LST), a
// top-level keyword, or any word followed by a brace on its line. YAML cannot
// start with @ and none of these parses as a YAML config; everything else is
// read as YAML.
func DetectFormat(data []byte) Format {
	f, _ := detect(data)
	return f
}

// detect is DetectFormat that also says whether the first line settles it:
// a keepalived marker, or a YAML key (a first word with a colon) or
// document start. Otherwise YAML is a guess.
func detect(data []byte) (Format, bool) {
	for len(data) > 0 {
		var raw []byte
		raw, data, _ = bytes.Cut(data, []byte("\n"))
		line := strings.TrimSpace(string(raw))
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		switch {
		case line[0] == '@', strings.HasPrefix(line, "~SEQ"), strings.HasPrefix(line, "~LST"):
			return FormatKeepalived, true
		case line[0] == '$':
			if (&lineReader{defs: map[string]*paramDef{}}).define(line) != nil || strings.HasPrefix(line, "${") {
				return FormatKeepalived, true
			}
		}
		first := strings.Fields(line)[0]
		word, _, _ := strings.Cut(first, "{")
		if keepalivedTop[word] {
			return FormatKeepalived, true
		}
		if !strings.HasSuffix(word, ":") && strings.Contains(line, "{") && !strings.ContainsAny(word, ":[{-") && word != "" {
			return FormatKeepalived, true
		}
		return FormatYAML, strings.Contains(first, ":") || strings.HasPrefix(line, "---") || strings.HasPrefix(line, "%YAML")
	}
	return FormatYAML, true
}

// Options say how to read a file.
type Options struct {
	Format Format
	// ConfigID selects keepalived's conditional lines: `@ID line` is read
	// only when ID is the config id, `@^ID line` only when it is not. It is
	// keepalived's -i/--config-id; empty means DefaultConfigID().
	ConfigID string
}

// DefaultConfigID is keepalived's default config id: the host name up to
// its first dot (keepalived/core/main.c).
func DefaultConfigID() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	id, _, _ := strings.Cut(h, ".")
	return id
}

// Load reads the file at path (format detected from its content) and returns
// the validated config and its warnings, or every error found, joined. An
// include in a keepalived.conf is resolved relative to the including file.
func Load(path string) (*Config, []Warning, error) {
	return LoadWith(path, Options{})
}

// LoadFormat is Load with the format forced (FormatAuto detects it).
func LoadFormat(path string, format Format) (*Config, []Warning, error) {
	return LoadWith(path, Options{Format: format})
}

// LoadWith is Load with options.
func LoadWith(path string, o Options) (*Config, []Warning, error) {
	data, err := readCapped(path, maxFileBytes)
	if errors.Is(err, errFileTooBig) {
		return nil, nil, errors.Join(&Error{File: path, Msg: errTooBig(maxFileBytes).Error(), Kind: ErrInvalid})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	return parse(path, data, o, osIncluder())
}

// Parse is Load on data already read; name is used in messages and to
// resolve includes and relative paths.
func Parse(name string, data []byte, format Format) (*Config, []Warning, error) {
	return parse(name, data, Options{Format: format}, osIncluder())
}

// ParseWith is Parse with options.
func ParseWith(name string, data []byte, o Options) (*Config, []Warning, error) {
	return parse(name, data, o, osIncluder())
}

func parse(name string, data []byte, o Options, inc *includer) (*Config, []Warning, error) {
	if len(data) > maxFileBytes {
		return nil, nil, errors.Join(&Error{File: name, Msg: errTooBig(maxFileBytes).Error(), Kind: ErrInvalid})
	}
	if o.ConfigID == "" {
		o.ConfigID = DefaultConfigID()
	}
	format, sure := o.Format, true
	if format == FormatAuto {
		format, sure = detect(data)
	}
	if format != FormatYAML && format != FormatKeepalived {
		return nil, nil, fmt.Errorf("config format %v: %w", format, ErrInvalid)
	}
	cfg, d := parseAs(name, data, format, o.ConfigID, inc)
	if !sure && len(d.errs) > 0 {
		// Detection guessed from the first line; the other reader may read
		// the file in full. If neither can, say what each found first.
		other := FormatYAML
		if format == FormatYAML {
			other = FormatKeepalived
		}
		cfg2, d2 := parseAs(name, data, other, o.ConfigID, inc)
		if len(d2.errs) == 0 {
			return cfg2, d2.warns, nil
		}
		return nil, d.warns, errors.Join(&Error{File: name, Kind: ErrSyntax,
			Msg: fmt.Sprintf("neither reader can read this file: as %s, %s; as %s, %s", describe(format), firstErr(d), describe(other), firstErr(d2))})
	}
	if len(d.errs) > 0 {
		return nil, d.warns, d.joined()
	}
	return cfg, d.warns, nil
}

func describe(f Format) string {
	if f == FormatYAML {
		return "native YAML"
	}
	return "keepalived.conf"
}

// firstErr is the first error of d without its file name, which the
// combined message already carries.
func firstErr(d *diags) string {
	var e *Error
	if !errors.As(d.errs[0], &e) {
		return d.errs[0].Error()
	}
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, strings.TrimPrefix(e.Error(), fmt.Sprintf("%s:%d: ", e.File, e.Line)))
	}
	return strings.TrimPrefix(e.Error(), e.File+": ")
}

// parseAs reads data as one format, applies the defaults and validates.
func parseAs(name string, data []byte, format Format, configID string, inc *includer) (*Config, *diags) {
	d := &diags{}
	src := newSrcMap(name)
	var cfg *Config
	if format == FormatYAML {
		cfg = readYAML(name, data, d, src)
	} else {
		cfg = readKeepalived(parseKeepalived(name, data, d, inc, configID), d, src)
	}
	if !d.unreadable {
		applyDefaults(cfg, src, filepath.Dir(name))
		validate(cfg, src, d)
	}
	sortDiags(d)
	d.summarize(name)
	return cfg, d
}

// sortDiags orders messages by file and line, the main file first.
func sortDiags(d *diags) {
	slices.SortStableFunc(d.errs, func(a, b error) int {
		var ea, eb *Error
		errors.As(a, &ea)
		errors.As(b, &eb)
		return cmp.Or(cmp.Compare(ea.File, eb.File), cmp.Compare(ea.Line, eb.Line))
	})
	slices.SortStableFunc(d.warns, func(a, b Warning) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
}
