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
	steady, steadyEnd, ok := steadyState(h, fo)
	if !ok {
		return unknown(name, fmt.Sprintf("no write was invoked before the first fault at service %s, so there is no steady state to compare the failed-over period with", clock.Round(steadyEnd.Service)))
	}
	p := failedOverPeriod(h, fo, to, in.Budgets.RetryBudget)
	if p.start.Index < 0 || p.start.Index >= p.end.Index {
		return unknown(name, fmt.Sprintf("the failed-over period was shorter than a retry budget after failover-done at service %s (%s came at %s), so it holds no load to judge",
			clock.Round(fo.Service), p.endWhat, clock.Round(p.end.Service)))
	}
	failed := writesIn(h, p.start, p.end, to)
	switch {
	case len(steady.acked) < capacityMinWrites:
		return unknown(name, fmt.Sprintf("only %s acknowledged before the first fault at service %s (at least %d are needed for a steady state)",
			plural(len(steady.acked), "write was", "writes were"), clock.Round(steadyEnd.Service), capacityMinWrites))
	case failed.invoked < capacityMinWrites:
		return unknown(name, fmt.Sprintf("the run cannot tell: only %s invoked %s (at least %d are needed)",
			plural(failed.invoked, "write was", "writes were"), p.head, capacityMinWrites))
	}
	r := Result{Name: name, Ops: []int{fo.Index, p.start.Index, p.end.Index}}
	judgeCapacity(&r, h, steady, failed, p, to)
	return finish(r, clk)
}

// steadyState is the writes from the first one invoked to the first fault
// (or to failover-start, when no fault came before failover-done fo), and
// that end; ok is false when no write was invoked before it.
func steadyState(h history.History, fo history.Op) (steady loadPeriod, end history.Op, ok bool) {
	end, ok = h.FirstEvent(history.EvFaultInjected)
	if !ok || end.Index > fo.Index {
		end, _ = h.FirstEvent(history.EvFailoverStart)
	}
	first := history.Op{Index: -1}
	for _, op := range h.Ops {
		if op.Type == history.Invoke && op.Kind.IsWrite() {
			first = op
			break
		}
	}
	if first.Index < 0 || first.Index > end.Index {
		return loadPeriod{}, end, false
	}
	return writesIn(h, first, end, ""), end, true
}

// capacityPeriod is the failed-over period secondary-capacity judges.
type capacityPeriod struct {
	// start is the first operation a retry budget after failover-done
	// (Index -1 when none came that late); end is what ends the period.
	start, end history.Op
	// endWhat names end; head names the whole period in explanations.
	endWhat, head string
}

// failedOverPeriod runs from a retry budget after failover-done fo (the
// failover's own retries are rto's business) to failback-start, or to a
// fault injected after fo, whichever comes first, or else to the end of
// the run.
func failedOverPeriod(h history.History, fo history.Op, to string, retryBudget time.Duration) capacityPeriod {
	settled := fo.Service + retryBudget
	p := capacityPeriod{start: history.Op{Index: -1}, end: lastOp(h), endWhat: "the end of the run"}
	for _, op := range h.Ops[fo.Index:] {
		if op.Service >= settled {
			p.start = op
			break
		}
	}
	if fb, ok := eventAfter(h, history.EvFailbackStart, fo); ok {
		p.end, p.endWhat = fb, "failback-start"
	}
	if f, ok := eventAfter(h, history.EvFaultInjected, fo); ok && f.Index < p.end.Index {
		p.end, p.endWhat = f, "a fault injected while failed over ("+faultName(f)+")"
	}
	p.head = fmt.Sprintf("while failed over to region %s (service %s, a retry budget after failover-done, to %s at %s)",
		to, clock.Round(settled), p.endWhat, clock.Round(p.end.Service))
	return p
}

// capacityFindings are what the throughput and latency measures found:
// each measure's description, the shortfalls that fail the check and
// those a loaded machine explains (too close to call).
type capacityFindings struct {
	thr, lat        string
	problems, close []string
}

// judgeCapacity fills r's figures, window and verdict from the
// failed-over period's writes against the steady state's.
func judgeCapacity(r *Result, h history.History, steady, failed loadPeriod, p capacityPeriod, to string) {
	noise := MeasureNoise(h)
	scale := h.Scale
	if scale <= 0 {
		scale = 1
	}
	svc := func(wall time.Duration) time.Duration { return time.Duration(float64(wall) * scale) }
	waited := noise.MachineWaitIn(p.start.Wall, p.end.Wall)
	var f capacityFindings
	f.judgeThroughput(steady, failed, waited, svc)
	fMed, budget := f.judgeLatency(steady, failed, noise, to)
	r.Observed, r.Budget = svc(fMed), svc(budget)
	if len(failed.acked) > 0 {
		r.Window = window(failed.acked[0].Invoke, failed.acked[len(failed.acked)-1].Result)
		r.Ops = append(r.Ops, failed.acked[0].Result.Index)
	}
	r.Violations = len(f.problems)
	switch {
	case len(f.problems) > 0:
		r.Verdict = Fail
		r.Explanation = fmt.Sprintf("region %s did not carry the load %s: %s", to, p.head, strings.Join(f.problems, "; "))
		if len(f.close) > 0 {
			r.Explanation += "; " + strings.Join(f.close, "; ")
		}
		r.Explanation += ". Compute must be provisioned in both regions: the secondary's instances, links and database must serve the full workload"
	case len(f.close) > 0:
		r.Verdict, r.TooClose = Unknown, true
		r.NoiseWallS = waited.Seconds()
		r.NoiseServiceS = svc(waited).Seconds()
		r.Explanation = fmt.Sprintf("too close to call: %s: %s; a loaded machine explains it", p.head, strings.Join(f.close, "; "))
	default:
		r.Verdict = Pass
		r.Explanation = fmt.Sprintf("region %s carried the load %s: throughput %s (at least %g of it), %s", to, p.head, f.thr, ThroughputRatio, f.lat)
	}
}

// judgeThroughput compares the failed-over period's acknowledged writes
// per service minute with ThroughputRatio of the steady state's. A stall
// of the machine of W wall seconds (waited, the CPU waits of the run's
// processes in the period) costs at most the steady rate times W of
// writes: a shortfall within that is too close to call.
func (f *capacityFindings) judgeThroughput(steady, failed loadPeriod, waited time.Duration, svc func(time.Duration) time.Duration) {
	sRate, fRate := steady.perMinute(), failed.perMinute()
	want := ThroughputRatio * sRate
	f.thr = fmt.Sprintf("%.1f acknowledged writes per service minute (%d of %d invoked) against %.1f in steady state (%d over %s)",
		fRate, len(failed.acked), failed.invoked, sRate, len(steady.acked), clock.Round(steady.service()))
	missing := want*failed.service().Minutes() - float64(len(failed.acked))
	stalled := sRate * svc(waited).Minutes()
	switch {
	case fRate >= want:
	case missing <= stalled:
		f.close = append(f.close, fmt.Sprintf("throughput %s is under %g of it, but the run's processes waited for a CPU %s wall in the period, which could cost %.0f writes (%.0f short)",
			f.thr, ThroughputRatio, clock.Round(waited), stalled, missing))
	default:
		f.problems = append(f.problems, fmt.Sprintf("throughput %s is under %g of it (%.0f writes short)", f.thr, ThroughputRatio, missing))
	}
}

// judgeLatency compares the failed-over period's median write, at wall
// value, with LatencyRatio times the steady state's plus LatencySlack, and
// returns the two (median, budget); a median that is over the budget only
// with the CPU waits of the run's processes in it is too close to call.
func (f *capacityFindings) judgeLatency(steady, failed loadPeriod, noise Noise, to string) (fMed, budget time.Duration) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
	sRaw, _ := steady.latencies(noise)
	fRaw, fUnwaited := failed.latencies(noise)
	sMed := median(sRaw)
	budget = time.Duration(LatencyRatio*float64(sMed)) + LatencySlack
	fMed, fMedUnwaited := median(fRaw), median(fUnwaited)
	f.lat = fmt.Sprintf("median write %s wall against %s in steady state (budget %g times it plus %s: %s)",
		ms(fMed), ms(sMed), LatencyRatio, ms(LatencySlack), ms(budget))
	switch {
	case len(failed.acked) == 0:
		f.problems = append(f.problems, "no write was acknowledged by region "+to)
	case fMed <= budget:
	case fMedUnwaited <= budget:
		f.close = append(f.close, fmt.Sprintf("%s, but less the CPU waits of the run's processes while each write lasted the median is %s, within the budget", f.lat, ms(fMedUnwaited)))
	default:
		f.problems = append(f.problems, fmt.Sprintf("%s, %s over it (less the CPU waits while each lasted: %s)", f.lat, ms(fMed-budget), ms(fMedUnwaited)))
	}
	return fMed, budget
}
