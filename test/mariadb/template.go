package mariadb

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// innodbConfig is shared by the template and every server: a data directory
// must be started with the redo-log size it was created with.
const innodbConfig = "innodb_buffer_pool_size=16M\ninnodb_log_file_size=8M\n"

var (
	templateOnce sync.Once
	templateDir  string
	templateErr  error
)

// dataTemplate returns a freshly installed, never started data directory,
// created once per mariadbd build and kept under the system temp directory so
// every test process on the machine reuses it: mariadb-install-db takes from
// under a second to over ten on a busy machine, a copy a fraction of that.
func dataTemplate() (string, error) {
	templateOnce.Do(func() { templateDir, templateErr = installTemplate() })
	return templateDir, templateErr
}

func installTemplate() (string, error) {
	ver, err := exec.Command("mariadbd", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("mariadbd --version: %w", err)
	}
	sum := sha256.Sum256(append(ver, innodbConfig...))
	final := filepath.Join(os.TempDir(), "xlb-mariadb-template-"+hex.EncodeToString(sum[:6]))
	if _, err := os.Stat(filepath.Join(final, "mysql")); err == nil {
		return final, nil
	}
	work, err := os.MkdirTemp("", "xlbmdbtpl")
	if err != nil {
		return "", fmt.Errorf("template dir: %w", err)
	}
	defer os.RemoveAll(work)
	conf := filepath.Join(work, "my.cnf")
	data := filepath.Join(work, "data")
	cnf := fmt.Sprintf("[mariadbd]\nuser=root\ndatadir=%s\nsocket=%s\n%s", data, filepath.Join(work, "sock"), innodbConfig)
	if err := os.WriteFile(conf, []byte(cnf), 0o644); err != nil {
		return "", fmt.Errorf("template config: %w", err)
	}
	out, err := exec.Command("mariadb-install-db", "--defaults-file="+conf,
		"--skip-test-db", "--auth-root-authentication-method=socket").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("mariadb-install-db: %w: %s", err, out)
	}
	// Renaming a complete directory into place means another process sees
	// either no template or a whole one; if one got there first, use it.
	if err := os.Rename(data, final); err != nil {
		if _, serr := os.Stat(filepath.Join(final, "mysql")); serr == nil {
			return final, nil
		}
		return "", fmt.Errorf("install template: %w", err)
	}
	return final, nil
}

// copyTemplate fills dst (which must not exist) with a copy of the template.
func copyTemplate(dst string) error {
	src, err := dataTemplate()
	if err != nil {
		return err
	}
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("copy data template: %w: %s", err, out)
	}
	return nil
}
