// Command xlbctl inspects xlb: it reads the maps xlbd pinned (so it works
// while xlbd is down) and asks xlbd's control socket for what the maps do not
// hold (health reasons, VRRP state).
package main

import (
	"os"
)

func main() {
	if err := newApp(os.Stdout, os.Stderr).Run(os.Args); err != nil {
		os.Stderr.WriteString("xlbctl: " + err.Error() + "\n")
		os.Exit(1)
	}
}
