package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// No ordinary way of printing a config shows its passwords; MarshalNative,
// whose output must work as a config file, does.
func TestSecretsRedacted(t *testing.T) {
	cfg, _, err := Load("testdata/keepalived-full.conf")
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{"s3cret", "pa ss#word"}
	var outputs []string
	pass := cfg.VRRP[1].AuthPass
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%10s"} {
		outputs = append(outputs, fmt.Sprintf(verb, pass), fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, cfg.Services[0].Reals[0].Check.MySQL))
	}
	outputs = append(outputs, pass.String(), pass.GoString(), fmt.Sprint(cfg.VRRP))
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
		slog.New(h).Info("config", "cfg", cfg, "pass", pass, "vrrp", cfg.VRRP[1], "mysql", *cfg.Services[0].Reals[0].Check.MySQL)
	}
	outputs = append(outputs, logs.String())
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatalf("json: %v", err)
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatalf("yaml: %v", err)
	}
	outputs = append(outputs, string(j), string(y))
	for _, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("secret %q printed in:\n%s", s, out)
			}
		}
	}
	if !strings.Contains(string(j), redacted) || !strings.Contains(logs.String(), redacted) {
		t.Errorf("redaction marker missing from JSON or logs")
	}
	native, err := MarshalNative(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if !strings.Contains(string(native), s) {
			t.Errorf("MarshalNative lost secret %q", s)
		}
	}
	if pass.Reveal() != "s3cret" || (Secret{}).String() != "" || !(Secret{}).IsZero() {
		t.Errorf("Reveal/String/IsZero wrong")
	}
}

// The keepalived reader never panics, reports only *Error values, and what
// it accepts converts to native YAML that loads back equal.
func FuzzParseKeepalived(f *testing.F) {
	for _, file := range []string{"testdata/keepalived-master.conf", "testdata/keepalived-backup.conf", "testdata/keepalived-full.conf"} {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"{",
		"}",
		"include x",
		"virtual_server 1.2.3.4 80 { real_server 1.2.3.5 80 { weight 0 } }",
		"vrrp_instance A\n{\n interface e\n virtual_router_id 1\n virtual_ipaddress { 1.1.1.1/24 dev e label l }\n}",
		"vrrp_instance A { notify \"a 'b c' d\" \n}",
		"global_defs { xlb_interface e0 }\nvirtual_server 1.2.3.4 80 {\n lvs_method DR\n HTTP_GET\n}",
		"virtual_server 1.2.3.4 80 { lvs_method DR\n real_server 1.2.3.5 { MISC_CHECK { misc_path \"/x y\" misc_dynamic } } }",
		"! c\n# c\n\"unterminated",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := parse("fuzz.conf", data, Options{Format: FormatKeepalived, ConfigID: "fuzz"}, nil)
		if err != nil {
			for _, e := range errStringsTyped(t, err) {
				if e.File == "" || e.Msg == "" {
					t.Fatalf("error without file or message: %+v", e)
				}
			}
			return
		}
		out, err := MarshalNative(cfg)
		if err != nil {
			t.Fatalf("MarshalNative: %v", err)
		}
		back, _, err := Parse("fuzz.yaml", out, FormatYAML)
		if err != nil {
			t.Fatalf("converted YAML does not load: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, cfg) {
			t.Fatalf("round trip differs:\n%+v\n%+v\n%s", cfg, back, out)
		}
	})
}

// The native reader never panics either, and what it accepts converts back to itself.
func FuzzParseNative(f *testing.F) {
	for _, file := range []string{"testdata/xlb.yaml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"services: [{vip: 10.0.0.1, port: 80, reals: [{ip: 10.0.0.2}]}]\ninterfaces: [e]\n",
		"vrrp: [{name: V, interface: e, vrid: 1, vips: [10.0.0.1/24 dev e label e:1]}]\n",
		"a: &a [1, 2]\nb: *a\n",
		"services:\n  - &s {vip: 10.0.0.1, port: 80}\n  - *s\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, _, err := Parse("fuzz.yaml", data, FormatYAML)
		if err != nil {
			errStringsTyped(t, err)
			return
		}
		out, err := MarshalNative(cfg)
		if err != nil {
			t.Fatalf("MarshalNative: %v", err)
		}
		back, _, err := Parse("fuzz2.yaml", out, FormatYAML)
		if err != nil {
			t.Fatalf("converted YAML does not load: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, cfg) {
			t.Fatalf("round trip differs:\n%+v\n%+v\n%s", cfg, back, out)
		}
	})
}

func errStringsTyped(t *testing.T, err error) []*Error {
	t.Helper()
	var out []*Error
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("error of type %T: %v", e, e)
		}
		out = append(out, ce)
	}
	return out
}
