// Command mkdeb builds xlb's Debian package with nfpm (as a library, so the
// build needs only Go): the binaries make build left in bin/, the systemd
// unit, an example config, man pages, bash completion, and the Prometheus
// rules and Grafana dashboard under /usr/share/xlb. It installs no
// maintainer scripts: installing the package starts and enables nothing.
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding xlbd and xlbctl")
	dist := flag.String("dist", "dist", "the repository's dist directory")
	version := flag.String("version", "0.0.0", "package version (Debian syntax)")
	arch := flag.String("arch", "amd64", "Debian architecture")
	out := flag.String("o", "xlb.deb", "output file")
	flag.Parse()
	if err := build(*bin, *dist, *version, *arch, *out); err != nil {
		fmt.Fprintln(os.Stderr, "mkdeb:", err)
		os.Exit(1)
	}
}

const copyright = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: xlb

Files: *
Copyright: 2026 the xlb authors
License: proprietary
 All rights reserved by the xlb authors.
`

func build(bin, dist, version, arch, out string) error {
	tmp, err := os.MkdirTemp("", "mkdeb")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	// Debian wants man pages and the changelog gzipped (lintian:
	// manpage-not-compressed), the unit to name the packaged binaries'
	// paths, not make install's /usr/local.
	unit, err := os.ReadFile(filepath.Join(dist, "xlbd.service"))
	if err != nil {
		return err
	}
	unit = []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/xlbd", "/usr/sbin/xlbd"))
	completion, err := exec.Command(filepath.Join(bin, "xlbctl"), "completion", "bash").Output()
	if err != nil {
		return fmt.Errorf("xlbctl completion bash: %w", err)
	}
	changelog := fmt.Sprintf("xlb (%s) unstable; urgency=medium\n\n  * Built from git %s.\n\n -- xlb maintainers <xlb@lists.xlb-project.org>  Tue, 01 Dec 2026 00:00:00 +0000\n", version, version)
	generated := map[string][]byte{
		"xlbd.service": unit,
		"completion":   completion,
		"copyright":    []byte(copyright),
		"changelog.gz": gz([]byte(changelog)),
		// The binaries are static on purpose (CGO_ENABLED=0: they run on any
		// kernel host and in the lab VMs without a matching libc).
		"overrides": []byte("xlb: statically-linked-binary\n"),
	}
	for _, page := range []string{"xlbd.8", "xlbctl.8"} {
		b, err := os.ReadFile(filepath.Join(dist, "man", page))
		if err != nil {
			return err
		}
		generated[page+".gz"] = gz(b)
	}
	for name, b := range generated {
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return err
		}
	}

	file := func(src, dst string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode}}
	}
	contents := files.Contents{
		file(filepath.Join(bin, "xlbd"), "/usr/sbin/xlbd", 0o755),
		file(filepath.Join(bin, "xlbctl"), "/usr/bin/xlbctl", 0o755),
		file(filepath.Join(tmp, "xlbd.service"), "/usr/lib/systemd/system/xlbd.service", 0o644),
		{Source: filepath.Join(dist, "xlb.yaml.example"), Destination: "/etc/xlb/xlb.yaml.example", Type: files.TypeConfig, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		file(filepath.Join(tmp, "xlbd.8.gz"), "/usr/share/man/man8/xlbd.8.gz", 0o644),
		file(filepath.Join(tmp, "xlbctl.8.gz"), "/usr/share/man/man8/xlbctl.8.gz", 0o644),
		file(filepath.Join(tmp, "completion"), "/usr/share/bash-completion/completions/xlbctl", 0o644),
		file(filepath.Join(dist, "prometheus", "xlb-rules.yml"), "/usr/share/xlb/prometheus/xlb-rules.yml", 0o644),
		file(filepath.Join(dist, "grafana", "xlb.json"), "/usr/share/xlb/grafana/xlb.json", 0o644),
		file(filepath.Join(tmp, "copyright"), "/usr/share/doc/xlb/copyright", 0o644),
		file(filepath.Join(tmp, "changelog.gz"), "/usr/share/doc/xlb/changelog.gz", 0o644),
		file(filepath.Join(tmp, "overrides"), "/usr/share/lintian/overrides/xlb", 0o644),
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:        "xlb",
		Arch:        arch,
		Platform:    "linux",
		Version:     version,
		Section:     "net",
		Priority:    "optional",
		Maintainer:  "xlb maintainers <xlb@lists.xlb-project.org>",
		Description: "XDP direct-routing load balancer\nxlbd attaches an XDP load balancer (Maglev, direct server return) to\nthe configured interfaces, health-checks MySQL and other real servers,\nand runs VRRP or BGP. It reads keepalived.conf as is. xlbctl inspects it.",
		Homepage:    "https://github.com/xlb/xlb",
		License:     "proprietary",
		Overridables: nfpm.Overridables{
			Contents: contents,
		},
	})
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := pkg.Package(info, &buf); err != nil {
		return fmt.Errorf("package: %w", err)
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	// Debian policy: maximum compression, no name or time in the header.
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}
