package config

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var updateREADME = flag.Bool("update", false, "rewrite README.md's generated keyword tables")

// README.md's keyword tables are the field tables printed: a row added
// without regenerating them fails here (go test -run TestREADMEKeywordTables -update).
func TestREADMEKeywordTables(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	tables := map[string]string{
		"global_defs":    keywordTable(globalFields, ignoredGlobal),
		"vrrp_instance":  keywordTable(vrrpFields, ignoredVRRP),
		"vrrp_script":    keywordTable(scriptFields, nil),
		"garp_group":     keywordTable(garpGroupFields, nil),
		"top":            keywordTable[Config](nil, ignoredTop),
		"virtual_server": keywordTable(serviceFields, ignoredVS),
		"sorry_server":   keywordTable(sorryFields, nil),
		"real_server":    keywordTable(realFields, ignoredRS),
		"check":          keywordTable(checkFields, ignoredCheck),
	}
	for _, kd := range checkKinds {
		if kd.block != nil {
			tables[kd.ka[0]] = kd.block.table()
		}
	}
	for block, table := range tables {
		begin, end := "<!-- generated: "+block+" -->\n", "<!-- end generated -->"
		i := strings.Index(readme, begin)
		if i < 0 {
			t.Fatalf("README.md has no %q", begin)
		}
		i += len(begin)
		j := strings.Index(readme[i:], end)
		if j < 0 {
			t.Fatalf("README.md: %q is not closed", begin)
		}
		if readme[i:i+j] == table {
			continue
		}
		if !*updateREADME {
			t.Errorf("README.md's %s table is not the field table's; run go test -run TestREADMEKeywordTables -update", block)
			continue
		}
		readme = readme[:i] + table + readme[i+j:]
	}
	if *updateREADME {
		if err := os.WriteFile("README.md", []byte(readme), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
