package bench

import "strings"

// The soak section of BENCHMARKS.md holds the figures of the last long `make
// soak` run (30 minutes: longer than any benchmark). No benchmark step
// produces it, so a full `make bench` carries it over from the old file
// instead of dropping it.
const (
	SoakSectionBegin = "<!-- begin: soak section (figures of the last `make soak`; make bench keeps it) -->"
	SoakSectionEnd   = "<!-- end: soak section -->"
)

// KeepSection returns doc's section between begin and end (markers
// included, with a trailing newline), or "" when doc has none.
func KeepSection(doc, begin, end string) string {
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		return ""
	}
	return doc[i:j+len(end)] + "\n"
}
