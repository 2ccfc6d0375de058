package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"xlb/control/secret"
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
	if !strings.Contains(string(j), secret.Redacted) || !strings.Contains(logs.String(), secret.Redacted) {
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
	if pass.Reveal() != "s3cret" || (secret.Secret{}).String() != "" || !(secret.Secret{}).IsZero() {
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
		"global_defs { vrrp_gna_interval 0.000001 }\ngarp_group {\n garp_interval 0.1\n interface e\n interfaces { f g }\n}\nvrrp_instance A {\n interface e\n virtual_router_id 1\n virtual_ipaddress { 1.1.1.1 }\n}",
	} {
		f.Add([]byte(s))
	}
	for _, s := range keepalivedSyntaxSeeds {
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
// Includes over an in-memory tree whose files are the fuzzed text: loops,
// fan-out and nesting all end with errors, never a crash or a hang.
func FuzzIncludes(f *testing.F) {
	for _, s := range keepalivedSyntaxSeeds {
		f.Add([]byte(s), []byte("include a.conf\n"))
	}
	f.Add([]byte("include *.conf\n"), []byte("include *.conf\nvrrp_instance V {\n}\n"))
	f.Add([]byte("include b.conf\ninclude b.conf\n"), []byte("include c.conf\ninclude c.conf\n"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		files := map[string][]byte{"a.conf": a, "b.conf": b, "c.conf": append(append([]byte{}, b...), a...)}
		inc := &includer{
			glob: func(pattern string) ([]string, error) {
				var out []string
				for _, name := range []string{"a.conf", "b.conf", "c.conf"} {
					if ok, err := filepath.Match(pattern, name); err != nil {
						return nil, err
					} else if ok {
						out = append(out, name)
					}
				}
				return out, nil
			},
			readFile: func(name string, limit int64) ([]byte, error) {
				if int64(len(files[name])) > limit {
					return nil, errTooBig(limit)
				}
				return files[name], nil
			},
			realPath: func(name string) (string, error) { return filepath.Clean(name), nil },
		}
		_, _, err := parse("a.conf", a, Options{Format: FormatKeepalived, ConfigID: "fuzz"}, inc)
		if err != nil {
			for _, e := range errStringsTyped(t, err) {
				if e.File == "" || e.Msg == "" {
					t.Fatalf("error without file or message: %+v", e)
				}
			}
		}
	})
}

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
		// One small seed per feature: the fuzzer starts from inputs that
		// already reach each reader, so it mutates instead of discovering
		// (and minimizing) the format, and each execution is short.
		"interfaces: [e]\nservices: [{vip: 10.0.0.1, port: 3306, scheduler: fo, reals: [{ip: 10.0.0.2, weight: 0, check: {kind: mysql, mysql: {user: u, check_replication: true, max_replication_lag: 3}}}]}]\n",
		"interfaces: [e]\nservices: [{vip: 10.0.0.1, port: 80, persistence_timeout: 3, reals: [{ip: 10.0.0.2, check: {kind: http, connect_port: 8080, http: {path: /h, status_codes: [\"200-204\"], body_regex: ok}}}]}]\n",
		"interfaces: [e]\nservices: [{vip: 10.0.0.1, port: 80, protocol: udp, reals: [{ip: 10.0.0.2, check: {kind: exec, exec: {command: [/bin/true, x], timeout: 1, dynamic: true}}}]}]\n",
		"interfaces: [e]\nservices: [{vip: 10.0.0.1, port: 80, delay_loop: 0.5, reals: [{ip: 10.0.0.2, check: {kind: tcp, retry: 0, delay_before_retry: \"100ms\"}}]}]\n",
		"vrrp: [{name: V, interface: e, vrid: 1, version: 3, advert_int: 0.1, state: master, vips: [10.0.0.1/24], unicast_peers: [10.0.0.3], notify_master: /bin/x m}]\n",
		"vrrp: [{name: V, interface: e, vrid: 1, auth_type: pass, auth_pass: p, track_services: [s], vips: [10.0.0.1]}]\nservices: [{name: s, vip: 10.0.0.1, port: 80}]\n",
		"global: {router_id: r}\nvrrp: [{name: V, interface: e, vrid: 1, vips: [127.0.0.1]}]\n",
		"global: {vrrp_garp_interval: 0.5}\ngarp_groups: [{gna_interval: 1ms, interfaces: [e]}]\nvrrp: [{name: V, interface: e, vrid: 1, vips: [10.0.0.1]}]\n",
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

// keepalivedSyntaxSeeds reach each part of the keepalived.conf reader:
// comments, quotes, parameters, conditional lines, includes and the limits.
var keepalivedSyntaxSeeds = []string{
	"vrrp_instance V {\n interface e\n virtual_router_id 51#x\n authentication {\n  auth_type PASS\n  auth_pass Test123!\n }\n virtual_ipaddress {\n  10.0.0.1\n }\n}\n",
	"vrrp_instance V { interface e\n virtual_router_id 1 \\\n auth_pass \"a#b\" a\\#b\n virtual_ipaddress { 10.0.0.1 } }\n",
	"$NET=10.0\n$IF=e\nvrrp_instance V {\n interface $IF\n virtual_router_id 1\n virtual_ipaddress {\n  ${NET}.0.1/24\n }\n}\n",
	"$RS= \\\n real_server 10.0.0.${N} 80 { \\\n  weight ${N} \\\n }\n\nglobal_defs { xlb_interface e }\nvirtual_server 10.0.1.1 80 {\n lvs_method DR\n $N=2\n $RS\n $N=3\n $RS\n}\n",
	"@fuzz $P=200\n@^fuzz $P=100\nvrrp_instance V {\n interface e\n virtual_router_id 1\n priority $P\n @fuzz state MASTER\n virtual_ipaddress {\n  @^other 10.0.0.1\n }\n}\n",
	"vrrp_instance ${_INSTANCE} { interface ${_ENV HOME} virtual_router_id ${_RANDOM 1 9} ${_HASH} ${_BANG} ${_PWD}\n}\n",
	"$A=${B}${B}\n$B=${C}${C}\n$C=xxxxxxxx\nvrrp_instance $A {\n}\n",
	"$A=x$A\n$A\n~SEQ(I, 1, 3) x\n",
	"$L=3\nglobal_defs { xlb_interface e }\nvirtual_server 10.0.1.1 80 {\n lvs_method DR\n~SEQ(N, 1, $L) real_server 10.0.0.$N 80 { weight $N }\n~SEQx(N, 0x10, -1, 0) x$N\n~LST({N, W}, {50, 5}, {51}) real_server 10.0.0.$N 80 { weight ${W}0 }\n}\n",
	"include *.conf\nincluder x\nincludea /y\n",
	"virtual_server group G {\n lvs_method DR\n real_server 10.0.0.2 80 {\n  uthreshold 9\n  lthreshold 1\n }\n}\nvirtual_server_group G {\n 10.0.0.9-11 80\n 10.0.1.0/31 81\n 10.0.2.1-10.0.2.2 82\n fwmark 3\n}\n",
	"a {\n b {\n  c {\n   d {\n    e {\n     f {\n}}}}}}\n{\n}\n}\n",
	"net_namespace n\nvirtual_server 0.0.0.0 80 {\n lvs_method DR\n real_server 127.0.0.1 80 {\n }\n real_server 224.0.0.1 80 {\n }\n}\n",
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
