package main

import (
	"io"
	"testing"

	"xlb/internal/manpage"
)

func TestManPageCurrent(t *testing.T) {
	if err := manpage.Check(newApp(io.Discard, io.Discard), "../../dist/man/xlbctl.8"); err != nil {
		t.Error(err)
	}
}
