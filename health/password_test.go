package health

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	sec "xlb/control/secret"
)

const secret = "s3cr3t-Pa55"

func TestPasswordNeverPrints(t *testing.T) {
	cfg := MySQLConfig{Addr: "10.0.0.1:3306", User: "check", Password: sec.New(secret)}
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	log.Info("cfg", "password", cfg.Password, "cfg", cfg)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("cfg", "password", cfg.Password)
	js, err := json.Marshal(struct{ Password sec.Secret }{cfg.Password})
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
