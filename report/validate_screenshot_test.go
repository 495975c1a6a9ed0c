package report

import (
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/assertions"
)

// browser is the first headless Chromium on PATH, as
// scripts/screenshot-report.sh looks for it ("" when none).
func browser() string {
	for _, b := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(b); err == nil {
			return p
		}
	}
	return ""
}

// TestValidationScreenshot renders a validation whose failback promise
// failed and screenshots validation.html in headless Chromium, as a person
// would see it: the page must paint the failing headline (its red
// background) and the verdict badges, not a blank or unstyled page.
// Skipped without Chromium (apt-get install chromium).
func TestValidationScreenshot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	b := browser()
	if b == "" {
		t.Skip("no chromium found; install it (apt-get update && apt-get install -y chromium) to screenshot validation.html")
	}
	lost := check("failback-loss", assertions.Fail, 0, 0)
	lost.LostCount = 3
	v := BuildValidation(specs, []ValidationRun{plantedRun("region/a", 1, 3*time.Minute, lost), plantedRun("region/b", 1, 5*time.Minute)}, nil,
		Environment{Provider: "fake", Cores: 2, OS: "Debian GNU/Linux 12", Engines: []string{"in-memory"}})
	dir := t.TempDir()
	if *sampleDir != "" {
		dir = filepath.Join(*sampleDir, "validation-screenshot")
	}
	if err := WriteValidation(dir, v); err != nil {
		t.Fatal(err)
	}
	page, _ := filepath.Abs(filepath.Join(dir, ValidationHTMLFile))
	shot := filepath.Join(dir, "validation.png")
	args := []string{"--headless", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,1600", "--screenshot=" + shot}
	if os.Geteuid() == 0 {
		args = append(args, "--no-sandbox") // Chromium refuses to run as root inside its sandbox
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b, append(args, "file://"+page)...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", b, err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if sz := img.Bounds().Size(); sz.X != 1400 || sz.Y != 1600 {
		t.Errorf("screenshot %v, want 1400x1600", sz)
	}
	t.Logf("screenshot: %s", shot)
	// The headline's background (#ffebe9) fills the top of the page, and
	// the badges (#cf222e fail, #1a7f37 pass) are painted.
	for _, want := range []struct {
		name string
		c    color.RGBA
		min  int
		top  int
	}{{"failing headline background", color.RGBA{0xff, 0xeb, 0xe9, 0xff}, 5000, 300},
		{"fail badge", color.RGBA{0xcf, 0x22, 0x2e, 0xff}, 200, 1600},
		{"pass badge", color.RGBA{0x1a, 0x7f, 0x37, 0xff}, 200, 1600}} {
		if n := countColor(img, want.c, want.top); n < want.min {
			t.Errorf("%s (%v): %d pixels in the top %d rows, want at least %d", want.name, want.c, n, want.top, want.min)
		}
	}
}

// countColor counts the pixels of colour c (within a small tolerance) in
// the top rows of img.
func countColor(img image.Image, c color.RGBA, top int) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y && y < b.Min.Y+top; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r>>8, c.R) && near(g>>8, c.G) && near(bl>>8, c.B) {
				n++
			}
		}
	}
	return n
}

func near(a uint32, b uint8) bool {
	d := int(a) - int(b)
	return d >= -3 && d <= 3
}
