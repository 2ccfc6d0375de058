package config

import "testing"

// TestHashSeedFile: the seed file is a global key in both formats (xlb's own
// keyword in keepalived.conf), and survives MarshalNative.
func TestHashSeedFile(t *testing.T) {
	cfg, _ := mustParse(t, "global_defs {\n xlb_interface eth0\n xlb_hash_seed_file /etc/xlb/hashseed\n}\n"+vrrpConf(" virtual_router_id 1\n"), Options{})
	if cfg.Global.HashSeedFile != "/etc/xlb/hashseed" {
		t.Fatalf("keepalived.conf: hash seed file %q", cfg.Global.HashSeedFile)
	}
	native, err := MarshalNative(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := Parse("xlb.yaml", native, FormatYAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, native)
	}
	if back.Global.HashSeedFile != "/etc/xlb/hashseed" {
		t.Fatalf("native: hash seed file %q from\n%s", back.Global.HashSeedFile, native)
	}
	if cfg, _ := mustParse(t, "global_defs {\n xlb_interface eth0\n}\n"+vrrpConf(" virtual_router_id 1\n"), Options{}); cfg.Global.HashSeedFile != "" {
		t.Fatalf("not configured: %q", cfg.Global.HashSeedFile)
	}
}
