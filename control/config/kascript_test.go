package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"xlb/control/script"
)

// Every script keyword in every form keepalived reads: SCRIPT [USER [GROUP]]
// for notify_* and quorum_*, where SCRIPT is one word, quoted (double or
// single) when it has arguments, and split again into the argv with quotes
// and escapes (keepalived's notify_script_init, set_script_params_array).
func TestKeepalivedScriptForms(t *testing.T) {
	const none = "xlbnosuchuser"
	forms := []struct {
		name, line string
		want       script.Command
		warn       string // a warning's text, "" for none
	}{
		{"one word", `/bin/x.sh`, script.Command{Argv: []string{"/bin/x.sh"}}, ""},
		{"quoted with arguments", `"/bin/x.sh a 'b c'"`, script.Command{Argv: []string{"/bin/x.sh", "a", "b c"}}, ""},
		{"single-quoted with arguments", `'/bin/x.sh a "b c"'`, script.Command{Argv: []string{"/bin/x.sh", "a", "b c"}}, ""},
		{"escaped blank", `"/bin/x.sh a\ b"`, script.Command{Argv: []string{"/bin/x.sh", "a b"}}, ""},
		{"quotes inside a word", `/bin/x"y z"`, script.Command{Argv: []string{"/bin/xy", "z"}}, ""},
		{"user", `/bin/x.sh nobody`, script.Command{Argv: []string{"/bin/x.sh"}, User: "nobody"}, ""},
		{"user and group", `"/bin/x.sh arg" nobody nogroup`, script.Command{Argv: []string{"/bin/x.sh", "arg"}, User: "nobody", Group: "nogroup"}, ""},
		{"words after the group", `"/bin/x.sh" nobody nogroup extra more`, script.Command{Argv: []string{"/bin/x.sh"}, User: "nobody", Group: "nogroup"},
			`extra more ignored, as keepalived ignores words after the user and group; to pass arguments, quote the command: KEY "/bin/x.sh nobody nogroup extra more"`},
		// The classic mistake: an unquoted argument is the user.
		{"unquoted argument", `/bin/x.sh ` + none, script.Command{Argv: []string{"/bin/x.sh"}, User: none},
			`no user ` + none + ` on this machine: the script runs as USER [GROUP] named after it, so xlbd will not run it, as keepalived would not; to pass arguments, quote the command: KEY "/bin/x.sh ` + none + `"`},
		{"unknown group", `/bin/x.sh nobody ` + none, script.Command{Argv: []string{"/bin/x.sh"}, User: "nobody", Group: none},
			`no group ` + none + ` on this machine`},
	}
	type keyword struct {
		name string
		conf func(line string) string
		get  func(*Config) script.Command
	}
	vrrpKey := func(key string, get func(*Config) script.Command) keyword {
		return keyword{key, func(line string) string { return vrrpConf(" virtual_router_id 1\n " + key + " " + line + "\n") }, get}
	}
	vsKey := func(key string, get func(*Config) script.Command) keyword {
		return keyword{key, func(line string) string {
			return strings.Replace(sorryKA, "    lvs_method DR\n", "    lvs_method DR\n    "+key+" "+line+"\n", 1)
		}, get}
	}
	rsKey := func(key string, get func(*Config) script.Command) keyword {
		return keyword{key, func(line string) string {
			return strings.Replace(sorryKA, "    real_server 10.0.0.2 80 {\n", "    real_server 10.0.0.2 80 {\n        "+key+" "+line+"\n", 1)
		}, get}
	}
	syncKey := func(key string, get func(*Config) script.Command) keyword {
		return keyword{"group " + key, func(line string) string {
			return "vrrp_sync_group G {\n group {\n  VI_1\n }\n " + key + " " + line + "\n}\n" + vrrpConf(" virtual_router_id 1\n")
		}, get}
	}
	keywords := []keyword{
		syncKey("notify_master", func(c *Config) script.Command { return c.SyncGroups[0].NotifyMaster }),
		syncKey("notify_backup", func(c *Config) script.Command { return c.SyncGroups[0].NotifyBackup }),
		syncKey("notify_fault", func(c *Config) script.Command { return c.SyncGroups[0].NotifyFault }),
		syncKey("notify_stop", func(c *Config) script.Command { return c.SyncGroups[0].NotifyStop }),
		syncKey("notify", func(c *Config) script.Command { return c.SyncGroups[0].Notify }),
		vrrpKey("notify_master", func(c *Config) script.Command { return c.VRRP[0].NotifyMaster }),
		vrrpKey("notify_backup", func(c *Config) script.Command { return c.VRRP[0].NotifyBackup }),
		vrrpKey("notify_fault", func(c *Config) script.Command { return c.VRRP[0].NotifyFault }),
		vrrpKey("notify_stop", func(c *Config) script.Command { return c.VRRP[0].NotifyStop }),
		vrrpKey("notify", func(c *Config) script.Command { return c.VRRP[0].Notify }),
		vsKey("quorum_up", func(c *Config) script.Command { return c.Services[0].QuorumUp }),
		vsKey("quorum_down", func(c *Config) script.Command { return c.Services[0].QuorumDown }),
		rsKey("notify_up", func(c *Config) script.Command { return c.Services[0].Reals[0].NotifyUp }),
		rsKey("notify_down", func(c *Config) script.Command { return c.Services[0].Reals[0].NotifyDown }),
	}
	for _, k := range keywords {
		for _, f := range forms {
			t.Run(k.name+"/"+f.name, func(t *testing.T) {
				in := k.conf(f.line)
				cfg, warns := mustParse(t, in, Options{})
				if got := k.get(cfg); !reflect.DeepEqual(got, f.want) {
					t.Errorf("%s %s: got %+v, want %+v", k.name, f.line, got, f.want)
				}
				var found []string
				field := strings.TrimPrefix(k.name, "group ")
				for _, w := range warns {
					if w.Field == field {
						found = append(found, w.Msg)
					}
				}
				want := strings.ReplaceAll(f.warn, "KEY", field)
				switch {
				case want == "" && len(found) > 0:
					t.Errorf("unexpected warnings %q", found)
				case want != "" && (len(found) != 1 || !strings.Contains(found[0], want)):
					t.Errorf("warnings %q, want one with %q", found, want)
				}
				// The native format keeps the user and group.
				out, err := MarshalNative(cfg)
				if err != nil {
					t.Fatal(err)
				}
				back, _, err := Parse("back.yaml", out, FormatYAML)
				if err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				if got := k.get(back); !reflect.DeepEqual(got, f.want) {
					t.Errorf("after a round trip: %+v, want %+v\n%s", got, f.want, out)
				}
			})
		}
	}
}

// A vrrp_script's script and a MISC_CHECK's misc_path are only the script
// word (their user is a keyword of its own): keepalived ignores what follows
// an unquoted command, so xlb does too, and says so.
func TestKeepalivedScriptOnlyWord(t *testing.T) {
	misc := func(line string) string {
		return strings.Replace(sorryKA, "    real_server 10.0.0.2 80 {\n", "    real_server 10.0.0.2 80 {\n        MISC_CHECK {\n            misc_path "+line+"\n            user nobody nogroup\n        }\n", 1)
	}
	track := func(line string) string {
		return "vrrp_script chk {\n script " + line + "\n user nobody nogroup\n}\n" + vrrpConf(" virtual_router_id 1\n track_script {\n  chk\n }\n")
	}
	for _, tc := range []struct {
		name, in string
		get      func(*Config) ([]string, string, string)
		field    string
	}{
		{"misc_path unquoted", misc(`/bin/check 10.0.0.2 3306`), func(c *Config) ([]string, string, string) {
			e := c.Services[0].Reals[0].Check.Exec
			return e.Command, e.User, e.Group
		}, "misc_path"},
		{"vrrp_script unquoted", track(`/bin/check 10.0.0.2 3306`), func(c *Config) ([]string, string, string) {
			s := c.VRRP[0].TrackScripts[0]
			return s.Command, s.User, s.Group
		}, "script"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, warns := mustParse(t, tc.in, Options{})
			argv, usr, group := tc.get(cfg)
			if !reflect.DeepEqual(argv, []string{"/bin/check"}) || usr != "nobody" || group != "nogroup" {
				t.Errorf("got %q as %s:%s", argv, usr, group)
			}
			want := fmt.Sprintf(`10.0.0.2 3306 ignored, as keepalived runs only the first word (or quoted string) of %s; to pass arguments, quote the command: %s "/bin/check 10.0.0.2 3306"`, tc.field, tc.field)
			if n := countWarn(warns, want); n != 1 {
				t.Errorf("warnings %v, want one %q", warns, want)
			}
			quoted := strings.Replace(tc.in, `/bin/check 10.0.0.2 3306`, `"/bin/check 10.0.0.2 3306"`, 1)
			cfg, warns = mustParse(t, quoted, Options{})
			if argv, _, _ := tc.get(cfg); !reflect.DeepEqual(argv, []string{"/bin/check", "10.0.0.2", "3306"}) || countWarn(warns, "ignored") != 0 {
				t.Errorf("quoted: %q, warnings %v", argv, warns)
			}
		})
	}
}

func countWarn(warns []Warning, sub string) int {
	n := 0
	for _, w := range warns {
		if strings.Contains(w.Msg, sub) {
			n++
		}
	}
	return n
}

// global_defs script_user USER GROUP: both reach every script's policy (the
// group was dropped before), and the native format keeps them.
func TestScriptUserGroup(t *testing.T) {
	in := "global_defs {\n script_user nobody nogroup\n}\n" + vrrpConf(" virtual_router_id 1\n notify_master /bin/x.sh\n")
	cfg, warns := mustParse(t, in, Options{})
	want := script.Policy{User: "nobody", Group: "nogroup"}
	if cfg.VRRP[0].ScriptPolicy != want || cfg.Global.ScriptPolicy() != want {
		t.Errorf("policy %+v / %+v, want %+v", cfg.VRRP[0].ScriptPolicy, cfg.Global.ScriptPolicy(), want)
	}
	if n := countWarn(warns, "group"); n != 0 {
		t.Errorf("warnings %v", warns)
	}
	out, err := MarshalNative(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := Parse("back.yaml", out, FormatYAML)
	if err != nil || back.Global.ScriptPolicy() != want {
		t.Fatalf("round trip: %v %+v\n%s", err, back.Global.ScriptPolicy(), out)
	}
}

// The native format's forms: a string, a list, or {command, user, group}.
func TestYAMLScriptForms(t *testing.T) {
	for _, tc := range []struct {
		val  string
		want script.Command
	}{
		{`/bin/x a`, script.Command{Argv: []string{"/bin/x", "a"}}},
		{`["/bin/x", "a b"]`, script.Command{Argv: []string{"/bin/x", "a b"}}},
		{`{command: "/bin/x a", user: nobody, group: nogroup}`, script.Command{Argv: []string{"/bin/x", "a"}, User: "nobody", Group: "nogroup"}},
		{`{command: ["/bin/x"], user: nobody}`, script.Command{Argv: []string{"/bin/x"}, User: "nobody"}},
	} {
		in := "vrrp: [{name: V, interface: eth0, vrid: 1, vips: [10.0.0.1/24], notify_master: " + tc.val + "}]\n"
		cfg, _, err := Parse("t.yaml", []byte(in), FormatYAML)
		if err != nil {
			t.Fatalf("%s: %v", tc.val, err)
		}
		if got := cfg.VRRP[0].NotifyMaster; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.val, got, tc.want)
		}
	}
	in := "vrrp: [{name: V, interface: eth0, vrid: 1, vips: [10.0.0.1/24], notify_master: {user: nobody}}]\n"
	if _, _, err := Parse("t.yaml", []byte(in), FormatYAML); err == nil || !strings.Contains(err.Error(), "notify_master: wants a command") {
		t.Errorf("no command: %v", err)
	}
}
