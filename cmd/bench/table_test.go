package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestSummaryMedianMinMax(t *testing.T) {
	for _, c := range []struct {
		in            []float64
		med, min, max float64
	}{
		{[]float64{3}, 3, 3, 3},
		{[]float64{5, 1, 3}, 3, 1, 5},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4}, // even count: the mean of the middle two
		{[]float64{9, 1, 1, 1, 100}, 1, 1, 100},
	} {
		in := append([]float64(nil), c.in...)
		med, lo, hi, ok := summary(c.in)
		if !ok || med != c.med || lo != c.min || hi != c.max {
			t.Errorf("summary(%v) = %v %v %v %v, want %v %v %v true", in, med, lo, hi, ok, c.med, c.min, c.max)
		}
		for i := range in {
			if c.in[i] != in[i] {
				t.Errorf("summary reordered its input: %v became %v", in, c.in)
				break
			}
		}
	}
	if _, _, _, ok := summary(nil); ok {
		t.Error("summary of no value said ok")
	}
}

func TestVerdictJudgesTheMedianAgainstTheTarget(t *testing.T) {
	atMost := &target{AtMost: true, Value: 3}
	atLeast := &target{Value: 0.5}
	for _, c := range []struct {
		name string
		f    figure
		want string
	}{
		{"median under an upper bound", figure{Target: atMost, Values: []float64{1, 2, 10}}, "yes"},
		{"median over an upper bound, min under", figure{Target: atMost, Values: []float64{1, 4, 5}}, "no"},
		{"exactly at the bound", figure{Target: atMost, Values: []float64{3}}, "yes"},
		{"median over a lower bound", figure{Target: atLeast, Values: []float64{0.4, 0.6, 0.7}}, "yes"},
		{"median under a lower bound, max over", figure{Target: atLeast, Values: []float64{0.1, 0.2, 0.9}}, "no"},
		{"no value", figure{Target: atMost, Runs: 2}, "unknown"},
		{"no target", figure{Values: []float64{1}}, "-"},
	} {
		if got := c.f.verdict(); got != c.want {
			t.Errorf("%s: verdict %q, want %q", c.name, got, c.want)
		}
	}
}

func TestUnitFormats(t *testing.T) {
	for _, c := range []struct {
		u    unit
		v    float64
		want string
	}{
		{seconds, 21e-6, "21.0µs"},
		{seconds, 0.0516, "51.6ms"},
		{seconds, 2.5, "2.50s"},
		{seconds, 610, "10m10s"},
		{perSecond, 123.4, "123/s"},
		{ratio, 0.234, "0.23"},
		{size, 600 << 20, "600 MiB"},
	} {
		if got := c.u.format(c.v); got != c.want {
			t.Errorf("format(%v) = %q, want %q", c.v, got, c.want)
		}
	}
	if got := (target{AtMost: true, Value: 600, Note: "on 2 cores"}).String(seconds); got != "<= 10m00s on 2 cores" {
		t.Errorf("target: %q", got)
	}
}

func TestWriteTable(t *testing.T) {
	ready := &figure{Name: "environment ready", Unit: seconds, Target: &target{AtMost: true, Value: 3}}
	ready.add(2)
	ready.add(4)
	ready.add(2.5)
	ready.miss()
	writes := &figure{Name: "writes", Unit: perSecond}
	writes.miss()
	suites := &figure{Name: "suites wall", Unit: seconds, Target: &target{AtMost: true, Value: 600}, NotMeasured: "not measured (use -suites)"}
	var b bytes.Buffer
	h := header{Runs: 4, Cores: 2, Provider: "local", Scale: 200, Go: "go1", Started: time.Date(2026, 12, 4, 5, 0, 0, 0, time.UTC), Note: "load 1.0"}
	if err := writeTable(&b, h, []*figure{ready, writes, suites}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("want a header line, a note, the column line and 3 rows; got:\n%s", b.String())
	}
	if !strings.Contains(lines[0], "4 run(s), local provider, scale 200, 2 cores") {
		t.Errorf("header: %q", lines[0])
	}
	wantRows := [][]string{
		{"FIGURE", "MEDIAN", "MIN", "MAX", "RUNS", "TARGET", "MET"},
		{"environment", "ready", "2.50s", "2.00s", "4.00s", "3/4", "<=", "3.00s", "yes"},
		{"writes", "no", "value", "-", "-", "0/1", "-", "-"},
		{"suites", "wall", "not", "measured", "(use", "-suites)", "<=", "10m00s", "-"},
	}
	for i, want := range wantRows {
		if got := strings.Fields(lines[2+i]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("row %d: %q, want %q", i, got, want)
		}
	}
}
