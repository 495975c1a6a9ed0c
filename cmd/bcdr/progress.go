package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/harness"
	"github.com/bcdr-harness/bcdr/history"
)

// progress shows a running drill. On a terminal it keeps one status line
// at the bottom (phase, elapsed wall and service time, writes so far, and a
// bar for any wait longer than a few seconds) with events scrolling above
// it; elsewhere (CI, a pipe, a file) it prints plain timestamped lines.
type progress struct {
	w     io.Writer
	tty   bool
	width int
	quiet bool
	sc    harness.Scenario
	clk   *clock.Clock

	mu      sync.Mutex
	start   time.Time
	phase   string
	wait    *wait
	ok      int
	failed  int
	unknown int
	drawn   bool
	stop    chan struct{}
	stopped chan struct{}
}

// wait is a known-length stretch of the drill (steady state, the decision
// window, the failed-over period, a fault's hold).
type wait struct {
	label string
	start time.Time
	wall  time.Duration
	serv  time.Duration
}

// barAfter is the shortest wait that gets a progress bar.
const barAfter = 3 * time.Second

// progressMode is the --progress flag: auto, tty, plain or none.
func newProgress(w io.Writer, mode string, sc harness.Scenario) *progress {
	p := &progress{w: w, sc: sc, clk: clock.New(sc.TimeScale()), start: time.Now(), width: 132}
	switch mode {
	case "tty":
		p.tty = true
	case "none":
		p.quiet = true
	case "plain":
	default: // auto
		if f, ok := w.(*os.File); ok && isTerminal(f.Fd()) && os.Getenv("TERM") != "dumb" {
			p.tty = true
			if wd := terminalWidth(f.Fd()); wd > 20 {
				p.width = wd
			}
		}
	}
	if p.tty {
		p.stop, p.stopped = make(chan struct{}), make(chan struct{})
		go p.loop()
	}
	return p
}

func (p *progress) loop() {
	defer close(p.stopped)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.redraw()
			p.mu.Unlock()
		}
	}
}

// close removes the status line; what follows prints normally.
func (p *progress) close() {
	if p.tty {
		close(p.stop)
		<-p.stopped
		p.mu.Lock()
		p.clear()
		p.mu.Unlock()
	}
}

// logf prints one event line (the harness's progress lines come here).
func (p *progress) logf(format string, args ...any) {
	if p.quiet {
		return
	}
	msg := fmt.Sprintf(format, args...)
	p.mu.Lock()
	defer p.mu.Unlock()
	if name, ok := strings.CutPrefix(msg, "phase "); ok {
		p.setPhase(strings.Fields(name)[0])
	}
	p.clear()
	el := time.Since(p.start)
	fmt.Fprintf(p.w, "%s +%6.1fs %9s  %s\n", time.Now().Format("15:04:05"), el.Seconds(),
		"["+shortService(p.clk.Now())+"]", msg)
	p.redraw()
}

// useClock follows the run's own clock once the environment is up, so
// that service times are the run's (its epoch, scale and machine steps).
func (p *progress) useClock(c *clock.Clock) {
	p.mu.Lock()
	p.clk = c
	p.mu.Unlock()
}

func (p *progress) setPhase(name string) {
	p.phase = name
	p.wait = nil
	switch name {
	case "steady-state":
		p.startWait("steady state", p.sc.SteadyState)
	case "after":
		p.startWait("traffic after recovery", p.sc.After)
	}
}

func (p *progress) startWait(label string, service time.Duration) {
	p.wait = &wait{label: label, start: time.Now(), wall: p.clk.Wall(service), serv: service}
}

// onOp follows the recorded operations: write counts, and the runbook's
// events, which start the waits the runbook makes.
func (p *progress) onOp(op history.Op) {
	if p.quiet {
		return
	}
	if op.Kind.IsWrite() {
		p.mu.Lock()
		switch op.Type {
		case history.OK:
			p.ok++
		case history.Fail:
			p.failed++
		case history.Unknown:
			p.unknown++
		}
		p.mu.Unlock()
		return
	}
	if op.Kind != history.Event {
		return
	}
	var line string
	p.mu.Lock()
	switch op.Key {
	case history.EvPhase, history.EvLag, history.EvFaultRecovered:
	case history.EvFaultInjected:
		if v, _ := op.Value["verified"].(bool); !v {
			line = fmt.Sprintf("fault %v did not take effect: %v", op.Value["fault"], op.Value["verify_error"])
		}
		if rl, _ := op.Value["region_loss"].(bool); !rl {
			hold := p.sc.FaultHold
			for _, st := range p.sc.Faults {
				if st.Name == fmt.Sprint(op.Value["fault"]) && st.Duration > 0 {
					hold = st.Duration
				}
			}
			p.startWait(fmt.Sprintf("%v held", op.Value["fault"]), hold)
		}
	case history.EvOutageDetected:
		line = describe(op)
		p.startWait("decision window", p.sc.Runbook.DecisionWindow)
	case history.EvFailoverDone:
		line = describe(op)
		p.startWait("failed over (limited mode)", p.sc.Runbook.FailedOverFor)
	case history.EvFailoverStart, history.EvFailbackStart:
		line = describe(op)
		p.wait = nil
	default:
		line = describe(op)
	}
	if line != "" {
		p.clear()
		el := time.Since(p.start)
		fmt.Fprintf(p.w, "%s +%6.1fs %9s  %s\n", op.Wall.Format("15:04:05"), el.Seconds(),
			"["+shortService(op.Service)+"]", line)
		p.redraw()
	}
	p.mu.Unlock()
}

// describe renders an event as "name key=value ...".
func describe(op history.Op) string {
	var kv []string
	for k, v := range op.Value {
		if v == nil || v == "" {
			continue
		}
		if f, ok := v.(float64); ok {
			v = strconv.FormatFloat(f, 'f', -1, 64)
			if len(v.(string)) > 8 {
				v = strconv.FormatFloat(f, 'f', 1, 64)
			}
		}
		kv = append(kv, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(kv)
	if len(kv) == 0 {
		return op.Key
	}
	return op.Key + " " + strings.Join(kv, " ")
}

// clear erases the status line (terminal only).
func (p *progress) clear() {
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[2K")
		p.drawn = false
	}
}

// redraw draws the status line (terminal only).
func (p *progress) redraw() {
	if !p.tty {
		return
	}
	el := time.Since(p.start)
	line := fmt.Sprintf("%s  %.1fs wall = %s service  writes %d ok %d failed %d unknown",
		orDash(p.phase), el.Seconds(), shortService(p.clk.Now()), p.ok, p.failed, p.unknown)
	if w := p.wait; w != nil && w.wall >= barAfter {
		done := time.Since(w.start)
		frac := float64(done) / float64(w.wall)
		if frac > 1 {
			frac = 1
		}
		const n = 20
		fill := int(frac * n)
		line += fmt.Sprintf("  %s [%s%s] %3.0f%% of %s", w.label, strings.Repeat("#", fill), strings.Repeat("-", n-fill),
			frac*100, shortService(w.serv))
	}
	if len(line) > p.width-1 {
		line = line[:p.width-1]
	}
	fmt.Fprint(p.w, "\r\033[2K"+line)
	p.drawn = true
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shortService renders a service duration compactly: 1h02m, 14m30s, 45s.
func shortService(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}
