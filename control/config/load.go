package config

import (
	"bufio"
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

// keepalivedTop are words that start a keepalived.conf and never a YAML key
// (a YAML key ends with a colon).
var keepalivedTop = map[string]bool{
	"global_defs": true, "vrrp_instance": true, "virtual_server": true, "include": true,
	"vrrp_script": true, "vrrp_sync_group": true, "virtual_server_group": true,
	"static_ipaddress": true, "static_routes": true, "static_rules": true, "garp_group": true,
}

// DetectFormat looks at the first word that is not a comment: a keepalived
// top-level keyword, or any word followed by a brace on its line, means
// keepalived.conf; everything else is read as YAML.
func DetectFormat(data []byte) Format {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		word, _, _ := strings.Cut(strings.Fields(line)[0], "{")
		if keepalivedTop[word] {
			return FormatKeepalived
		}
		if !strings.HasSuffix(word, ":") && strings.Contains(line, "{") && !strings.ContainsAny(word, ":[{-") && word != "" {
			return FormatKeepalived
		}
		return FormatYAML
	}
	return FormatYAML
}

// Load reads the file at path (format detected from its content) and returns
// the validated config and its warnings, or every error found, joined. An
// include in a keepalived.conf is resolved relative to the including file.
func Load(path string) (*Config, []Warning, error) {
	return LoadFormat(path, FormatAuto)
}

// LoadFormat is Load with the format forced (FormatAuto detects it).
func LoadFormat(path string, format Format) (*Config, []Warning, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	return parse(path, data, format, &includer{glob: filepath.Glob, readFile: os.ReadFile})
}

// Parse is Load on data already read; name is used in messages and to
// resolve includes and relative paths.
func Parse(name string, data []byte, format Format) (*Config, []Warning, error) {
	return parse(name, data, format, &includer{glob: filepath.Glob, readFile: os.ReadFile})
}

func parse(name string, data []byte, format Format, inc *includer) (*Config, []Warning, error) {
	if format == FormatAuto {
		format = DetectFormat(data)
	}
	d := &diags{}
	src := newSrcMap(name)
	var cfg *Config
	switch format {
	case FormatYAML:
		cfg = readYAML(name, data, d, src)
	case FormatKeepalived:
		cfg = readKeepalived(parseKeepalived(name, data, d, inc, 0), d, src)
	default:
		return nil, nil, fmt.Errorf("config format %v: %w", format, ErrInvalid)
	}
	if !d.unreadable {
		applyDefaults(cfg, src, filepath.Dir(name))
		validate(cfg, src, d)
	}
	sortDiags(d)
	if len(d.errs) > 0 {
		return nil, d.warns, d.joined()
	}
	return cfg, d.warns, nil
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
