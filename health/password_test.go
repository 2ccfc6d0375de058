package health

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const secret = "s3cr3t-Pa55"

func TestPasswordNeverPrints(t *testing.T) {
	cfg := MySQLConfig{Addr: "10.0.0.1:3306", User: "check", Password: NewPassword(secret)}
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	log.Info("cfg", "password", cfg.Password, "cfg", cfg)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("cfg", "password", cfg.Password)
	js, err := json.Marshal(struct{ Password Password }{cfg.Password})
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{"slog": logged.String(), "json": string(js)}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		outputs[verb+" cfg"] = fmt.Sprintf(verb, cfg)
		outputs[verb+" password"] = fmt.Sprintf(verb, cfg.Password)
		outputs[verb+" pointer"] = fmt.Sprintf(verb, &cfg)
	}
	for name, out := range outputs {
		if strings.Contains(out, secret) || strings.Contains(out, fmt.Sprintf("%x", secret)) {
			t.Errorf("%s shows the secret: %s", name, out)
		}
		if !strings.Contains(out, "redacted") {
			t.Errorf("%s does not say the password is redacted: %s", name, out)
		}
	}
	if cfg.Password.Reveal() != secret {
		t.Fatal("Reveal lost the secret")
	}
}

func TestLoadPassword(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, inline, file, want string
		wantErr                  bool
	}{
		{name: "inline", inline: secret, want: secret},
		{name: "file with newline", file: write("nl", secret+"\n"), want: secret},
		{name: "file with CRLF and more lines", file: write("crlf", secret+"\r\nignored\n"), want: secret},
		{name: "empty file", file: write("empty", "\n"), wantErr: true},
		{name: "missing file", file: filepath.Join(dir, "nope"), wantErr: true},
		{name: "both set", inline: "x", file: write("both", secret), wantErr: true},
		{name: "neither set is no password", want: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := LoadPassword(tc.inline, tc.file)
			if tc.wantErr {
				if !errors.Is(err, ErrPasswordSource) {
					t.Fatalf("got %v, want ErrPasswordSource", err)
				}
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error shows the secret: %v", err)
				}
				return
			}
			if err != nil || p.Reveal() != tc.want {
				t.Fatalf("got %q, %v; want %q", p.Reveal(), err, tc.want)
			}
		})
	}
}
