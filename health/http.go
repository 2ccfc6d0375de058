package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"time"

	"xlb/control/config"
)

func init() {
	Register(config.CheckHTTP, func(c *config.Check, target string, _ *slog.Logger) (Checker, error) {
		var body *regexp.Regexp
		if c.HTTP.BodyRegex != "" {
			var err error
			if body, err = regexp.Compile(c.HTTP.BodyRegex); err != nil {
				return nil, fmt.Errorf("http check body_regex: %w", err)
			}
		}
		hc := HTTPConfig{URL: "http://" + target + c.HTTP.Path, Host: c.HTTP.Host, Body: body}
		for i, sr := range c.HTTP.StatusCodes {
			if i == 0 {
				hc.StatusMin, hc.StatusMax = sr.Min, sr.Max
				continue
			}
			hc.Also = append(hc.Also, StatusRange{Min: sr.Min, Max: sr.Max})
		}
		return NewHTTP(hc)
	})
}

// HTTPConfig is an HTTP(S) GET check for services that are not MySQL, like
// keepalived's HTTP_GET: the status must be within [StatusMin, StatusMax]
// (default 200-299) or one of the Also ranges and, when Body is set, the first
// BodyLimit bytes of the body must match it.
type HTTPConfig struct {
	URL       string
	Host      string // Host header, when it differs from the URL's host [virtualhost]
	StatusMin int
	StatusMax int
	Also      []StatusRange // further accepted statuses, judged on the same response
	Body      *regexp.Regexp
	BodyLimit int64 // default 64 KiB
	TLS       *tls.Config
	Dial      DialFunc
}

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
	tr := &http.Transport{
		// One connection per check, closed with it: no idle connection or
		// its goroutines survive between checks.
		DisableKeepAlives: true,
		DialContext:       cfg.Dial.orDefault(),
		TLSClientConfig:   cfg.TLS,
	}
	client := &http.Client{
		Transport: tr,
		// A redirect is an answer: judge its status, do not follow it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &HTTPChecker{cfg: cfg, accept: accept, client: client}, nil
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
	if c.cfg.Body == nil {
		return okResult(resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.BodyLimit))
	if err != nil {
		return failResult(fmt.Errorf("%w: read body: %w", ErrConnect, timeoutOr(ctx, start, err)))
	}
	if !c.cfg.Body.Match(body) {
		return failResult(fmt.Errorf("%w: %s: body does not match %q", ErrHTTPBody, resp.Status, c.cfg.Body))
	}
	return okResult(resp.Status + ", body matches")
}
