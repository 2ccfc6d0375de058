package config

import (
	"fmt"
	"testing"
	"time"
)

// Each keepalived checker gets keepalived's own retry defaults (check_http.c:
// HTTP_GET waits 3 s before a retry; check_misc.c: MISC_CHECK does not
// retry), and a value the file gives wins.
func TestCheckTimingPerKeepalivedChecker(t *testing.T) {
	const conf = `
global_defs {
    xlb_interface eth0
}
virtual_server 10.1.0.1 80 {
    delay_loop 20
    lvs_method DR
    real_server 10.1.0.2 80 {
        TCP_CHECK {
        }
    }
    real_server 10.1.0.3 80 {
        HTTP_GET {
            url {
                path /
            }
        }
    }
    real_server 10.1.0.4 80 {
        MISC_CHECK {
            misc_path "/bin/true"
        }
    }
    real_server 10.1.0.5 80 {
        HTTP_GET {
            url {
                path /
            }
            retry 4
            delay_before_retry 2
        }
    }
    real_server 10.1.0.6 80 {
        HTTP_GET {
            url {
                path /
            }
            nb_get_retry 5
        }
    }
    real_server 10.1.0.7 80 {
        TCP_CHECK {
            nb_get_retry 5
        }
    }
}
`
	cfg, _, err := Parse("t.conf", []byte(conf), FormatKeepalived)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		retry int
		delay time.Duration
	}{{1, time.Second}, {1, 3 * time.Second}, {0, time.Second}, {4, 2 * time.Second},
		// nb_get_retry counts in HTTP_GET only, as in keepalived.
		{5, 3 * time.Second}, {1, time.Second}}
	for i, w := range want {
		c := cfg.Services[0].Reals[i].Check
		if c.Retry != w.retry || c.DelayBeforeRetry != w.delay {
			t.Errorf("real %d (%s): retry %d delay_before_retry %v, want %d and %v", i, c.Kind, c.Retry, c.DelayBeforeRetry, w.retry, w.delay)
		}
	}
	// The converted YAML says nothing about defaults and reads back the same.
	out, err := MarshalNative(cfg)
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := Parse("back.yaml", out, FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(checkTimings(back)), fmt.Sprint(checkTimings(cfg)); got != want {
		t.Fatalf("round trip: %s, want %s\n%s", got, want, out)
	}
}

func checkTimings(c *Config) []string {
	var out []string
	for _, r := range c.Services[0].Reals {
		out = append(out, fmt.Sprintf("%s/%d/%v", r.Check.Kind, r.Check.Retry, r.Check.DelayBeforeRetry))
	}
	return out
}
