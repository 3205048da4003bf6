package reports

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/chaosrun/chaosrun/reports/result"
)

//go:embed report.html.tmpl
var htmlSource string

var htmlTemplate = template.Must(template.New("report.html").
	Funcs(formatFuncs).
	Funcs(template.FuncMap{
		"f":   func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
		"add": func(a, b float64) float64 { return a + b },
		"sub": func(a, b float64) float64 { return a - b },
	}).
	Parse(htmlSource))

// renderHTML renders r as a self-contained report.html: inline CSS and SVG,
// no scripts and no external resources.
func renderHTML(w io.Writer, r *result.Result) error {
	x := newAxis(r.Timings.DurationMs)
	v := htmlView{
		view:     newView(r),
		Geometry: geometry{Width: chartW, Left: plotLeft, Right: plotRight, LagTop: lagTop, LaneHeight: laneH},
		XAxis:    x,
		Lag:      lagChart(r, x),
		Lanes:    laneChart(r, x),
	}
	if err := htmlTemplate.Execute(w, v); err != nil {
		return fmt.Errorf("reports: render html: %w", err)
	}
	return nil
}

// Chart geometry, in SVG user units. Both charts share the time axis.
const (
	chartW     = 1000.0
	plotLeft   = 70.0
	plotRight  = 980.0
	lagH       = 300.0
	lagTop     = 24.0
	lagBottom  = 260.0
	laneH      = 22.0
	laneGap    = 8.0
	lanesTop   = 12.0
	lanesAxisH = 30.0
)

// epochColours colour epochs in the swimlanes, cycling.
var epochColours = []string{"#4e79a7", "#59a14f", "#9c755f", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#bab0ac"}

// htmlView is the view both reports share, plus the charts of report.html.
type htmlView struct {
	view
	Geometry geometry
	// XAxis is the time axis both charts share.
	XAxis axis
	Lag   lagView
	Lanes lanesView
}

// geometry hands the chart constants to the template.
type geometry struct {
	Width, Left, Right, LagTop, LaneHeight float64
}

// axis maps milliseconds since the start onto the plot's x range.
type axis struct {
	spanMs int64
	Ticks  []tick
}

type tick struct {
	Pos   float64
	Label string
}

func newAxis(spanMs int64) axis {
	a := axis{spanMs: max(spanMs, 1)}
	step := niceStep(float64(a.spanMs), 10)
	for t := 0.0; t <= float64(a.spanMs)+0.5; t += step {
		a.Ticks = append(a.Ticks, tick{Pos: a.x(int64(t)), Label: dur(int64(t))})
	}
	return a
}

func (a axis) x(ms int64) float64 {
	ms = min(max(ms, 0), a.spanMs)
	return plotLeft + float64(ms)/float64(a.spanMs)*(plotRight-plotLeft)
}

// niceStep returns a 1, 2 or 5 × 10^k step that cuts span into at most n parts.
func niceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

type lagView struct {
	Height   float64
	Bottom   float64
	Lines    []string
	Gaps     []band
	Faults   []faultView
	SLOLineY float64
	SLOLabel string
	YTicks   []tick
	Recovery []recoveryMark
	Empty    bool
}

type band struct {
	X, Width float64
	Title    string
}

type faultView struct {
	ID                string
	X, Width          float64
	InjectX, HealX    float64
	Healed, Effective bool
	Title             string
}

type recoveryMark struct {
	X, Y    float64
	Label   string
	Anchor  string // text-anchor that keeps the label inside the plot
	OK      bool
	AnchorX float64
}

func lagChart(r *result.Result, a axis) lagView {
	v := lagView{Height: lagH, Bottom: lagBottom, Empty: len(r.Lag.Samples) == 0}
	yMax := float64(max(r.Lag.MaxLagMs, r.SLOs.LagMs, 100)) * 1.1
	ystep := niceStep(yMax, 6)
	y := func(ms int64) float64 {
		return lagBottom - float64(max(ms, 0))/yMax*(lagBottom-lagTop)
	}
	for t := 0.0; t <= yMax; t += ystep {
		v.YTicks = append(v.YTicks, tick{Pos: y(int64(t)), Label: dur(int64(t))})
	}
	v.SLOLineY = y(r.SLOs.LagMs)
	v.SLOLabel = "L = " + dur(r.SLOs.LagMs)

	// One polyline per defined stretch; undefined stretches are shaded.
	var pts []string
	gapStart := int64(-1)
	flush := func() {
		if len(pts) > 0 {
			v.Lines = append(v.Lines, strings.Join(pts, " "))
			pts = nil
		}
	}
	for _, s := range r.Lag.Samples {
		if s.Undefined {
			flush()
			if gapStart < 0 {
				gapStart = s.TMs
			}
			continue
		}
		if gapStart >= 0 {
			v.Gaps = append(v.Gaps, band{X: a.x(gapStart), Width: a.x(s.TMs) - a.x(gapStart), Title: "lag undefined: not every partition had a watermark"})
			gapStart = -1
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", a.x(s.TMs), y(s.LagMs)))
	}
	flush()
	if gapStart >= 0 {
		v.Gaps = append(v.Gaps, band{X: a.x(gapStart), Width: a.x(r.Timings.DurationMs) - a.x(gapStart), Title: "lag undefined: not every partition had a watermark"})
	}

	v.Faults = faultViews(r, a)
	for _, rc := range r.Recoveries {
		if !rc.Judged {
			continue
		}
		m := recoveryMark{AnchorX: a.x(rc.AnchorMs), OK: rc.WithinBound, Y: v.SLOLineY}
		if rc.Recovered {
			m.X = a.x(rc.RecoveredMs)
			m.Label = fmt.Sprintf("%s: recovered %s after %s", rc.FaultID, dur(rc.DurationMs), rc.Anchor)
		} else {
			m.X = a.x(rc.DeadlineMs)
			m.Label = fmt.Sprintf("%s: not recovered by the deadline", rc.FaultID)
		}
		m.Anchor = "start"
		if m.X > (plotLeft+plotRight)/2 {
			m.Anchor = "end"
		}
		v.Recovery = append(v.Recovery, m)
	}
	return v
}

func faultViews(r *result.Result, a axis) []faultView {
	var out []faultView
	for _, f := range r.Faults {
		end := r.Timings.DurationMs
		if f.Healed {
			end = f.HealMs
		}
		fv := faultView{ID: f.ID, X: a.x(f.InjectMs), InjectX: a.x(f.InjectMs), HealX: a.x(end), Healed: f.Healed, Effective: f.Effective}
		fv.Width = max(fv.HealX-fv.X, 1)
		fv.Title = fmt.Sprintf("%s: %s on %s %s, %s", f.ID, f.Kind, f.TargetRole, f.TargetProcess, rel(f.InjectMs))
		if f.Healed {
			fv.Title += " → " + rel(f.HealMs)
		}
		out = append(out, fv)
	}
	return out
}

type lanesView struct {
	Height float64
	AxisY  float64
	Lanes  []laneView
	Faults []faultView
	Epochs []epochKey
}

type laneView struct {
	Node   string
	Y      float64
	LabelY float64
	Bars   []barView
	Grants []grantMark
}

type barView struct {
	X, Y, Width float64
	Colour      string
	Stale       bool
	Title       string
}

type grantMark struct {
	X, Y  float64
	Title string
}

type epochKey struct {
	Epoch  uint64
	Colour string
}

func laneChart(r *result.Result, a axis) lanesView {
	// Lanes for every node that wrote or was granted an epoch.
	var nodes []string
	for _, l := range r.Swimlanes {
		nodes = append(nodes, l.Node)
	}
	for _, e := range r.Epochs {
		if !slices.Contains(nodes, e.Node) {
			nodes = append(nodes, e.Node)
		}
	}
	slices.Sort(nodes)
	var epochs []uint64
	for _, e := range r.Epochs {
		epochs = append(epochs, e.Epoch)
	}
	for _, l := range r.Swimlanes {
		for _, b := range l.Bars {
			epochs = append(epochs, b.Epoch)
		}
	}
	slices.Sort(epochs)
	epochs = slices.Compact(epochs)
	colour := func(e uint64) string {
		i, _ := slices.BinarySearch(epochs, e)
		return epochColours[i%len(epochColours)]
	}

	v := lanesView{Faults: faultViews(r, a)}
	for _, e := range epochs {
		v.Epochs = append(v.Epochs, epochKey{Epoch: e, Colour: colour(e)})
	}
	for i, n := range nodes {
		lv := laneView{Node: n, Y: lanesTop + float64(i)*(laneH+laneGap)}
		lv.LabelY = lv.Y + laneH/2 + 4
		for _, l := range r.Swimlanes {
			if l.Node != n {
				continue
			}
			for _, b := range l.Bars {
				x := a.x(b.StartMs)
				lv.Bars = append(lv.Bars, barView{
					X: x, Y: lv.Y, Width: max(a.x(b.EndMs)-x, 1), Colour: colour(b.Epoch), Stale: b.Stale > 0,
					Title: fmt.Sprintf("%s epoch %d, %s → %s: %s rows, %s watermarks, %s stale", n, b.Epoch, rel(b.StartMs), rel(b.EndMs),
						num(b.Rows), num(b.Watermarks), num(b.Stale)),
				})
			}
		}
		for _, e := range r.Epochs {
			if e.Node == n {
				lv.Grants = append(lv.Grants, grantMark{X: a.x(e.GrantedMs), Y: lv.Y, Title: fmt.Sprintf("epoch %d granted to %s at %s", e.Epoch, n, rel(e.GrantedMs))})
			}
		}
		v.Lanes = append(v.Lanes, lv)
	}
	v.AxisY = lanesTop + float64(len(nodes))*(laneH+laneGap)
	v.Height = v.AxisY + lanesAxisH
	return v
}
