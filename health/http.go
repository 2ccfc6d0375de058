package health

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"xlb/control/config"
)

func init() {
	Register(config.CheckHTTP, func(r config.RealServer, target string, _ *slog.Logger) (Checker, error) {
		c := r.Check
		var body *regexp.Regexp
		if c.HTTP.BodyRegex != "" {
			var err error
			if body, err = regexp.Compile(c.HTTP.BodyRegex); err != nil {
				return nil, fmt.Errorf("http check body_regex: %w", err)
			}
		}
		u := URLCheck{Path: c.HTTP.Path, Digest: c.HTTP.Digest, Body: body}
		for _, sr := range c.HTTP.StatusCodes {
			u.Status = append(u.Status, StatusRange{Min: sr.Min, Max: sr.Max})
		}
		urls := []URLCheck{u}
		for _, m := range c.HTTP.More {
			u := URLCheck{Path: m.Path, Digest: m.Digest, Host: m.Host}
			if m.BodyRegex != "" {
				var err error
				if u.Body, err = regexp.Compile(m.BodyRegex); err != nil {
					return nil, fmt.Errorf("http check url %s regex: %w", m.Path, err)
				}
			}
			for _, sr := range m.StatusCodes {
				u.Status = append(u.Status, StatusRange{Min: sr.Min, Max: sr.Max})
			}
			urls = append(urls, u)
		}
		return NewHTTPGet(HTTPGetConfig{Addr: target, SSL: c.HTTP.SSL, SNI: c.HTTP.SNI, Host: c.HTTP.Host, URLs: urls})
	})
}

// HTTPConfig is an HTTP(S) GET check for services that are not MySQL, like
// keepalived's HTTP_GET: the status must be within [StatusMin, StatusMax]
// (default 200-299) or one of the Also ranges and, when Body is set, the first
// BodyLimit bytes of the body must match it; when Digest is set, the MD5 of
// the whole body must equal it.
//
// As keepalived does, the whole body is read until the server closes the
// connection: a server that sends its headers and then stalls is down when
// the attempt times out.
type HTTPConfig struct {
	URL       string
	Host      string // Host header, when it differs from the URL's host [virtualhost]
	StatusMin int
	StatusMax int
	Also      []StatusRange // further accepted statuses, judged on the same response
	Body      *regexp.Regexp
	BodyLimit int64 // default 64 KiB
	// Digest is the MD5 of the body in hex, as keepalived's genhash prints
	// it [digest].
	Digest string
	TLS    *tls.Config
	Dial   DialFunc
}

const maxHeaderBytes = 4096

// userAgent is what keepalived's HTTP_GET sends (check_http.c
// request_template), so backends that filter or log checks by it see the
// same client.
const userAgent = "KeepAliveClient"

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Min, Max int }

func (r StatusRange) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(r.Min)
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

// HTTPChecker implements HTTPConfig.
type HTTPChecker struct {
	cfg    HTTPConfig
	accept []StatusRange
	digest []byte
	client *http.Client
}

// NewHTTP validates cfg and fills its defaults.
func NewHTTP(cfg HTTPConfig) (*HTTPChecker, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("http check: url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("http check: url %q: want http:// or https:// with a host", cfg.URL)
	}
	if cfg.StatusMin == 0 && cfg.StatusMax == 0 {
		cfg.StatusMin, cfg.StatusMax = 200, 299
	}
	accept := append([]StatusRange{{cfg.StatusMin, cfg.StatusMax}}, cfg.Also...)
	for _, r := range accept {
		if r.Min < 100 || r.Max > 599 || r.Min > r.Max {
			return nil, fmt.Errorf("http check: status range %d-%d is not within 100-599", r.Min, r.Max)
		}
	}
	if cfg.BodyLimit == 0 {
		cfg.BodyLimit = 64 << 10
	}
	var digest []byte
	if cfg.Digest != "" {
		// keepalived's digest_handler: exactly 32 hex digits.
		if digest, err = hex.DecodeString(cfg.Digest); err != nil || len(digest) != md5.Size {
			return nil, fmt.Errorf("http check: digest %q: want %d hex digits (an MD5 as genhash prints it)", cfg.Digest, 2*md5.Size)
		}
	}
	tr := &http.Transport{
		// One connection per check, closed with it: no idle connection or
		// its goroutines survive between checks.
		DisableKeepAlives: true,
		DialContext:       cfg.Dial.orDefault(),
		TLSClientConfig:   cfg.TLS,
		// keepalived finds the end of the headers within its 4 KiB read
		// buffer (check_http.h MAX_BUFFER_LENGTH) or fails the check.
		MaxResponseHeaderBytes: maxHeaderBytes,
	}
	client := &http.Client{
		Transport: tr,
		// A redirect is an answer: judge its status, do not follow it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &HTTPChecker{cfg: cfg, accept: accept, digest: digest, client: client}, nil
}

// Check makes one request.
func (c *HTTPChecker) Check(ctx context.Context) Result {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.cfg.URL, nil)
	if err != nil {
		return failResult(fmt.Errorf("http request: %w", err))
	}
	if c.cfg.Host != "" {
		req.Host = c.cfg.Host
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return failResult(fmt.Errorf("%w: %w", ErrConnect, timeoutOr(ctx, start, err)))
	}
	defer resp.Body.Close()
	if !slices.ContainsFunc(c.accept, func(r StatusRange) bool { return r.Min <= resp.StatusCode && resp.StatusCode <= r.Max }) {
		return failResult(fmt.Errorf("%w: %s, want %v", ErrHTTPStatus, resp.Status, c.accept))
	}
	// Read to the end as keepalived does: the MD5 needs all of it, and a
	// body that never ends is a failure, not a pass.
	sum := md5.New()
	var head bytes.Buffer
	n, err := io.Copy(io.MultiWriter(sum, &limitWriter{w: &head, n: c.cfg.BodyLimit}), resp.Body)
	if err != nil {
		return failResult(fmt.Errorf("%w: %s: read body after %d bytes: %w", ErrConnect, resp.Status, n, timeoutOr(ctx, start, err)))
	}
	var what []string
	if c.digest != nil {
		if got := sum.Sum(nil); !bytes.Equal(got, c.digest) {
			return failResult(fmt.Errorf("%w: %s: MD5 digest %x of %d bytes, want %x", ErrHTTPBody, resp.Status, got, n, c.digest))
		}
		what = append(what, "digest matches")
	}
	if c.cfg.Body != nil {
		if !c.cfg.Body.Match(head.Bytes()) {
			return failResult(fmt.Errorf("%w: %s: body does not match %q", ErrHTTPBody, resp.Status, c.cfg.Body))
		}
		what = append(what, "body matches")
	}
	return okResult(strings.Join(append([]string{resp.Status}, what...), ", "))
}

// limitWriter keeps the first n bytes written to w and drops the rest
// without failing the writer.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(int64(len(p)), l.n)
		l.n -= k
		if _, err := l.w.Write(p[:k]); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
