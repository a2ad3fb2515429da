package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Chart is a small line or bar chart rendered to SVG by hand (a plotting
// library would pull in fonts and image codecs for three kinds of chart).
// X is categorical: the series' points sit at evenly spaced XLabels.
type Chart struct {
	Title, XLabel, YLabel string
	XLabels               []string
	Series                []Series
	// LogY draws the Y axis in decades.
	LogY bool
	// Bars draws one bar per series at each X label instead of lines.
	Bars bool
}

// Series is one named line (or bar group member). Y holds one value per X
// label; NaN or a non-positive value on a log axis is a gap.
type Series struct {
	Name   string
	Y      []float64
	Dashed bool
	// Color indexes the palette; series sharing a color belong together
	// (p50 dashed and p99 solid of one target).
	Color int
}

// Plot is a chart and the file it goes to.
type Plot struct {
	File  string
	Chart *Chart
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
	"#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39"}

const (
	svgW, svgH             = 820, 440
	padL, padR, padT, padB = 80, 230, 44, 56
	plotW, plotH           = svgW - padL - padR, svgH - padT - padB
	legendX                = svgW - padR + 16
)

// WriteSVG renders the chart.
func (c *Chart) WriteSVG(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", padL, esc(c.Title))

	lo, hi := c.yRange()
	yOf := func(v float64) float64 {
		if c.LogY {
			return padT + plotH - (math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*plotH
		}
		return padT + plotH - (v-lo)/(hi-lo)*plotH
	}
	// Grid and Y ticks.
	for _, t := range c.yTicks(lo, hi) {
		y := yOf(t)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", padL, y, padL+plotW, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", padL-6, y+4, fmtTick(t))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#333"/>`+"\n", padL, padT, plotW, plotH)
	// X ticks.
	n := max(len(c.XLabels), 1)
	slot := float64(plotW) / float64(n)
	xOf := func(i int) float64 { return padL + slot*(float64(i)+0.5) }
	for i, l := range c.XLabels {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", xOf(i), padT+plotH+18, esc(l))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", padL+plotW/2, svgH-12, esc(c.XLabel))
	fmt.Fprintf(&b, `<text x="18" y="%d" text-anchor="middle" transform="rotate(-90 18 %d)">%s</text>`+"\n", padT+plotH/2, padT+plotH/2, esc(c.YLabel))

	valid := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) && (!c.LogY || v > 0) }
	for si, s := range c.Series {
		color := palette[s.Color%len(palette)]
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		if c.Bars {
			bw := slot * 0.8 / float64(len(c.Series))
			for i, v := range s.Y {
				if !valid(v) {
					continue
				}
				x := padL + slot*float64(i) + slot*0.1 + bw*float64(si)
				y := yOf(v)
				base := yOf(lo)
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>`+"\n",
					x, y, bw, base-y, color, esc(s.Name), fmtTick(v))
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s</text>`+"\n", x+bw/2, y-3, fmtTick(v))
			}
		} else {
			var pts []string
			flush := func() {
				if len(pts) > 1 {
					fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", color, dash, strings.Join(pts, " "))
				}
				pts = pts[:0]
			}
			for i, v := range s.Y {
				if !valid(v) {
					flush()
					continue
				}
				x, y := xOf(i), yOf(v)
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s: %s</title></circle>`+"\n", x, y, color, esc(s.Name), fmtTick(v))
			}
			flush()
		}
		ly := padT + 10 + si*18
		if c.Bars {
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="22" height="10" fill="%s"/>`+"\n", legendX, ly-5, color)
		} else {
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", legendX, ly, legendX+22, ly, color, dash)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", legendX+28, ly+4, esc(s.Name))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func esc(s string) string { return html.EscapeString(s) }

// yRange returns the Y axis bounds.
func (c *Chart) yRange() (lo, hi float64) {
	mn, mx := math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for _, v := range s.Y {
			if math.IsNaN(v) || math.IsInf(v, 0) || (c.LogY && v <= 0) {
				continue
			}
			mn, mx = min(mn, v), max(mx, v)
		}
	}
	if math.IsInf(mn, 1) {
		mn, mx = 1, 10
	}
	if c.LogY {
		lo = math.Pow(10, math.Floor(math.Log10(mn)))
		hi = math.Pow(10, math.Ceil(math.Log10(mx)))
		if hi <= lo {
			hi = lo * 10
		}
		return lo, hi
	}
	step := niceStep(mx / 5)
	hi = math.Ceil(mx/step) * step
	if hi <= 0 {
		hi = 1
	}
	return 0, hi
}

func (c *Chart) yTicks(lo, hi float64) []float64 {
	var ts []float64
	if c.LogY {
		for v := lo; v <= hi*1.0001; v *= 10 {
			ts = append(ts, v)
		}
		return ts
	}
	step := niceStep(hi / 5)
	for v := lo; v <= hi*1.0001; v += step {
		ts = append(ts, v)
	}
	return ts
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten.
func niceStep(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

func fmtTick(v float64) string {
	switch {
	case v >= 1e6:
		return trimZero(fmt.Sprintf("%.1fM", v/1e6))
	case v >= 1e3:
		return trimZero(fmt.Sprintf("%.1fk", v/1e3))
	case v >= 10 || v == 0:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

func trimZero(s string) string { return strings.Replace(s, ".0", "", 1) }

// Plots builds the report's charts: calls/s against connections and
// latency percentiles (p50 dashed, p99 solid) for each payload, and server
// memory per idle connection.
func (r *Report) Plots() []Plot {
	var out []Plot
	xl := make([]string, len(r.Plan.Conns))
	for i, n := range r.Plan.Conns {
		xl[i] = fmt.Sprint(n)
	}
	targets := r.targetNames()
	for _, pl := range r.Plan.Payloads {
		tp := &Chart{Title: fmt.Sprintf("Throughput, %s payload", pl), XLabel: "connections", YLabel: "calls/s", XLabels: xl, LogY: true}
		lat := &Chart{Title: fmt.Sprintf("Latency p50 (dashed) and p99, %s payload", pl), XLabel: "connections", YLabel: "µs", XLabels: xl, LogY: true}
		for ti, name := range targets {
			rate, p50, p99 := nanSlice(len(xl)), nanSlice(len(xl)), nanSlice(len(xl))
			found := false
			for _, c := range r.Cells {
				if c.Target != name || c.Payload != pl || c.Result == nil || c.Result.Calls == 0 {
					continue
				}
				for i, n := range r.Plan.Conns {
					if n == c.Conns {
						rate[i], p50[i], p99[i] = c.Result.CallsPerSec, float64(c.Result.Latency.P50), float64(c.Result.Latency.P99)
						found = true
					}
				}
			}
			if !found {
				continue
			}
			tp.Series = append(tp.Series, Series{Name: name, Y: rate, Color: ti})
			lat.Series = append(lat.Series, Series{Name: name + " p50", Y: p50, Dashed: true, Color: ti},
				Series{Name: name + " p99", Y: p99, Color: ti})
		}
		if len(tp.Series) > 0 {
			out = append(out, Plot{File: fmt.Sprintf("throughput_%s.svg", pl), Chart: tp},
				Plot{File: fmt.Sprintf("latency_%s.svg", pl), Chart: lat})
		}
	}
	if len(r.Idle) > 0 {
		mem := &Chart{Title: fmt.Sprintf("Server memory per idle connection (%d held)", r.Plan.Idle), YLabel: "bytes of PSS per connection",
			XLabels: []string{""}, Bars: true, LogY: true}
		for ti, i := range r.Idle {
			mem.Series = append(mem.Series, Series{Name: i.Target, Y: []float64{i.BytesPerConn}, Color: ti})
		}
		out = append(out, Plot{File: "memory_idle.svg", Chart: mem})
	}
	return out
}

func (r *Report) targetNames() []string {
	names := make([]string, 0, len(r.Plan.Targets))
	for _, t := range r.Plan.Targets {
		names = append(names, t.Name)
	}
	return names
}

func nanSlice(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}
