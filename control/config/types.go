package config

import (
	"fmt"
	"strings"

	"xlb/control/secret"
)

// Protocol is an IP protocol number; only TCP and UDP are valid.
type Protocol uint8

// Protocols a service may use.
const (
	TCP Protocol = 6
	UDP Protocol = 17
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

func parseProtocol(s string) (Protocol, bool) {
	switch strings.ToLower(s) {
	case "tcp":
		return TCP, true
	case "udp":
		return UDP, true
	}
	return 0, false
}

// Scheduler is an IPVS scheduler name as the user wrote it, lower case.
type Scheduler string

// Balancing is what the data plane does for new flows. Existing flows always
// stay on their backend while it is usable.
type Balancing int

// Balancing modes.
const (
	// BalanceMaglev spreads new flows over usable backends by weight with a
	// weighted Maglev table hashed on the 5-tuple; two directors with the same
	// config choose alike.
	BalanceMaglev Balancing = iota + 1
	// BalanceSourceHash is the Maglev table hashed on the client address only:
	// a client keeps its backend (sh, mh, persistence_timeout).
	BalanceSourceHash
	// BalanceFailover sends all new flows to the usable backend with the
	// highest weight (ties: the first listed): IPVS's fo.
	BalanceFailover
)

func (b Balancing) String() string {
	switch b {
	case BalanceMaglev:
		return "maglev"
	case BalanceSourceHash:
		return "source-hash"
	case BalanceFailover:
		return "failover"
	}
	return fmt.Sprintf("balancing(%d)", int(b))
}

// schedulers maps every accepted IPVS scheduler to its balancing mode. The
// connection-counting ones (lc, wlc, sed, nq) have no per-connection state in
// XDP: they become weighted Maglev, which spreads new flows by weight.
var schedulers = map[Scheduler]Balancing{
	"rr":  BalanceMaglev,
	"wrr": BalanceMaglev,
	"lc":  BalanceMaglev,
	"wlc": BalanceMaglev,
	"sed": BalanceMaglev,
	"nq":  BalanceMaglev,
	"sh":  BalanceSourceHash,
	"mh":  BalanceSourceHash,
	"fo":  BalanceFailover,
}

// Known reports whether s is an accepted scheduler.
func (s Scheduler) Known() bool { _, ok := schedulers[s]; return ok }

// Balancing is the data-plane mode of the service: its scheduler's, turned
// into source-IP affinity by a persistence timeout (except fo, which already
// sends every new flow to one backend).
func (s *Service) Balancing() Balancing {
	b := schedulers[s.Scheduler]
	if b == BalanceMaglev && s.PersistenceTimeout > 0 {
		return BalanceSourceHash
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
)

// AuthType is VRRPv2 authentication.
type AuthType string

// Authentication types.
const (
	AuthNone AuthType = "none"
	AuthPass AuthType = "pass"
)

// Secret holds a password; only MarshalNative writes it out (xlbctl convert
// must produce a working file).
type Secret = secret.Secret

// NewSecret wraps s.
func NewSecret(s string) Secret { return secret.New(s) }

const redacted = secret.Redacted

// Credentials returns the user and the password, read from PasswordFile when
// that is set (its first line, without the line ending), so a rotated
// password is used at the next check without a reload.
func (m *MySQLCheck) Credentials() (string, Secret, error) {
	if m.PasswordFile == "" {
		return m.User, m.Password, nil
	}
	pass, err := secret.FromFile(m.PasswordFile)
	if err != nil {
		return "", Secret{}, fmt.Errorf("mysql password_file: %w", err)
	}
	return m.User, pass, nil
}
