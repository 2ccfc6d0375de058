package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The package holds what an operator needs, its binaries run from where it
// installs them, the example config is one xlbd accepts, nothing starts on
// install, and lintian finds no error. One package build per run: the
// binaries are the costly part.
func TestDeb(t *testing.T) {
	for _, tool := range []string{"dpkg-deb", "lintian"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("XLB_REQUIRE_PRIV") == "1" {
				t.Fatalf("%s missing: run scripts/install-deps.sh", tool)
			}
			t.Skipf("%s missing: run scripts/install-deps.sh", tool)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	gobuild := exec.Command("go", "build", "-ldflags", "-s -w", "-o", bin+"/", "xlb/cmd/xlbd", "xlb/cmd/xlbctl")
	gobuild.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	deb := filepath.Join(dir, "xlb.deb")
	if err := build(bin, "../..", "1.2.3", "amd64", deb); err != nil {
		t.Fatal(err)
	}

	list := run(t, "dpkg-deb", "-c", deb)
	for _, want := range []string{
		"./usr/sbin/xlbd", "./usr/bin/xlbctl", "./usr/lib/systemd/system/xlbd.service", "./etc/xlb/xlb.yaml.example",
		"./usr/share/man/man8/xlbd.8.gz", "./usr/share/man/man8/xlbctl.8.gz", "./usr/share/bash-completion/completions/xlbctl",
		"./usr/share/xlb/prometheus/xlb-rules.yml", "./usr/share/xlb/grafana/xlb.json", "./usr/share/doc/xlb/copyright",
	} {
		if !strings.Contains(list, want+"\n") {
			t.Errorf("package lacks %s:\n%s", want, list)
		}
	}
	// No maintainer script: installing enables and starts nothing.
	control := filepath.Join(dir, "control")
	run(t, "dpkg-deb", "-e", deb, control)
	for _, script := range []string{"preinst", "postinst", "prerm", "postrm"} {
		if _, err := os.Stat(filepath.Join(control, script)); err == nil {
			t.Errorf("package has a %s", script)
		}
	}
	if conffiles, _ := os.ReadFile(filepath.Join(control, "conffiles")); !strings.Contains(string(conffiles), "/etc/xlb/xlb.yaml.example") {
		t.Errorf("the example config is not a conffile: %q", conffiles)
	}

	root := filepath.Join(dir, "root")
	run(t, "dpkg-deb", "-x", deb, root)
	for _, b := range []string{"usr/sbin/xlbd", "usr/bin/xlbctl"} {
		out := run(t, filepath.Join(root, b), "--version")
		if !strings.Contains(out, "version dev (commit") || !strings.Contains(out, "data-plane abi ") {
			t.Errorf("%s --version: %q", b, out)
		}
	}
	out := run(t, filepath.Join(root, "usr/sbin/xlbd"), "check-config", filepath.Join(root, "etc/xlb/xlb.yaml.example"))
	if !strings.Contains(out, "valid (1 services, 1 VRRP instances") {
		t.Errorf("check-config of the example: %s", out)
	}
	unit, err := os.ReadFile(filepath.Join(root, "usr/lib/systemd/system/xlbd.service"))
	if err != nil || strings.Contains(string(unit), "/usr/local") || !strings.Contains(string(unit), "ExecStart=/usr/sbin/xlbd run") {
		t.Errorf("unit does not run the packaged xlbd: %v\n%s", err, unit)
	}

	// lintian exits non-zero on errors; its E: lines say which.
	lint, err := exec.Command("lintian", deb).CombinedOutput()
	for _, l := range strings.Split(string(lint), "\n") {
		if strings.HasPrefix(l, "E: ") {
			t.Errorf("lintian: %s", l)
		}
	}
	if err != nil {
		t.Errorf("lintian: %v\n%s", err, lint)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
