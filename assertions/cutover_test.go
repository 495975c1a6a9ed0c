package assertions

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bcdr-harness/bcdr/topology/fingerprint"
)

// region is one region's invoices (key to canonical text) and bucket
// (object name to checksum), as a test plants them.
type region struct {
	rows    map[string]string // key -> text
	objects map[string]string // name -> checksum
}

func newRegion(n int) region {
	r := region{rows: map[string]string{}, objects: map[string]string{}}
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("inv-%03d", i)
		r.rows[k] = fmt.Sprintf("%s|invoices/%s.pdf|%064d|%d", k, k, i, 100+i)
		r.objects["invoices/"+k+".pdf"] = fmt.Sprintf("etag-%d", i)
	}
	return r
}

func (r region) clone() region {
	c := region{rows: map[string]string{}, objects: map[string]string{}}
	for k, v := range r.rows {
		c.rows[k] = v
	}
	for k, v := range r.objects {
		c.objects[k] = v
	}
	return c
}

func (r region) sql() fingerprint.Store {
	m := fingerprint.NewMemStore("invoices")
	for k, v := range r.rows {
		m.Add("invoices", k, v)
	}
	return m
}

func (r region) blob() fingerprint.Store { return fingerprint.Bucket(r.objects) }

// cutovers fingerprints a failover (b promoted from a, a read back when it
// returns against b then) and a failback (b to a), as the runbook does.
func cutovers(aLost, bAtFailover, bAtReturn, bAtFailback, aAtFailback region) []Cutover {
	ctx := context.Background()
	n := fingerprint.DefaultBuckets
	fo := Cutover{Direction: CutoverFailover, From: "a", To: "b",
		SQL:          fingerprint.Top(ctx, "sql", "b", bAtFailover.sql(), n),
		Blob:         fingerprint.Top(ctx, "blob", "b", bAtFailover.blob(), n),
		SQLReturned:  fingerprint.Compare(ctx, "sql", "a", aLost.sql(), "b", bAtReturn.sql(), n),
		BlobReturned: fingerprint.Compare(ctx, "blob", "a", aLost.blob(), "b", bAtReturn.blob(), n)}
	fb := Cutover{Direction: CutoverFailback, From: "b", To: "a",
		SQL:  fingerprint.Compare(ctx, "sql", "b", bAtFailback.sql(), "a", aAtFailback.sql(), n),
		Blob: fingerprint.Compare(ctx, "blob", "b", bAtFailback.blob(), "a", aAtFailback.blob(), n)}
	return []Cutover{fo, fb}
}

// scenario is a clean drill's stores: a lost the last 3 invoices (and
// their documents) at the failover, b took 20 more while failed over, and
// the failback carried everything to a (whose bucket keeps the 3 lost
// documents: its resync deletes nothing).
func scenario() (aLost, bAtFailover, bAtReturn, bAtFailback, aAtFailback region) {
	aLost = newRegion(200)
	bAtFailover = aLost.clone()
	for i := 197; i < 200; i++ {
		k := fmt.Sprintf("inv-%03d", i)
		delete(bAtFailover.rows, k)
		delete(bAtFailover.objects, "invoices/"+k+".pdf")
	}
	bAtReturn = bAtFailover.clone()
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("inv-b-%02d", i)
		bAtReturn.rows[k] = k + "|invoices/" + k + ".pdf|x|1"
		bAtReturn.objects["invoices/"+k+".pdf"] = "etag-b"
	}
	bAtFailback = bAtReturn.clone()
	aAtFailback = bAtFailback.clone()
	for k, v := range aLost.objects {
		aAtFailback.objects[k] = v
	}
	return
}

func TestCutoverFingerprintPassesAClean(t *testing.T) {
	in := newDrill().input(2 * time.Minute)
	in.Cutovers = cutovers(scenario())
	r := check(t, CutoverFingerprint{}, in, Pass, "matched region b's exactly", "subset of region a's", "3 rows lost with the failover",
		"but for 3 objects region a kept from before the failover")
	// Judged again from the evidence's JSON: the same verdict.
	ev := NewEvidence(in, []string{"cutover-fingerprint"})
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var back Evidence
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	again, err := back.Input(in.History)
	if err != nil {
		t.Fatal(err)
	}
	if r2 := (CutoverFingerprint{}).Check(again); r2.Verdict != r.Verdict || r2.Explanation != r.Explanation {
		t.Fatalf("judged again from JSON: %s %s, first %s %s", r2.Verdict, r2.Explanation, r.Verdict, r.Explanation)
	}
}

// TestCutoverFingerprintNamesThePlantedDifferences plants, at the
// failback, one invoice altered and one document missing in the region
// taking over, and one document altered: the check must fail naming
// exactly those keys and what each side holds.
func TestCutoverFingerprintNamesThePlantedDifferences(t *testing.T) {
	aLost, bFo, bRet, bFb, aFb := scenario()
	aFb.rows["inv-042"] = strings.Replace(aFb.rows["inv-042"], "|142", "|143", 1)
	delete(aFb.objects, "invoices/inv-007.pdf")
	aFb.objects["invoices/inv-100.pdf"] = "etag-other"
	in := newDrill().input(2 * time.Minute)
	in.Cutovers = cutovers(aLost, bFo, bRet, bFb, aFb)
	r := check(t, CutoverFingerprint{}, in, Fail,
		`invoices inv-042 differs: region b has "inv-042|invoices/inv-042.pdf|`+fmt.Sprintf("%064d", 42)+`|142", region a has "inv-042|invoices/inv-042.pdf|`+fmt.Sprintf("%064d", 42)+`|143"`,
		`objects invoices/inv-007.pdf only in region b ("invoices/inv-007.pdf|etag-7"), missing from region a`,
		`objects invoices/inv-100.pdf differs: region b has "invoices/inv-100.pdf|etag-100", region a has "invoices/inv-100.pdf|etag-other"`)
	if r.Violations != 3 {
		t.Errorf("want exactly the 3 planted differences, got %d: %s", r.Violations, r.Explanation)
	}
}

// TestCutoverFingerprintFailoverMustBeASubset: a row the promoted region
// holds differently from the old one fails the failover; losing rows does
// not.
func TestCutoverFingerprintFailoverMustBeASubset(t *testing.T) {
	aLost, bFo, bRet, bFb, aFb := scenario()
	for _, r := range []region{bFo, bRet} {
		r.rows["inv-010"] = "inv-010|diverged"
	}
	bFb.rows["inv-010"], aFb.rows["inv-010"] = "inv-010|diverged", "inv-010|diverged"
	in := newDrill().input(2 * time.Minute)
	in.Cutovers = cutovers(aLost, bFo, bRet, bFb, aFb)
	check(t, CutoverFingerprint{}, in, Fail, `invoices inv-010: region a (as lost) has "inv-010|invoices/inv-010.pdf|`, `region b has "inv-010|diverged"`)

	// The promoted region held a row the old one never had.
	aLost, bFo, bRet, bFb, aFb = scenario()
	for _, r := range []region{bFo, bRet, bFb, aFb} {
		r.rows["ghost"] = "ghost|1"
	}
	in.Cutovers = cutovers(aLost, bFo, bRet, bFb, aFb)
	check(t, CutoverFingerprint{}, in, Fail, "rows region b holds that region a lacks: ghost")
}

func TestCutoverFingerprintUnknown(t *testing.T) {
	check(t, CutoverFingerprint{}, Input{History: newBuilder().h}, Unknown, "no failover or failback happened")
	in := newDrill().input(2 * time.Minute)
	in.Cutovers = nil
	check(t, CutoverFingerprint{}, in, Unknown, "kept no fingerprint")
	in.Cutovers = cutovers(scenario())
	in.Cutovers[1].SQL = &fingerprint.Fingerprint{Store: "sql", Left: fingerprint.Side{Region: "b", Error: "restoring"}, Right: fingerprint.Side{Region: "a"}}
	check(t, CutoverFingerprint{}, in, Unknown, "could not be taken", "region b: restoring")
}
