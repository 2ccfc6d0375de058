package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
)

// HTTPGetConfig is keepalived's HTTP_GET or SSL_GET with its url blocks: one
// GET per url, in order, each judged on its own status codes, digest, regex
// and virtualhost; the server is up when every url passes.
//
// keepalived fetches one url per delay_loop and retries only the failing url;
// xlb fetches all of them in every attempt, so a failing url is seen within
// one delay_loop wherever it stands in the list, never later than keepalived
// sees it.
type HTTPGetConfig struct {
	Addr string // host:port [connect_ip, connect_port]
	// SSL makes it SSL_GET. As keepalived, the server's certificate is not
	// verified (keepalived never sets a verify mode) unless TLS says so.
	SSL bool
	TLS *tls.Config
	// SNI is the server name sent in the TLS handshake [enable_sni,
	// sni_name]; empty: none, keepalived's default.
	SNI  string
	Host string // Host header of every url without its own [virtualhost]
	URLs []URLCheck
	Dial DialFunc
}

// URLCheck is one url block.
type URLCheck struct {
	Path   string
	Status []StatusRange  // [status_code]; none: 200-299
	Digest string         // [digest] MD5 of the body, hex
	Host   string         // [virtualhost] of this url
	Body   *regexp.Regexp // [regex]
}

// HTTPGetChecker implements HTTPGetConfig.
type HTTPGetChecker struct {
	urls  []*HTTPChecker
	paths []string
}

// NewHTTPGet validates cfg.
func NewHTTPGet(cfg HTTPGetConfig) (*HTTPGetChecker, error) {
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("http_get: address %q: %w", cfg.Addr, err)
	}
	if len(cfg.URLs) == 0 {
		// keepalived: "HTTP/SSL_GET checker has no urls specified".
		return nil, errors.New("http_get: no url")
	}
	scheme := "http://"
	tc := cfg.TLS
	if cfg.SSL {
		scheme = "https://"
		if tc == nil {
			tc = &tls.Config{InsecureSkipVerify: true}
		} else {
			tc = tc.Clone()
		}
		if cfg.SNI != "" {
			tc.ServerName = cfg.SNI
		}
	}
	c := &HTTPGetChecker{}
	for i, u := range cfg.URLs {
		if !strings.HasPrefix(u.Path, "/") {
			return nil, fmt.Errorf("http_get: url %d: path %q must start with /", i+1, u.Path)
		}
		hc := HTTPConfig{URL: scheme + cfg.Addr + u.Path, Host: cfg.Host, Digest: u.Digest, Body: u.Body, TLS: tc, Dial: cfg.Dial}
		if u.Host != "" {
			hc.Host = u.Host
		}
		if len(u.Status) > 0 {
			hc.StatusMin, hc.StatusMax = u.Status[0].Min, u.Status[0].Max
			hc.Also = u.Status[1:]
		}
		h, err := NewHTTP(hc)
		if err != nil {
			return nil, fmt.Errorf("http_get: url %d (%s): %w", i+1, u.Path, err)
		}
		c.urls = append(c.urls, h)
		c.paths = append(c.paths, u.Path)
	}
	return c, nil
}

// Check fetches every url in order and stops at the first that fails.
func (c *HTTPGetChecker) Check(ctx context.Context) Result {
	var last Result
	for i, h := range c.urls {
		last = h.Check(ctx)
		if !last.OK {
			err := fmt.Errorf("url %s: %w", c.paths[i], last.Err)
			if len(c.urls) == 1 {
				err = last.Err
			}
			return failResult(err)
		}
	}
	if len(c.urls) == 1 {
		return last
	}
	return okResult(fmt.Sprintf("%d urls pass", len(c.urls)))
}
