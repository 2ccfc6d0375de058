// Command xlbctl inspects xlb: it reads the maps xlbd pinned (so it works
// while xlbd is down) and asks xlbd's control socket for what the maps do not
// hold (health reasons, VRRP state).
package main

import (
	"os"

	"xlb/loader"
)

func main() {
	if err := newApp(os.Stdout, os.Stderr).Run(os.Args); err != nil {
		os.Stderr.WriteString("xlbctl: " + err.Error() + "\n")
		os.Exit(1)
	}
}

var version = "dev"

// versionString is the release and the data-plane ABI this xlbctl reads:
// pins of another ABI are refused with both named.
func versionString() string {
	abi, err := loader.ABI()
	if err != nil {
		return version + " (data-plane abi unknown: " + err.Error() + ")"
	}
	return version + " (data-plane abi " + abi.String() + ")"
}
