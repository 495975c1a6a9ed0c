package fingerprint

import (
	"context"
	"fmt"
	"testing"
)

// diffKeys walks a bisection to its leaves and returns the keys whose
// items differ between the sides.
func diffKeys(n Node, out map[string]bool) {
	if !n.Differs() {
		return
	}
	if n.Items != nil {
		l, r := map[string]string{}, map[string]string{}
		for _, it := range n.Items.Left {
			l[it.Key] += it.Text + ";"
		}
		for _, it := range n.Items.Right {
			r[it.Key] += it.Text + ";"
		}
		for k, v := range l {
			if r[k] != v {
				out[k] = true
			}
		}
		for k := range r {
			if _, ok := l[k]; !ok {
				out[k] = true
			}
		}
	}
	for _, k := range n.Kids {
		diffKeys(k, out)
	}
}

// TestCompareBisectsToThePlantedRows plants three differences among 2000
// rows (one changed, one missing on the left, one only on the left) and
// requires the bisection to name exactly those keys, listing few items.
func TestCompareBisectsToThePlantedRows(t *testing.T) {
	left, right := NewMemStore("invoices"), NewMemStore("invoices")
	for i := 0; i < 2000; i++ {
		k := fmt.Sprintf("inv-%04d", i)
		text := fmt.Sprintf("%s|doc/%s|%d", k, k, 100+i)
		switch k {
		case "inv-0042":
			left.Add("invoices", k, text)
			right.Add("invoices", k, text+"1") // altered on the right
		case "inv-1500":
			right.Add("invoices", k, text) // missing on the left
		case "inv-0777":
			left.Add("invoices", k, text) // missing on the right
		default:
			left.Add("invoices", k, text)
			right.Add("invoices", k, text)
		}
	}
	f := Compare(context.Background(), "sql", "b", left, "a", right, DefaultBuckets)
	if !f.Taken() {
		t.Fatalf("not taken: %+v", f)
	}
	got := map[string]bool{}
	listed := 0
	var count func(Node)
	count = func(n Node) {
		if n.Items != nil {
			listed += len(n.Items.Left) + len(n.Items.Right)
		}
		for _, k := range n.Kids {
			count(k)
		}
	}
	for _, n := range f.Tables[0].Bisected {
		diffKeys(n, got)
		count(n)
	}
	want := map[string]bool{"inv-0042": true, "inv-1500": true, "inv-0777": true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("bisection named %v, want %v", got, want)
	}
	if listed > 6*2*LeafRows {
		t.Errorf("bisection listed %d items for 3 differences: it should narrow before listing", listed)
	}
	t.Logf("%d queries, %d items listed of 4000", f.Queries, listed)
}

// TestEqualStoresNeedNoBisection: agreeing stores give equal sums and no
// bisection; and the sums are additive (a range is its halves).
func TestEqualStoresNeedNoBisection(t *testing.T) {
	a, b := NewMemStore("t"), NewMemStore("t")
	for i := 0; i < 300; i++ {
		a.Add("t", fmt.Sprint(i), fmt.Sprint("row ", i))
		b.Add("t", fmt.Sprint(i), fmt.Sprint("row ", i))
	}
	f := Compare(context.Background(), "sql", "a", a, "b", b, 8)
	if len(f.Tables[0].Bisected) != 0 {
		t.Fatalf("equal stores bisected: %+v", f.Tables[0].Bisected)
	}
	whole, _ := a.Sums(context.Background(), "t", []Range{{0, Space}})
	hs := Range{0, Space}.Halves()
	halves, _ := a.Sums(context.Background(), "t", hs[:])
	if whole[0] != halves[0].Add(halves[1]) || whole[0].Rows != 300 {
		t.Fatalf("sums not additive: %+v vs %+v", whole, halves)
	}
}

// TestHashesAreTheEnginesMD5 pins Position and RowHash to MD5, which the
// SQL engines compute in the database (package appdb).
func TestHashesAreTheEnginesMD5(t *testing.T) {
	// md5("abc") = 900150983cd24fb0d6963f7d28e17f72
	if got := Position("abc"); got != 0x90015098 {
		t.Errorf("Position(abc) = %#x", got)
	}
	if got := RowHash("abc"); got != 0x900150983cd24f {
		t.Errorf("RowHash(abc) = %#x", got)
	}
}

// FirstShared takes the smallest key both listings hold identically: not
// one only this side holds, nor one whose content differs.
func TestFirstShared(t *testing.T) {
	mine := map[string]string{"a": "1", "b": "2", "c": "3"}
	if k, ok := FirstShared(mine, map[string]string{"a": "x", "c": "3", "b": "2"}); !ok || k != "b" {
		t.Errorf("got %q %v, want b", k, ok)
	}
	if k, ok := FirstShared(mine, map[string]string{"z": "1"}); ok {
		t.Errorf("nothing shared, got %q", k)
	}
}
