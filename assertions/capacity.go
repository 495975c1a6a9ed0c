package assertions

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bcdr-harness/bcdr/clock"
	"github.com/bcdr-harness/bcdr/history"
)

// Capacity ratios of the secondary-capacity check: while failed over, the
// promoted region acknowledges at least ThroughputRatio of the writes per
// service minute the steady state did, and its median write takes at most
// LatencyRatio times the steady state's median, plus LatencySlack (wall:
// the resolution of a request's round trip on a shared machine).
const (
	ThroughputRatio = 0.8
	LatencyRatio    = 2.0
	LatencySlack    = 10 * time.Millisecond
)

// capacityMinWrites is the least number of writes each period must hold
// for the check to judge it.
const capacityMinWrites = 20

// SecondaryCapacity checks the BCDR article's premise that compute is
// provisioned in both regions: while failed over, the secondary region
// carries the full workload. Read from the writes themselves: the steady
// state is every write invoked before the first fault; the failed-over
// period every write invoked from a retry budget after failover-done (the
// failover's own retries are rto's business) to failback-start, or to a
// fault injected in that period, whichever comes first. Throughput is the
// acknowledged writes per service minute; latency the median wall time of
// an acknowledged write (invoke to acknowledgement). A request's round trip
// is machine work: it is judged at its wall value, not scaled, and a
// failure the CPU waits of the run's processes explain is unknown, never
// fail.
type SecondaryCapacity struct{}

// Name is "secondary-capacity".
func (SecondaryCapacity) Name() string { return "secondary-capacity" }

// loadPeriod is the writes of one period of the run.
type loadPeriod struct {
	from, to history.Op // the period's bounds (events or operations)
	invoked  int        // writes invoked in it
	acked    []history.Completion
}

func (p loadPeriod) service() time.Duration { return p.to.Service - p.from.Service }

// perMinute is the acknowledged writes per service minute.
func (p loadPeriod) perMinute() float64 {
	if p.service() <= 0 {
		return 0
	}
	return float64(len(p.acked)) / p.service().Minutes()
}

// latencies are the wall times of the acknowledged writes, and the same
// less the CPU waits of the run's processes while each lasted.
func (p loadPeriod) latencies(n Noise) (raw, unwaited []time.Duration) {
	for _, c := range p.acked {
		d := c.Result.Wall.Sub(c.Invoke.Wall)
		raw = append(raw, d)
		unwaited = append(unwaited, max(d-n.MachineWaitIn(c.Invoke.Wall, c.Result.Wall), 0))
	}
	return raw, unwaited
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func writesIn(h history.History, from, to history.Op, region string) loadPeriod {
	p := loadPeriod{from: from, to: to}
	for _, c := range h.Completions() {
		if !c.Invoke.Kind.IsWrite() || c.Invoke.Index < from.Index || c.Invoke.Index > to.Index {
			continue
		}
		p.invoked++
		if c.Result.Type == history.OK && (region == "" || c.Result.Region == region) {
			p.acked = append(p.acked, c)
		}
	}
	return p
}

// Check compares the failed-over period's writes with the steady state's.
func (SecondaryCapacity) Check(in Input) Result {
	const name = "secondary-capacity"
	h := in.History
	clk := h.Clock()
	fo, to, none := failedOver(h, name, "no failover completed, so the secondary region never had to carry the load")
	if none != nil {
		return *none
	}
	// The steady state ends at the first fault (or the failover itself).
	steadyEnd, ok := h.FirstEvent(history.EvFaultInjected)
	if !ok || steadyEnd.Index > fo.Index {
		steadyEnd, _ = h.FirstEvent(history.EvFailoverStart)
	}
	first := history.Op{Index: -1}
	for _, op := range h.Ops {
		if op.Type == history.Invoke && op.Kind.IsWrite() {
			first = op
			break
		}
	}
	if first.Index < 0 || first.Index > steadyEnd.Index {
		return unknown(name, fmt.Sprintf("no write was invoked before the first fault at service %s, so there is no steady state to compare the failed-over period with", clock.Round(steadyEnd.Service)))
	}
	steady := writesIn(h, first, steadyEnd, "")
	// The failed-over period starts a retry budget after failover-done.
	settled := fo.Service + in.Budgets.RetryBudget
	start := history.Op{Index: -1}
	for _, op := range h.Ops[fo.Index:] {
		if op.Service >= settled {
			start = op
			break
		}
	}
	end := lastOp(h)
	endWhat := "the end of the run"
	if fb, ok := eventAfter(h, history.EvFailbackStart, fo); ok {
		end, endWhat = fb, "failback-start"
	}
	if f, ok := eventAfter(h, history.EvFaultInjected, fo); ok && f.Index < end.Index {
		end, endWhat = f, "a fault injected while failed over ("+faultName(f)+")"
	}
	head := fmt.Sprintf("while failed over to region %s (service %s, a retry budget after failover-done, to %s at %s)",
		to, clock.Round(settled), endWhat, clock.Round(end.Service))
	if start.Index < 0 || start.Index >= end.Index {
		return unknown(name, fmt.Sprintf("the failed-over period was shorter than a retry budget after failover-done at service %s (%s came at %s), so it holds no load to judge",
			clock.Round(fo.Service), endWhat, clock.Round(end.Service)))
	}
	failed := writesIn(h, start, end, to)
	switch {
	case len(steady.acked) < capacityMinWrites:
		return unknown(name, fmt.Sprintf("only %s acknowledged before the first fault at service %s (at least %d are needed for a steady state)",
			plural(len(steady.acked), "write was", "writes were"), clock.Round(steadyEnd.Service), capacityMinWrites))
	case failed.invoked < capacityMinWrites:
		return unknown(name, fmt.Sprintf("the run cannot tell: only %s invoked %s (at least %d are needed)",
			plural(failed.invoked, "write was", "writes were"), head, capacityMinWrites))
	}
	r := Result{Name: name, Ops: []int{fo.Index, start.Index, end.Index}}
	noise := MeasureNoise(h)
	scale := h.Scale
	if scale <= 0 {
		scale = 1
	}
	svc := func(wall time.Duration) time.Duration { return time.Duration(float64(wall) * scale) }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

	// Throughput.
	sRate, fRate := steady.perMinute(), failed.perMinute()
	want := ThroughputRatio * sRate
	thr := fmt.Sprintf("%.1f acknowledged writes per service minute (%d of %d invoked) against %.1f in steady state (%d over %s)",
		fRate, len(failed.acked), failed.invoked, sRate, len(steady.acked), clock.Round(steady.service()))
	// A stall of the machine of W wall seconds costs at most the steady
	// rate times W of writes.
	waited := noise.MachineWaitIn(start.Wall, end.Wall)
	missing := want*failed.service().Minutes() - float64(len(failed.acked))
	stalled := sRate * svc(waited).Minutes()

	// Latency, at wall value.
	sRaw, _ := steady.latencies(noise)
	fRaw, fUnwaited := failed.latencies(noise)
	sMed := median(sRaw)
	budget := time.Duration(LatencyRatio*float64(sMed)) + LatencySlack
	fMed, fMedUnwaited := median(fRaw), median(fUnwaited)
	lat := fmt.Sprintf("median write %s wall against %s in steady state (budget %g times it plus %s: %s)",
		ms(fMed), ms(sMed), LatencyRatio, ms(LatencySlack), ms(budget))
	r.Observed, r.Budget = svc(fMed), svc(budget)
	if len(failed.acked) > 0 {
		r.Window = window(failed.acked[0].Invoke, failed.acked[len(failed.acked)-1].Result)
		r.Ops = append(r.Ops, failed.acked[0].Result.Index)
	}

	var problems, close []string
	switch {
	case fRate >= want:
	case missing <= stalled:
		close = append(close, fmt.Sprintf("throughput %s is under %g of it, but the run's processes waited for a CPU %s wall in the period, which could cost %.0f writes (%.0f short)",
			thr, ThroughputRatio, clock.Round(waited), stalled, missing))
	default:
		problems = append(problems, fmt.Sprintf("throughput %s is under %g of it (%.0f writes short)", thr, ThroughputRatio, missing))
	}
	switch {
	case len(failed.acked) == 0:
		problems = append(problems, "no write was acknowledged by region "+to)
	case fMed <= budget:
	case fMedUnwaited <= budget:
		close = append(close, fmt.Sprintf("%s, but less the CPU waits of the run's processes while each write lasted the median is %s, within the budget", lat, ms(fMedUnwaited)))
	default:
		problems = append(problems, fmt.Sprintf("%s, %s over it (less the CPU waits while each lasted: %s)", lat, ms(fMed-budget), ms(fMedUnwaited)))
	}
	r.Violations = len(problems)
	switch {
	case len(problems) > 0:
		r.Verdict = Fail
		r.Explanation = fmt.Sprintf("region %s did not carry the load %s: %s", to, head, strings.Join(problems, "; "))
		if len(close) > 0 {
			r.Explanation += "; " + strings.Join(close, "; ")
		}
		r.Explanation += ". Compute must be provisioned in both regions: the secondary's instances, links and database must serve the full workload"
	case len(close) > 0:
		r.Verdict, r.TooClose = Unknown, true
		r.NoiseWallS = waited.Seconds()
		r.NoiseServiceS = svc(waited).Seconds()
		r.Explanation = fmt.Sprintf("too close to call: %s: %s; a loaded machine explains it", head, strings.Join(close, "; "))
	default:
		r.Verdict = Pass
		r.Explanation = fmt.Sprintf("region %s carried the load %s: throughput %s (at least %g of it), %s", to, head, thr, ThroughputRatio, lat)
	}
	return finish(r, clk)
}
