package config

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Limits on what one load reads. A real configuration stays far below each:
// one that fills the data plane (1,023 services, 4,095 backends) written out
// with a check block per real server is about 2 MB and 60,000 statements.
// They exist so that a file that never ends (/dev/zero, an include loop, a
// generated file gone wrong) is refused in well under a second instead of
// eating the host's memory.
const (
	maxFileBytes  = 8 << 20  // one file
	maxTotalBytes = 32 << 20 // every file of one load together
	maxFiles      = 10_000   // files read by one load, includes counted each time
	// keepalived reads a line into a 1,024-byte buffer with its NUL and
	// ignores a longer one with "line too long" (MAXBUF in lib/parser.h,
	// read_line in lib/parser.c); xlb refuses it rather than drop it silently.
	maxLineBytes    = 1023
	maxBlockDepth   = 32 // keepalived's deepest block is 4 levels
	maxIncludeDepth = 8
	maxStatements   = 200_000
	// maxExpansions bounds parameter substitutions on one line: keepalived
	// substitutes recursively, so $A=$A would never end.
	maxExpansions = 1000
	// maxExpandBytes bounds the text parameter substitution writes in one
	// load: recursive definitions can grow exponentially.
	maxExpandBytes = 256 << 20
	maxExpandLines = 200_000
	// maxDiags errors (and as many warnings) are kept; the rest are counted
	// in a last "... and N more" line.
	maxDiags = 100
)

// readCapped reads at most limit bytes of name: more is an error, so a
// device or a growing file never ends up in memory.
func readCapped(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > limit {
		return nil, fmt.Errorf("%s: %w", name, errTooBig(limit))
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w", name, errTooBig(limit))
	}
	return data, nil
}

var errFileTooBig = errors.New("file too big")

func errTooBig(limit int64) error {
	return fmt.Errorf("%w: more than %d MiB, more than any configuration holds", errFileTooBig, limit>>20)
}

// full reports whether d holds maxDiags errors; later ones are only counted.
func (d *diags) full() bool {
	if len(d.errs) < maxDiags {
		return false
	}
	d.moreErrs++
	return true
}

// stop reports an error that ends the reading: it is kept even past
// maxDiags, since it explains why the rest was not read.
func (d *diags) stop(p pos, field string, kind error, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: p.file, Line: p.line, Field: field, Msg: fmt.Sprintf(format, args...), Kind: kind})
	d.unreadable = true
}

// fullWarns is full for warnings.
func (d *diags) fullWarns() bool {
	if len(d.warns) < maxDiags {
		return false
	}
	d.moreWarns++
	return true
}

// summarize appends the "... and N more" lines after sorting.
func (d *diags) summarize(file string) {
	if d.moreErrs > 0 {
		d.errs = append(d.errs, &Error{File: file, Msg: fmt.Sprintf("... and %d more errors", d.moreErrs), Kind: ErrInvalid})
	}
	if d.moreWarns > 0 {
		d.warns = append(d.warns, Warning{File: file, Msg: fmt.Sprintf("... and %d more warnings", d.moreWarns)})
	}
}
