package config

import (
	"fmt"

	"xlb/control/secret"
	"xlb/lb"
)

// Scheduler is an IPVS scheduler name as the user wrote it, lower case.
type Scheduler string

// schedulers maps every accepted IPVS scheduler to its balancing mode. The
// connection-counting ones (lc, wlc, sed, nq) have no per-connection state in
// XDP: they become weighted Maglev, which spreads new flows by weight.
var schedulers = map[Scheduler]lb.Balancing{
	"rr":  lb.Maglev,
	"wrr": lb.Maglev,
	"lc":  lb.Maglev,
	"wlc": lb.Maglev,
	"sed": lb.Maglev,
	"nq":  lb.Maglev,
	"sh":  lb.SourceHash,
	"mh":  lb.SourceHash,
	"fo":  lb.Failover,
}

// Known reports whether s is an accepted scheduler.
func (s Scheduler) Known() bool { _, ok := schedulers[s]; return ok }

// Balancing is the data-plane mode of the service: its scheduler's, turned
// into source-IP affinity by a persistence timeout (except fo, which already
// sends every new flow to one backend).
func (s *Service) Balancing() lb.Balancing {
	b := schedulers[s.Scheduler]
	if b == lb.Maglev && s.PersistenceTimeout > 0 {
		return lb.SourceHash
	}
	return b
}

// Method is the forwarding method; xlb does direct routing only.
type Method string

// MethodDR is direct routing (MAC rewrite): the only method xlb has.
const MethodDR Method = "dr"

// CheckKind names a health-check kind.
type CheckKind string

// Check kinds.
const (
	CheckTCP   CheckKind = "tcp"
	CheckMySQL CheckKind = "mysql"
	CheckExec  CheckKind = "exec"
	CheckHTTP  CheckKind = "http"
	CheckDNS   CheckKind = "dns"
	CheckSMTP  CheckKind = "smtp"
	CheckPing  CheckKind = "ping"
	CheckUDP   CheckKind = "udp"
	CheckFile  CheckKind = "file"
)

// AuthType is VRRPv2 authentication.
type AuthType string

// Authentication types.
const (
	AuthNone AuthType = "none"
	AuthPass AuthType = "pass"
)

// Credentials returns the user and the password, read from PasswordFile when
// that is set (its first line, without the line ending), so a rotated
// password is used at the next check without a reload.
func (m *MySQLCheck) Credentials() (string, secret.Secret, error) {
	if m.PasswordFile == "" {
		return m.User, m.Password, nil
	}
	pass, err := secret.FromFile(m.PasswordFile)
	if err != nil {
		return "", secret.Secret{}, fmt.Errorf("mysql password_file: %w", err)
	}
	return m.User, pass, nil
}
