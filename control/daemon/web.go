package daemon

import (
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"xlb/control/api"
	"xlb/control/vrrp"
)

// The status page: the same api.Status xlbctl prints, rendered on the server
// (it works with JavaScript off) and refreshed in place by a small script
// that fetches the rendered body again. Everything is embedded: no CDN.
//
//go:embed web
var webFS embed.FS

var pageTmpl = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"ago":       ago,
	"clock":     func(t time.Time) string { return t.Local().Format("15:04:05") },
	"stamp":     func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05 MST") },
	"latency":   latencyText,
	"rate":      rateText,
	"spark":     sparkline,
	"pct":       func(a int, b uint32) float64 { return percent(float64(a), float64(b)) },
	"stateSlug": func(s fmt.Stringer) string { return strings.ToLower(s.String()) },
}).ParseFS(webFS, "web/page.html"))

// mountWeb serves the status page, its assets and /status.json on mux.
func mountWeb(mux *http.ServeMux, d *Daemon) {
	static, _ := fs.Sub(webFS, "web/static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(d.Status())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		v := newPageView(d.Status(), time.Now())
		name := "page.html"
		if r.URL.Query().Has("partial") {
			name = "body" // the script swaps this in without a reload
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := pageTmpl.ExecuteTemplate(w, name, v); err != nil {
			d.log.Warn("status page", "error", err)
		}
	})
}

// pageView is api.Status arranged for a glance: problems first.
type pageView struct {
	S        api.Status
	Now      time.Time
	Problems []problem
	Services []serviceView
	Events   []api.Event // newest first
	Down     int
	Backends int
}

type serviceView struct {
	api.Service
	Key  string
	Down int
}

// problem is one line of the banner: what is wrong, since when, why.
type problem struct {
	What   string
	Since  time.Time
	Reason string
}

func newPageView(s api.Status, now time.Time) pageView {
	v := pageView{S: s, Now: now}
	for _, svc := range s.Services {
		sv := serviceView{Service: svc, Key: svc.Key()}
		if sv.Name == "" {
			sv.Name = sv.Key
		}
		for _, b := range svc.Backends {
			v.Backends++
			if b.State != "active" {
				sv.Down++
				v.Problems = append(v.Problems, problem{What: fmt.Sprintf("%s %s is %s", sv.Name, b.IP, b.State), Since: b.Since, Reason: b.Reason})
			}
		}
		v.Down += sv.Down
		if !svc.Usable && svc.Quorum > 0 {
			v.Problems = append(v.Problems, problem{What: fmt.Sprintf("%s is not usable: active weight %d below quorum %d", sv.Name, svc.ActiveWeight, svc.Quorum)})
		}
		v.Services = append(v.Services, sv)
	}
	slices.SortFunc(v.Services, func(a, b serviceView) int { return strings.Compare(a.Interface+a.Key, b.Interface+b.Key) })
	for _, in := range s.VRRP {
		if in.State == vrrp.StateFault {
			v.Problems = append(v.Problems, problem{What: fmt.Sprintf("VRRP %s is in FAULT", in.Name), Since: in.Since})
		}
		for _, m := range in.Mismatches {
			if m.LastDropped {
				v.Problems = append(v.Problems, problem{What: fmt.Sprintf("VRRP %s: a peer on VRID %d is configured differently (%s): split brain likely", in.Name, in.VRID, m.Reason)})
			}
		}
	}
	for _, p := range s.Planes {
		if percent(float64(p.Flows), float64(p.MaxFlows)) >= 90 {
			v.Problems = append(v.Problems, problem{What: fmt.Sprintf("flow table on %s is %d of %d entries full", p.Interface, p.Flows, p.MaxFlows)})
		}
	}
	v.Events = slices.Clone(s.Events)
	slices.Reverse(v.Events)
	return v
}

func percent(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * a / b
}

// ago is a duration a person reads at a glance: "12s", "4m10s", "3h", "2d".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds ago", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm ago", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func latencyText(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	}
	return d.Round(10 * time.Millisecond).String()
}

// rateText is a rate with an SI prefix: "0", "12", "3.4k", "1.2M".
func rateText(x float64) string {
	switch {
	case x >= 1e9:
		return fmt.Sprintf("%.1fG", x/1e9)
	case x >= 1e6:
		return fmt.Sprintf("%.1fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1fk", x/1e3)
	case x >= 10 || x == 0:
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.1f", x)
}

// sparkline draws a series as an inline SVG area chart, scaled to its own
// maximum, with the latest value and the maximum written beside it. The
// markup is built only from numbers, so it is safe to emit unescaped.
func sparkline(t *api.Traffic, unit string) template.HTML {
	const w, h = 160.0, 28.0
	if t == nil || len(t.Packets) == 0 {
		return template.HTML(`<span class="spark-empty">no samples yet</span>`)
	}
	xs := t.Packets
	if unit == "B/s" {
		xs = t.Bytes
	}
	peak := slices.Max(xs)
	scale := 0.0
	if peak > 0 {
		scale = (h - 2) / peak
	}
	// Right-aligned on the full time axis: a short series (xlbd started a
	// minute ago) fills only the recent end.
	step := w / float64(trafficSamples-1)
	x0 := w - step*float64(len(xs)-1)
	var line strings.Builder
	for i, x := range xs {
		fmt.Fprintf(&line, "%.1f,%.1f ", x0+step*float64(i), h-1-x*scale)
	}
	pts := strings.TrimSpace(line.String())
	minutes := float64(trafficSamples) * t.Interval.Minutes()
	return template.HTML(fmt.Sprintf(`<svg class="spark" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="%s over the last %.0f minutes">`+
		`<polygon points="%.1f,%.0f %s %.1f,%.0f"/><polyline points="%s"/></svg>`+
		`<span class="spark-val">%s %s <small>max %s</small></span>`,
		w, h, w, h, unit, minutes, x0, h, pts, w, h, pts, rateText(xs[len(xs)-1]), unit, rateText(peak)))
}
