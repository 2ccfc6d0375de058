package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"xlb/control/config"
)

func init() {
	Register(config.CheckUDP, func(r config.RealServer, target string, _ *slog.Logger) (Checker, error) {
		c := r.Check
		u := UDPConfig{Addr: target, RequireReply: c.UDP.RequireReply, MinReplyLen: c.UDP.MinReplyLen, MaxReplyLen: c.UDP.MaxReplyLen}
		var err error
		if c.UDP.Payload != "" {
			if u.Payload, _, err = config.ParseHex(c.UDP.Payload, false); err != nil {
				return nil, fmt.Errorf("udp check payload: %w", err)
			}
		}
		if c.UDP.Reply != "" {
			if u.Reply, u.ReplyMask, err = config.ParseHex(c.UDP.Reply, true); err != nil {
				return nil, fmt.Errorf("udp check reply: %w", err)
			}
		}
		return NewUDP(u)
	})
}

// UDPConfig is keepalived's UDP_CHECK: send Payload (possibly empty) in one
// datagram and wait up to the timeout. An ICMP unreachable (a read error on
// the connected socket) is down. Without RequireReply, silence until the
// timeout, or any reply, is up; with it, silence is down and, when Reply is
// set, the reply must be MinReplyLen..MaxReplyLen bytes long and its first
// bytes must equal Reply where ReplyMask has no bits (check_udp.c
// check_udp_reply; lengths are only judged when Reply is set, as there).
type UDPConfig struct {
	Addr         string // host:port [connect_ip, connect_port]
	Payload      []byte // [payload]
	RequireReply bool   // [require_reply]
	Reply        []byte // [require_reply HEX]
	// ReplyMask marks wildcard bits of Reply (config.ParseHex's mask); nil: none.
	ReplyMask   []byte
	MinReplyLen int // [min_reply_length], default 0
	MaxReplyLen int // [max_reply_length], default 255 when zero
	Dial        DialFunc
}

// DefaultMaxReplyLen is keepalived's max_reply_length default (UINT8_MAX).
const DefaultMaxReplyLen = 255

// UDPChecker implements UDPConfig.
type UDPChecker struct{ cfg UDPConfig }

// NewUDP validates cfg and fills its defaults.
func NewUDP(cfg UDPConfig) (*UDPChecker, error) {
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("udp check: address %q: %w", cfg.Addr, err)
	}
	if cfg.MaxReplyLen == 0 {
		cfg.MaxReplyLen = DefaultMaxReplyLen
	}
	switch {
	case len(cfg.Payload) > 65507:
		return nil, fmt.Errorf("udp check: payload of %d bytes does not fit a datagram", len(cfg.Payload))
	case cfg.MinReplyLen < 0 || cfg.MaxReplyLen > 65535:
		return nil, fmt.Errorf("udp check: reply lengths must be within 0-65535")
	case cfg.MinReplyLen > cfg.MaxReplyLen:
		// keepalived only warns ("will always fail"); a check that can never
		// pass is a configuration error here.
		return nil, fmt.Errorf("udp check: min_reply_length %d > max_reply_length %d: the check could never pass", cfg.MinReplyLen, cfg.MaxReplyLen)
	case cfg.ReplyMask != nil && len(cfg.ReplyMask) != len(cfg.Reply):
		return nil, fmt.Errorf("udp check: reply mask has %d bytes for %d reply bytes", len(cfg.ReplyMask), len(cfg.Reply))
	case len(cfg.Reply) > 0 && !cfg.RequireReply:
		return nil, errors.New("udp check: reply data without require_reply")
	}
	cfg.Dial = cfg.Dial.orDefault()
	return &UDPChecker{cfg: cfg}, nil
}

// Check sends the payload and waits for a reply or an error until ctx ends.
func (c *UDPChecker) Check(ctx context.Context) Result {
	start := time.Now()
	conn, err := c.cfg.Dial(ctx, "udp", c.cfg.Addr)
	if err != nil {
		return failResult(fmt.Errorf("%w: %w", ErrConnect, timeoutOr(ctx, start, err)))
	}
	defer conn.Close()
	if _, err := conn.Write(c.cfg.Payload); err != nil {
		return failResult(fmt.Errorf("%w: send: %w", ErrConnect, err))
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, c.cfg.MaxReplyLen+1)
	n, err := conn.Read(buf)
	if err != nil {
		if ctx.Err() == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			// ICMP unreachable: the kernel reports it on the connected socket.
			return failResult(fmt.Errorf("%w: %w", ErrConnect, err))
		}
		if !c.cfg.RequireReply {
			return okResult(fmt.Sprintf("no reply and no ICMP error within %v", time.Since(start).Round(time.Millisecond)))
		}
		return failResult(fmt.Errorf("%w: no reply: %w", ErrConnect, timeoutOr(ctx, start, err)))
	}
	if c.cfg.Reply != nil {
		if err := c.judge(buf[:n]); err != nil {
			return failResult(err)
		}
	}
	return okResult(fmt.Sprintf("%d-byte reply", n))
}

func (c *UDPChecker) judge(got []byte) error {
	if len(got) < c.cfg.MinReplyLen || len(got) > c.cfg.MaxReplyLen {
		what := fmt.Sprintf("%d", len(got))
		if len(got) > c.cfg.MaxReplyLen {
			what = fmt.Sprintf("over %d", c.cfg.MaxReplyLen)
		}
		return fmt.Errorf("%w: reply of %s bytes, want %d-%d", ErrProtocol, what, c.cfg.MinReplyLen, c.cfg.MaxReplyLen)
	}
	for i := 0; i < len(got) && i < len(c.cfg.Reply); i++ {
		var wild byte
		if c.cfg.ReplyMask != nil {
			wild = c.cfg.ReplyMask[i]
		}
		if (got[i]^c.cfg.Reply[i])&^wild != 0 {
			return fmt.Errorf("%w: reply byte %d is %#02x, want %#02x (mask %#02x)", ErrProtocol, i, got[i], c.cfg.Reply[i], wild)
		}
	}
	return nil
}
