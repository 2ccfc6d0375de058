package config

import (
	"reflect"
	"strings"
	"testing"
)

// The check kinds keepalived users write beyond TCP/HTTP/MISC: each keyword
// lands in its field, keepalived's defaults fill the rest, and the converted
// YAML reads back to the same checks.
func TestKeepalivedCheckKinds(t *testing.T) {
	const conf = `
global_defs {
    xlb_interface eth0
}
virtual_server 10.1.0.1 443 {
    lvs_method DR
    real_server 10.1.0.2 443 {
        SSL_GET {
            sni_name api.test
            url {
                path /health
                digest 46B59657BFFF7A2A9A10B1FC45A3018F
                virtualhost www.test
            }
        }
    }
    real_server 10.1.0.3 443 {
        SSL_GET {
            enable_sni
            virtualhost www.test
            url {
                path /
            }
        }
    }
    real_server 10.1.0.4 443 {
        DNS_CHECK {
        }
    }
    real_server 10.1.0.5 443 {
        DNS_CHECK {
            type aaaa
            name www.test.
        }
    }
    real_server 10.1.0.6 443 {
        SMTP_CHECK {
        }
    }
    real_server 10.1.0.7 443 {
        PING_CHECK {
            retry 2
        }
    }
    real_server 10.1.0.8 443 {
        UDP_CHECK {
            payload 01 02 ff
            require_reply 0a xb
            max_reply_length 512
        }
    }
    real_server 10.1.0.9 443 {
        notify_up "/usr/local/bin/rs-up 10.1.0.9"
        notify_down /usr/local/bin/rs-down
        HTTP_GET {
            url {
                path /a
            }
            url {
                path /b
                status_code 200 503
                virtualhost b.test
                digest d41d8cd98f00b204e9800998ecf8427e
            }
            url {
                path /c
                regex ^ok
            }
        }
    }
}
`
	cfg, warns, err := Parse("k.conf", []byte(conf), FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warns {
		if strings.Contains(w.String(), "CHECK") || strings.Contains(w.String(), "SSL_GET") {
			t.Errorf("warning about a check: %v", w)
		}
	}
	want := []*Check{
		{Kind: CheckHTTP, Retry: 1, HTTP: &HTTPCheck{Path: "/health", StatusCodes: DefaultStatusCodes, Host: "www.test",
			Digest: "46B59657BFFF7A2A9A10B1FC45A3018F", SSL: true, SNI: "api.test"}},
		{Kind: CheckHTTP, Retry: 1, HTTP: &HTTPCheck{Path: "/", StatusCodes: DefaultStatusCodes, Host: "www.test", SSL: true, SNI: "www.test"}},
		{Kind: CheckDNS, Retry: 3, DNS: &DNSCheck{Type: "SOA"}},
		{Kind: CheckDNS, Retry: 3, DNS: &DNSCheck{Type: "aaaa", Name: "www.test."}},
		{Kind: CheckSMTP, Retry: 1, SMTP: &SMTPCheck{HeloName: "smtpchecker.keepalived.org"}},
		{Kind: CheckPing, Retry: 2},
		{Kind: CheckUDP, Retry: 1, UDP: &UDPCheck{Payload: "01 02 ff", RequireReply: true, Reply: "0a xb", MaxReplyLen: 512}},
		{Kind: CheckHTTP, Retry: 1, HTTP: &HTTPCheck{Path: "/a", StatusCodes: DefaultStatusCodes, More: []HTTPURL{
			{Path: "/b", StatusCodes: []StatusRange{{200, 200}, {503, 503}}, Host: "b.test", Digest: "d41d8cd98f00b204e9800998ecf8427e"},
			{Path: "/c", StatusCodes: DefaultStatusCodes, BodyRegex: "^ok"},
		}}},
	}
	reals := cfg.Services[0].Reals
	for i, w := range want {
		got := *reals[i].Check
		// Only what this test is about: kind, retry and the kind's block.
		got.Interval, got.ConnectTimeout, got.DelayBeforeRetry, got.Rise, got.Fall = 0, 0, 0, 0, 0
		got.ConnectIP, got.ConnectPort = w.ConnectIP, w.ConnectPort
		if !reflect.DeepEqual(&got, w) {
			t.Errorf("real %s: got %+v (http %+v), want %+v (http %+v)", reals[i].IP, got, got.HTTP, *w, w.HTTP)
		}
	}
	if up, down := reals[7].NotifyUp, reals[7].NotifyDown; !reflect.DeepEqual(up.Argv, []string{"/usr/local/bin/rs-up", "10.1.0.9"}) ||
		!reflect.DeepEqual(down.Argv, []string{"/usr/local/bin/rs-down"}) {
		t.Errorf("notify_up %q notify_down %q", up, down)
	}
	if d := reals[2].Check.DelayBeforeRetry; d != cfg.Services[0].DelayLoop {
		t.Errorf("DNS_CHECK delay_before_retry %v, keepalived's is the delay_loop %v", d, cfg.Services[0].DelayLoop)
	}

	out, err := MarshalNative(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := Parse("back.yaml", out, FormatYAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for i := range reals {
		if a, b := reals[i], back.Services[0].Reals[i]; !reflect.DeepEqual(a.NotifyUp, b.NotifyUp) || !reflect.DeepEqual(a.NotifyDown, b.NotifyDown) {
			t.Errorf("round trip of %s's notify scripts: %q %q", a.IP, b.NotifyUp, b.NotifyDown)
		}
		if a, b := reals[i].Check, back.Services[0].Reals[i].Check; !reflect.DeepEqual(a, b) {
			t.Errorf("round trip of %s: %+v, want %+v\n%s", reals[i].IP, b, a, out)
		}
	}
}

func TestKeepalivedCheckKindErrors(t *testing.T) {
	for name, tc := range map[string]struct{ block, want string }{
		"dns type":         {"DNS_CHECK {\n type PTR\n }", `type: "PTR": want one of A NS`},
		"dns empty label":  {"DNS_CHECK {\n name a..b\n }", "empty label"},
		"payload not hex":  {"UDP_CHECK {\n payload zz\n }", "not a hex digit"},
		"reply lengths":    {"UDP_CHECK {\n require_reply\n min_reply_length 9\n max_reply_length 3\n }", "min <= max"},
		"digest length":    {"HTTP_GET {\n url {\n path /\n digest abc\n }\n }", "32 hex digits"},
		"second url path":  {"HTTP_GET {\n url {\n path /\n }\n url {\n path b\n }\n }", `url: path: "b" does not start with /`},
		"smtp host blocks": {"SMTP_CHECK {\n host {\n connect_ip 10.1.0.9\n }\n }", "host blocks"},
	} {
		t.Run(name, func(t *testing.T) {
			conf := "global_defs {\n xlb_interface eth0\n}\nvirtual_server 10.1.0.1 80 {\n lvs_method DR\n real_server 10.1.0.2 80 {\n" + tc.block + "\n }\n}\n"
			_, _, err := Parse("k.conf", []byte(conf), FormatKeepalived)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "k.conf:") {
				t.Fatalf("got %v, want an error with its line about %q", err, tc.want)
			}
		})
	}
}

// FILE_CHECK takes its file and weight from a track_file defined above it;
// its own weight wins; the YAML form reads back the same.
func TestFileCheckFromTrackFile(t *testing.T) {
	const conf = `
global_defs {
    xlb_interface eth0
}
track_file maint {
    file /run/xlb/maint
    weight 0
}
track_file drain {
    file state/drain
}
virtual_server 10.1.0.1 80 {
    lvs_method DR
    real_server 10.1.0.2 80 {
        FILE_CHECK {
            track_file maint
        }
    }
    real_server 10.1.0.3 80 {
        FILE_CHECK {
            weight -5 reverse
            track_file drain
        }
    }
    real_server 10.1.0.4 80 {
        FILE_CHECK {
            track_file drain
        }
    }
}
`
	cfg, _, err := ParseWith("/etc/keepalived/k.conf", []byte(conf), Options{Format: FormatKeepalived})
	if err != nil {
		t.Fatal(err)
	}
	want := []FileCheck{
		{Path: "/run/xlb/maint", Weight: 0},
		{Path: "/etc/keepalived/state/drain", Weight: -5, Reverse: true},
		{Path: "/etc/keepalived/state/drain", Weight: 1},
	}
	for i, w := range want {
		r := cfg.Services[0].Reals[i]
		if r.Check.Kind != CheckFile || *r.Check.File != w || r.Check.Retry != 0 {
			t.Errorf("real %s: kind %s file %+v retry %d, want %+v retry 0", r.IP, r.Check.Kind, r.Check.File, r.Check.Retry, w)
		}
	}
	out, err := MarshalNative(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := Parse("back.yaml", out, FormatYAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for i := range want {
		if a, b := cfg.Services[0].Reals[i].Check, back.Services[0].Reals[i].Check; !reflect.DeepEqual(a, b) {
			t.Errorf("round trip: %+v, want %+v", b.File, a.File)
		}
	}
	for name, tc := range map[string]struct{ conf, want string }{
		"undefined": {"virtual_server 10.1.0.1 80 {\n lvs_method DR\n real_server 10.1.0.2 80 {\n FILE_CHECK {\n track_file nope\n }\n }\n}\n", `track_file "nope" is not defined above`},
		"no file":   {"track_file x {\n weight 2\n}\n", "file: required"},
		"weight":    {"track_file x {\n file /f\n weight 300\n}\n", "out of range -254..254"},
	} {
		_, _, err := Parse("k.conf", []byte("global_defs {\n xlb_interface eth0\n}\n"+tc.conf), FormatKeepalived)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want ~%q", name, err, tc.want)
		}
	}
}
