package reports

import (
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// chromium is where Debian's chromium package puts the browser.
const chromium = "/usr/bin/chromium"

// TestHTMLRendersInChromium opens report.html in headless Chromium, takes a
// screenshot and checks that the page, and the lag chart's line in
// particular, was drawn.
func TestHTMLRendersInChromium(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skip("headless Chromium check skipped: " + chromium + " not installed (Debian package chromium)")
	}
	if testing.Short() {
		t.Skip("headless Chromium check skipped in -short mode")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, HTMLFile)
	shot := filepath.Join(dir, "out.png")
	f, err := os.Create(page)
	require.NoError(t, err)
	require.NoError(t, renderHTML(f, failFixture()))
	require.NoError(t, f.Close())

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
		// Finish every compositor stage (and wait out a short virtual time)
		// before the shot, so a loaded machine cannot capture a half-painted
		// page; the tall window keeps the chart in view however text wraps.
		"--run-all-compositor-stages-before-draw", "--virtual-time-budget=3000",
		"--user-data-dir="+t.TempDir(), "--screenshot="+shot, "--window-size=1200,1600", "file://"+page)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "chromium: %s", out)

	pf, err := os.Open(shot)
	require.NoError(t, err, "no screenshot; chromium said: %s", out)
	defer pf.Close()
	img, err := png.Decode(pf)
	require.NoError(t, err)

	colours := map[[3]uint32]bool{}
	lagLine := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			c := [3]uint32{r >> 8, g >> 8, bl >> 8}
			colours[c] = true
			// The lag polyline's stroke, #1f77b4, give or take anti-aliasing.
			if near(c, [3]uint32{0x1f, 0x77, 0xb4}, 24) {
				lagLine++
			}
		}
	}
	t.Logf("screenshot %dx%d: %d distinct colours, %d lag-line pixels", b.Dx(), b.Dy(), len(colours), lagLine)
	require.Greater(t, len(colours), 16, "the screenshot looks blank")
	require.Greater(t, lagLine, 100, "the lag chart's line was not drawn")
}

func near(a, b [3]uint32, tol uint32) bool {
	for i := range a {
		d := int64(a[i]) - int64(b[i])
		if d < -int64(tol) || d > int64(tol) {
			return false
		}
	}
	return true
}
