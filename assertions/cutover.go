package assertions

import (
	"fmt"
	"sort"
	"strings"

	"github.com/bcdr-harness/bcdr/history"
	"github.com/bcdr-harness/bcdr/topology/fingerprint"
)

// Cutover directions.
const (
	CutoverFailover = "failover"
	CutoverFailback = "failback"
)

// Cutover is what was fingerprinted at one traffic switch (package
// topology/fingerprint), kept in the run's evidence.
//
// At a failback (a planned switch) SQL and Blob compare the region being
// left (Left) with the region taking over (Right), both read at the
// cutover: SQL once the secondary is promoted and before the old primary
// is rebuilt, the bucket once the blob roles are switched, both before
// traffic returns.
//
// At a failover the region being left is lost and cannot be read: SQL and
// Blob are the promoted region's top-level sums at the cutover (Right
// only), and SQLReturned and BlobReturned compare the old region as it
// came back, before the failback's resync rewrites it (Left: fenced off
// and without traffic it still holds what it held when it was lost), with
// the promoted region at that moment (Right).
type Cutover struct {
	Direction    string                   `json:"direction"`
	From         string                   `json:"from"`
	To           string                   `json:"to"`
	SQL          *fingerprint.Fingerprint `json:"sql"`
	Blob         *fingerprint.Fingerprint `json:"blob"`
	SQLReturned  *fingerprint.Fingerprint `json:"sql_returned,omitempty"`
	BlobReturned *fingerprint.Fingerprint `json:"blob_returned,omitempty"`
}

// CutoverFingerprint checks the stores at each cutover from their
// fingerprints (Input.Cutovers):
//
//   - at a failback, which loses nothing, the region taking over must hold
//     exactly what the region being left holds, table by table and key
//     range by key range, and its bucket the same objects with the same
//     checksums: any difference fails, named down to the rows and objects
//     by the bisection, with what each side holds;
//   - at a failover, where loss is allowed, what the promoted region held
//     at the cutover must be a subset of what the old region held when it
//     was lost (its rows identical there): rows only the old region holds
//     are the writes the failover lost (named; the rpo check judges their
//     age), a row both hold differently, or rows the promoted region held
//     that the old one never had, fail. The old region is read when it
//     comes back, the promoted one then holds writes taken since the
//     failover (new keys, or lost writes retried): a range is judged by
//     the rows the two share then, which must cover what the promoted
//     region held at the cutover (by count, and exactly when the counts
//     match).
//
// It is unknown when no cutover happened, or a fingerprint of a cutover
// could not be taken (a side that could not be read, a range whose
// bisection failed).
type CutoverFingerprint struct{}

// Name is "cutover-fingerprint".
func (CutoverFingerprint) Name() string { return "cutover-fingerprint" }

// Check compares the fingerprints of every cutover.
func (CutoverFingerprint) Check(in Input) Result {
	const name = "cutover-fingerprint"
	h := in.History
	r := Result{Name: name}
	_, failedOver := h.FirstEvent(history.EvFailoverDone)
	_, failedBack := h.FirstEvent(history.EvFailbackDone)
	if !failedOver && !failedBack {
		return unknown(name, "no failover or failback happened, so no cutover was fingerprinted")
	}
	if len(in.Cutovers) == 0 {
		return unknown(name, "the run kept no fingerprint of its cutovers")
	}
	var bad, gaps, notes []string
	// Objects a failover lost stay in the old region's bucket: its resync
	// copies what it lacks and deletes nothing. They are the documents of
	// writes the failover lost, not a difference the failback made.
	lostAtFailover := map[string]map[string]bool{}
	for _, c := range in.Cutovers {
		if c.Direction != CutoverFailover || c.BlobReturned == nil {
			continue
		}
		for _, t := range c.BlobReturned.Tables {
			for _, n := range t.Bisected {
				for _, it := range diffNode(n).onlyLeft {
					if lostAtFailover[c.From] == nil {
						lostAtFailover[c.From] = map[string]bool{}
					}
					lostAtFailover[c.From][it.Text] = true
				}
			}
		}
	}
	seen := map[string]bool{}
	for _, c := range in.Cutovers {
		seen[c.Direction] = true
		switch c.Direction {
		case CutoverFailback:
			for _, fp := range []*fingerprint.Fingerprint{c.SQL, c.Blob} {
				b, g, n := judgeFailback(c, fp, lostAtFailover[c.To])
				bad, gaps, notes = append(bad, b...), append(gaps, g...), append(notes, n...)
			}
		case CutoverFailover:
			for _, pair := range [][2]*fingerprint.Fingerprint{{c.SQL, c.SQLReturned}, {c.Blob, c.BlobReturned}} {
				b, g, n := judgeFailover(c, pair[0], pair[1])
				bad, gaps, notes = append(bad, b...), append(gaps, g...), append(notes, n...)
			}
		}
	}
	if failedOver && !seen[CutoverFailover] {
		gaps = append(gaps, "the failover's cutover was not fingerprinted")
	}
	if failedBack && !seen[CutoverFailback] {
		gaps = append(gaps, "the failback's cutover was not fingerprinted")
	}
	r.Violations = len(bad)
	switch {
	case len(bad) > 0:
		r.Verdict = Fail
		r.Explanation = "the stores disagree at a cutover where they must agree: " + strings.Join(bad, "; ")
		if len(gaps) > 0 {
			r.Explanation += " (also: " + strings.Join(gaps, "; ") + ")"
		}
		r.Explanation += ". A failback must carry every row and object unchanged, and a failover only lose the newest writes"
	case len(gaps) > 0:
		r.Verdict = Unknown
		r.Explanation = "a cutover's fingerprint could not be taken or narrowed: " + strings.Join(gaps, "; ")
	default:
		r.Verdict = Pass
		r.Explanation = strings.Join(notes, "; ")
	}
	return finish(r, h.Clock())
}

// judgeFailback holds a failback's fingerprint to exact agreement.
//
// Objects only the region taking over holds are allowed when the failover
// that left it lost them (orphans: the region's bucket as it came back
// held them and the promoted one never did).
func judgeFailback(c Cutover, fp *fingerprint.Fingerprint, orphans map[string]bool) (bad, gaps, notes []string) {
	if fp == nil {
		return nil, []string{"the failback from region " + c.From + " to " + c.To + " kept no fingerprint of a store"}, nil
	}
	if !fp.Taken() {
		return nil, []string{fmt.Sprintf("the %s fingerprint at the failback could not be taken (%s)", fp.Store, sideErrors(fp))}, nil
	}
	var rows int64
	orphaned := 0
	for _, t := range fp.Tables {
		for i := range t.Left {
			rows += t.Left[i].Rows
			if i >= len(t.Right) || t.Left[i] == t.Right[i] {
				continue
			}
			rg := fingerprint.TopLevel(fp.Buckets)[i]
			node, ok := bisectedAt(t, rg)
			if !ok {
				gaps = append(gaps, fmt.Sprintf("%s range %s differs at the failback but was not bisected", t.Name, rg))
				continue
			}
			d := diffNode(node)
			if len(d.errs) > 0 {
				gaps = append(gaps, fmt.Sprintf("%s range %s: %s", t.Name, rg, strings.Join(d.errs, "; ")))
			}
			var kept []fingerprint.Item
			here := 0
			for _, it := range d.onlyRight {
				if fp.Store == "blob" && orphans[it.Text] {
					orphaned++
					here++
					continue
				}
				kept = append(kept, it)
			}
			d.onlyRight = kept
			bad = append(bad, describeDiff(fp, t.Name, rg, d)...)
			if len(d.onlyLeft)+len(d.onlyRight)+len(d.differs) == 0 && len(d.errs) == 0 && here == 0 {
				bad = append(bad, fmt.Sprintf("%s range %s: sums differ (region %s %d rows, region %s %d rows) but no row differs (a hash collision or a row changed while it was read)",
					t.Name, rg, fp.Left.Region, t.Left[i].Rows, fp.Right.Region, t.Right[i].Rows))
			}
		}
	}
	if len(bad) == 0 && len(gaps) == 0 {
		notes = append(notes, fmt.Sprintf("at the failback region %s's %s (%d %s in %d ranges) matched region %s's exactly (%d queries, %.0f ms wall)",
			fp.Right.Region, fp.Store, rows, itemWord(fp), len(fp.Tables)*fp.Buckets, fp.Left.Region, fp.Queries, fp.WallMS))
		if orphaned > 0 {
			notes[len(notes)-1] += fmt.Sprintf(", but for %d objects region %s kept from before the failover that lost them", orphaned, fp.Right.Region)
		}
	}
	return bad, gaps, notes
}

// judgeFailover holds a failover's promoted side (at the cutover) to be a
// subset of the old region as it came back.
func judgeFailover(c Cutover, promoted, returned *fingerprint.Fingerprint) (bad, gaps, notes []string) {
	if promoted == nil || returned == nil {
		return nil, []string{"the failover from region " + c.From + " to " + c.To + " kept no fingerprint of a store (the old region is read when it comes back, before the failback)"}, nil
	}
	if !promoted.Taken() {
		return nil, []string{fmt.Sprintf("the %s fingerprint of region %s at the failover could not be taken (%s)", promoted.Store, c.To, sideErrors(promoted))}, nil
	}
	if !returned.Taken() {
		return nil, []string{fmt.Sprintf("the %s fingerprint of region %s as it came back could not be taken (%s)", returned.Store, c.From, sideErrors(returned))}, nil
	}
	var lost []string
	var held, old int64
	equal := 0
	for ti, t := range promoted.Tables {
		if ti >= len(returned.Tables) || returned.Tables[ti].Name != t.Name {
			gaps = append(gaps, fmt.Sprintf("%s: the fingerprints of the failover and of the return cover different tables", promoted.Store))
			break
		}
		rt := returned.Tables[ti]
		for i, fo := range t.Right {
			rg := fingerprint.TopLevel(promoted.Buckets)[i]
			ar, bn := rt.Left[i], rt.Right[i]
			held, old = held+fo.Rows, old+ar.Rows
			if fo == ar {
				equal++
				continue
			}
			shared, d := ar, diff{}
			if ar != bn {
				node, ok := bisectedAt(rt, rg)
				if !ok {
					gaps = append(gaps, fmt.Sprintf("%s range %s differs but was not bisected", t.Name, rg))
					continue
				}
				d = diffNode(node)
				shared = d.shared
				if len(d.errs) > 0 {
					gaps = append(gaps, fmt.Sprintf("%s range %s: %s", t.Name, rg, strings.Join(d.errs, "; ")))
					continue
				}
			}
			for _, k := range d.differs {
				bad = append(bad, fmt.Sprintf("%s %s: region %s (as lost) has %s, region %s has %s", t.Name, k.key,
					c.From, texts(k.left), c.To, texts(k.right)))
			}
			for _, it := range d.onlyLeft {
				lost = append(lost, t.Name+" "+it.Key)
			}
			switch {
			case fo.Rows > shared.Rows:
				bad = append(bad, fmt.Sprintf("%s range %s: region %s held %d rows at the failover, only %d of them are in region %s as it was lost; rows region %s holds that region %s lacks: %s",
					t.Name, rg, c.To, fo.Rows, shared.Rows, c.From, c.To, c.From, itemKeys(d.onlyRight)))
			case fo.Rows == shared.Rows && fo.Hash != shared.Hash:
				bad = append(bad, fmt.Sprintf("%s range %s: region %s held %d rows at the failover that are not the %d rows it shares with region %s as it was lost; rows only region %s holds: %s",
					t.Name, rg, c.To, fo.Rows, shared.Rows, c.From, c.To, itemKeys(d.onlyRight)))
			}
		}
	}
	if len(bad) == 0 && len(gaps) == 0 {
		n := fmt.Sprintf("at the failover region %s's %s (%d %s) was a subset of region %s's as it was lost (%d); %d of %d ranges equal",
			c.To, promoted.Store, held, itemWord(promoted), c.From, old, equal, len(promoted.Tables)*promoted.Buckets)
		if len(lost) > 0 {
			n += fmt.Sprintf(", %d %s lost with the failover (%s)", len(lost), itemWord(promoted), firstN(lost, 4))
		}
		notes = append(notes, n)
	}
	return bad, gaps, notes
}

// bisectedAt finds the bisection of a top-level range.
func bisectedAt(t fingerprint.Table, rg fingerprint.Range) (fingerprint.Node, bool) {
	for _, n := range t.Bisected {
		if n.Range == rg {
			return n, true
		}
	}
	return fingerprint.Node{}, false
}

// keyDiff is a key both sides hold with different items.
type keyDiff struct {
	key         string
	left, right []fingerprint.Item
}

// diff is what a bisection found: the items only one side holds, the keys
// both hold differently, the sum of what they share, and the ranges that
// could not be narrowed.
type diff struct {
	onlyLeft, onlyRight []fingerprint.Item
	differs             []keyDiff
	shared              fingerprint.Sum
	errs                []string
}

// diffNode walks a bisection: equal subranges are shared whole; at a leaf
// the items are matched by key and text.
func diffNode(n fingerprint.Node) diff {
	var d diff
	var walk func(n fingerprint.Node)
	walk = func(n fingerprint.Node) {
		switch {
		case !n.Differs():
			d.shared = d.shared.Add(n.Left)
		case n.Error != "":
			d.errs = append(d.errs, fmt.Sprintf("range %s could not be narrowed: %s", n.Range, n.Error))
		case n.Leaf && n.Items != nil:
			leafDiff(n.Items, &d)
		case len(n.Kids) > 0:
			for _, k := range n.Kids {
				walk(k)
			}
		default:
			d.errs = append(d.errs, fmt.Sprintf("range %s differs and its bisection is missing", n.Range))
		}
	}
	walk(n)
	return d
}

func leafDiff(p *fingerprint.Pair, d *diff) {
	left, right := byKey(p.Left), byKey(p.Right)
	keys := map[string]bool{}
	for k := range left {
		keys[k] = true
	}
	for k := range right {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		l, r := left[k], right[k]
		switch {
		case len(r) == 0:
			d.onlyLeft = append(d.onlyLeft, l...)
		case len(l) == 0:
			d.onlyRight = append(d.onlyRight, r...)
		case sameItems(l, r):
			d.shared = d.shared.Add(fingerprint.SumOf(l))
		default:
			d.differs = append(d.differs, keyDiff{key: k, left: l, right: r})
		}
	}
}

func byKey(items []fingerprint.Item) map[string][]fingerprint.Item {
	out := map[string][]fingerprint.Item{}
	for _, it := range items {
		out[it.Key] = append(out[it.Key], it)
	}
	return out
}

func sameItems(a, b []fingerprint.Item) bool {
	if len(a) != len(b) {
		return false
	}
	ta, tb := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		ta[i], tb[i] = a[i].Text, b[i].Text
	}
	sort.Strings(ta)
	sort.Strings(tb)
	for i := range ta {
		if ta[i] != tb[i] {
			return false
		}
	}
	return true
}

// describeDiff names what differs in one range at a failback.
func describeDiff(fp *fingerprint.Fingerprint, table string, rg fingerprint.Range, d diff) []string {
	var out []string
	for _, k := range d.differs {
		out = append(out, fmt.Sprintf("%s %s differs: region %s has %s, region %s has %s", table, k.key,
			fp.Left.Region, texts(k.left), fp.Right.Region, texts(k.right)))
	}
	for _, it := range d.onlyLeft {
		out = append(out, fmt.Sprintf("%s %s only in region %s (%q), missing from region %s", table, it.Key, fp.Left.Region, it.Text, fp.Right.Region))
	}
	for _, it := range d.onlyRight {
		out = append(out, fmt.Sprintf("%s %s only in region %s (%q), not in region %s", table, it.Key, fp.Right.Region, it.Text, fp.Left.Region))
	}
	return out
}

func texts(items []fingerprint.Item) string {
	var out []string
	for _, it := range items {
		out = append(out, fmt.Sprintf("%q", it.Text))
	}
	return strings.Join(out, ", ")
}

func itemKeys(items []fingerprint.Item) string {
	if len(items) == 0 {
		return "none listed"
	}
	var out []string
	for _, it := range items {
		out = append(out, it.Key)
	}
	return firstN(out, 6)
}

func firstN(s []string, n int) string {
	if len(s) <= n {
		return strings.Join(s, ", ")
	}
	return strings.Join(s[:n], ", ") + fmt.Sprintf(" and %d more", len(s)-n)
}

func itemWord(fp *fingerprint.Fingerprint) string {
	if fp.Store == "blob" {
		return "objects"
	}
	return "rows"
}

func sideErrors(fp *fingerprint.Fingerprint) string {
	var out []string
	if fp.Left.Error != "" {
		out = append(out, "region "+fp.Left.Region+": "+fp.Left.Error)
	}
	if fp.Right.Error != "" {
		out = append(out, "region "+fp.Right.Region+": "+fp.Right.Error)
	}
	if len(out) == 0 {
		out = append(out, "no table was read")
	}
	return strings.Join(out, "; ")
}
