// Package manpage keeps the committed man pages (dist/man) in step with the
// CLI definitions they are rendered from, so a new flag cannot ship
// undocumented: the commands' tests compare, `make man` rewrites.
package manpage

import (
	"bytes"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// UpdateEnv set to 1 makes Check rewrite the page instead of comparing.
const UpdateEnv = "XLB_UPDATE_MAN"

// Render is app's section 8 page. The version line is left out: it changes
// with every commit and the page would never be current.
func Render(app *cli.App) ([]byte, error) {
	app.Version = ""
	page, err := app.ToManWithSection(8)
	if err != nil {
		return nil, fmt.Errorf("render %s man page: %w", app.Name, err)
	}
	return []byte(page), nil
}

// Check renders app's page and compares it with the file at path, or writes
// it there when UpdateEnv is 1.
func Check(app *cli.App, path string) error {
	page, err := Render(app)
	if err != nil {
		return err
	}
	if os.Getenv(UpdateEnv) == "1" {
		return os.WriteFile(path, page, 0o644)
	}
	committed, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: run make man", err)
	}
	if !bytes.Equal(committed, page) {
		return fmt.Errorf("%s is not the page the CLI renders now: run make man and commit it", path)
	}
	return nil
}
