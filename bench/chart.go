package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
)

// Series colours of the MySQL chart, also named in the report's caption.
var (
	ChartTargets = []string{"xlb", "direct", "haproxy"}
	chartColours = []color.RGBA{{0x1f, 0x5f, 0xbf, 0xff}, {0x2a, 0x9d, 0x3a, 0xff}, {0xd9, 0x5f, 0x0e, 0xff}}
	// ChartColourNames matches ChartTargets, for the caption.
	ChartColourNames = []string{"blue", "green", "orange"}
)

// ChartThreads are the x positions of the MySQL chart.
var ChartThreads = []int{1, 4, 16, 64}

const (
	panelW, panelH = 320, 220
	padL, padB     = 56, 28
	padT, padR     = 12, 12
)

// MySQLChart draws one panel per sysbench test (columns) for throughput (top
// row, tps) and p99 latency (bottom row, ms) against client threads, one line
// per target, y from 0 to the panel's largest value (printed top left).
// Text is limited to digits, which a tiny built-in font draws: the report's
// caption says what the panels are.
func MySQLChart(res *Results, tests []string, w io.Writer) error {
	img := image.NewRGBA(image.Rect(0, 0, panelW*len(tests), panelH*2))
	fill(img, img.Bounds(), color.RGBA{0xff, 0xff, 0xff, 0xff})
	for col, test := range tests {
		for row, metric := range []string{"tps", "p99-ms"} {
			origin := image.Pt(col*panelW, row*panelH)
			if err := panel(img, origin, res, test, metric); err != nil {
				return err
			}
		}
	}
	return png.Encode(w, img)
}

func panel(img *image.RGBA, o image.Point, res *Results, test, metric string) error {
	vals := make([][]float64, len(ChartTargets))
	top := 0.0
	for i, t := range ChartTargets {
		for _, th := range ChartThreads {
			s, ok := res.Get(fmt.Sprintf("BenchmarkMySQL/%s/threads=%d", test, th), t+"-"+metric)
			if !ok {
				return fmt.Errorf("chart: no %s %s for %s at %d threads", t, metric, test, th)
			}
			vals[i] = append(vals[i], s.Median)
			top = math.Max(top, s.Median)
		}
	}
	if top == 0 {
		top = 1
	}
	plot := image.Rect(o.X+padL, o.Y+padT, o.X+panelW-padR, o.Y+panelH-padB)
	grey := color.RGBA{0x99, 0x99, 0x99, 0xff}
	line(img, plot.Min.X, plot.Max.Y, plot.Max.X, plot.Max.Y, grey)
	line(img, plot.Min.X, plot.Min.Y, plot.Min.X, plot.Max.Y, grey)
	text(img, o.X+4, plot.Min.Y, num(top), grey)
	text(img, o.X+4, plot.Max.Y-10, "0", grey)
	x := func(i int) int { return plot.Min.X + 8 + i*(plot.Dx()-16)/(len(ChartThreads)-1) }
	y := func(v float64) int { return plot.Max.Y - int(v/top*float64(plot.Dy())) }
	for i, th := range ChartThreads {
		line(img, x(i), plot.Max.Y, x(i), plot.Max.Y+3, grey)
		text(img, x(i)-4, plot.Max.Y+8, fmt.Sprint(th), grey)
	}
	for s, v := range vals {
		for i := 1; i < len(v); i++ {
			thick(img, x(i-1), y(v[i-1]), x(i), y(v[i]), chartColours[s])
		}
	}
	return nil
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// line draws with Bresenham's algorithm.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for range dx - dy + 1 { // one pixel per step, at most |dx|+|dy|+1 steps
		img.SetRGBA(x0, y0, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func thick(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	for _, d := range []image.Point{{0, 0}, {0, 1}, {1, 0}} {
		line(img, x0+d.X, y0+d.Y, x1+d.X, y1+d.Y, c)
	}
}

func abs(v int) int { return max(v, -v) }

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

// digits is a 3x5 font, one row per string, for the characters numbers need.
var digits = map[rune][5]string{
	'0': {"###", "#.#", "#.#", "#.#", "###"}, '1': {".#.", "##.", ".#.", ".#.", "###"},
	'2': {"###", "..#", "###", "#..", "###"}, '3': {"###", "..#", "###", "..#", "###"},
	'4': {"#.#", "#.#", "###", "..#", "..#"}, '5': {"###", "#..", "###", "..#", "###"},
	'6': {"###", "#..", "###", "#.#", "###"}, '7': {"###", "..#", "..#", "..#", "..#"},
	'8': {"###", "#.#", "###", "#.#", "###"}, '9': {"###", "#.#", "###", "..#", "###"},
	'.': {"...", "...", "...", "...", ".#."},
}

// text draws s at twice the font's size; characters it lacks are skipped.
func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, r := range s {
		g, ok := digits[r]
		if !ok {
			continue
		}
		for gy, rowBits := range g {
			for gx, bit := range rowBits {
				if bit == '#' {
					fill(img, image.Rect(x+2*gx, y+2*gy, x+2*gx+2, y+2*gy+2), c)
				}
			}
		}
		x += 8
	}
}
