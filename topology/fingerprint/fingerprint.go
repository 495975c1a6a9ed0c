// Package fingerprint hashes a region's stores at a cutover (a failover or
// a failback) so that two regions that should agree are compared without
// reading every row, and a difference is narrowed to the rows and objects
// that differ by bisection: only the key ranges whose hashes differ are
// queried again, halved each time, until the rows themselves are listed.
//
// Every item of a store (a table row, a bucket object) has a key (the
// idempotency key of a business row, an object's name) and a canonical
// text (its business columns, its name and checksum). The key is placed in
// a 32-bit key space by Position (the first bits of MD5(key)), so ranges
// are even whatever the keys look like; a range aligned on a power of two
// is a prefix of that position, and halving it extends the prefix by one
// bit. A range's hash is a Sum: the number of items and the sum (mod 2^64)
// of their RowHash. Sums are additive, so a range's sum is the sum of its
// halves' and a saved fingerprint can be checked for consistency, and two
// equal sums mean, up to a hash collision, the same items.
//
// A Store computes sums over ranges and lists the items of a range; SQL
// engines do it in the database (package appdb), bucket listings and the
// fake provider in memory (MemStore). Compare takes both sides' top-level
// sums and bisects every range that differs; Top takes one side's only.
// The results are plain JSON-tagged data kept in a run's evidence.
package fingerprint

import (
	"context"
	"crypto/md5" //nolint:gosec // a fingerprint, not a security boundary: the SQL engines offer MD5 natively
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Space is the size of the key space: positions are in [0, Space).
const Space = uint64(1) << 32

// DefaultBuckets is how many top-level ranges a table is cut into.
const DefaultBuckets = 16

// LeafRows is the most items a side may hold in a range before bisection
// lists its items instead of halving it again. Each halving is a query
// that scans the table (the position is computed, not indexed), so
// listing a few dozen items costs less than halving down to one: a
// comparison with hundreds of differences (a failover's lost writes and
// the writes taken since) stays at a few queries per top-level range.
const LeafRows = 64

// Position places a key in the key space: the first 32 bits of MD5(key).
func Position(key string) uint64 {
	h := md5.Sum([]byte(key)) //nolint:gosec // see the import
	return uint64(binary.BigEndian.Uint32(h[:4]))
}

// RowHash is an item's hash: the first 56 bits of MD5(text), as the SQL
// engines compute it (56 bits: a SQL Server BIGINT cast of 7 bytes stays
// positive).
func RowHash(text string) uint64 {
	h := md5.Sum([]byte(text)) //nolint:gosec // see the import
	var b [8]byte
	copy(b[1:], h[:7])
	return binary.BigEndian.Uint64(b[:])
}

// Range is a half-open range [Lo, Hi) of the key space.
type Range struct {
	Lo uint64 `json:"lo"`
	Hi uint64 `json:"hi"`
}

// Width is how many positions the range spans.
func (r Range) Width() uint64 { return r.Hi - r.Lo }

// Contains tells whether position p is in the range.
func (r Range) Contains(p uint64) bool { return p >= r.Lo && p < r.Hi }

// Halves splits the range in two.
func (r Range) Halves() [2]Range {
	mid := r.Lo + r.Width()/2
	return [2]Range{{r.Lo, mid}, {mid, r.Hi}}
}

// String renders the range as hex positions, e.g. [0x10000000,0x20000000).
func (r Range) String() string { return fmt.Sprintf("[%#08x,%#08x)", r.Lo, r.Hi) }

// Split cuts the range into n equal parts (n a power of two dividing its width).
func (r Range) Split(n int) []Range {
	w := r.Width() / uint64(n)
	out := make([]Range, n)
	for i := range out {
		out[i] = Range{r.Lo + uint64(i)*w, r.Lo + uint64(i+1)*w}
	}
	return out
}

// Sum is a range's hash: how many items it holds and the sum of their
// RowHash mod 2^64.
type Sum struct {
	Rows int64  `json:"rows"`
	Hash uint64 `json:"hash,string"`
}

// Add adds another sum (of disjoint items).
func (s Sum) Add(o Sum) Sum { return Sum{s.Rows + o.Rows, s.Hash + o.Hash} }

// Sub takes away the sum of a subset.
func (s Sum) Sub(o Sum) Sum { return Sum{s.Rows - o.Rows, s.Hash - o.Hash} }

// Item is one row or object as a store lists it.
type Item struct {
	Key string `json:"key"`
	// Hash is RowHash(Text).
	Hash uint64 `json:"hash,string"`
	// Text is the canonical text hashed: the business columns, or an
	// object's name and checksum.
	Text string `json:"text"`
}

// SumOf sums items.
func SumOf(items []Item) Sum {
	var s Sum
	for _, it := range items {
		s = s.Add(Sum{1, it.Hash})
	}
	return s
}

// Store is one region's store as the fingerprint reads it: a set of
// tables (a bucket is one table, "objects"), each item keyed.
type Store interface {
	// Tables lists the tables fingerprinted, in order.
	Tables() []string
	// Sums returns the sum of each range of parts (contiguous ranges of
	// equal width, a power of two) in one query.
	Sums(ctx context.Context, table string, parts []Range) ([]Sum, error)
	// Items lists the items of table whose key falls in r.
	Items(ctx context.Context, table string, r Range) ([]Item, error)
}

// Node is one range bisection queried on both sides. At a leaf (a range
// one side holds at most LeafRows items of, or one position wide) the items
// of both sides are listed; above it, Children are the halves whose sums
// differ (the halves that agree are recorded with their sums only).
type Node struct {
	Range Range  `json:"range"`
	Left  Sum    `json:"left"`
	Right Sum    `json:"right"`
	Leaf  bool   `json:"leaf,omitempty"`
	Items *Pair  `json:"items,omitempty"`
	Kids  []Node `json:"children,omitempty"`
	// Error is why this range could not be narrowed further.
	Error string `json:"error,omitempty"`
}

// Pair is a leaf's items, per side, sorted by key then text.
type Pair struct {
	Left  []Item `json:"left"`
	Right []Item `json:"right"`
}

// Differs tells whether the two sides' sums differ.
func (n Node) Differs() bool { return n.Left != n.Right }

// Table is one table's fingerprint: the top-level sums of both sides and,
// for each top-level range that differs, its bisection.
type Table struct {
	Name  string `json:"name"`
	Left  []Sum  `json:"left,omitempty"`
	Right []Sum  `json:"right,omitempty"`
	// Bisected holds a node per differing top-level range, in range order.
	Bisected []Node `json:"bisected,omitempty"`
}

// Side is what one region's store gave: its region, when it was read, the
// error if it could not be.
type Side struct {
	Region  string    `json:"region"`
	TakenAt time.Time `json:"taken_at"`
	Error   string    `json:"error,omitempty"`
}

// Fingerprint is one store compared across two regions (Compare) or one
// region's store alone (Top, Right side only).
type Fingerprint struct {
	// Store names the store: "sql" or "blob".
	Store   string  `json:"store"`
	Buckets int     `json:"buckets"`
	Left    Side    `json:"left"`
	Right   Side    `json:"right"`
	Tables  []Table `json:"tables"`
	// Queries counts the sum and item queries bisection ran (both sides).
	Queries int `json:"queries"`
	// WallMS is what taking it cost, in wall milliseconds.
	WallMS float64 `json:"wall_ms"`
}

// Taken tells whether both sides were read (for Top: the right side).
func (f *Fingerprint) Taken() bool {
	return f != nil && f.Left.Error == "" && f.Right.Error == "" && len(f.Tables) > 0
}

// TopLevel returns the top-level ranges of a fingerprint with n buckets.
func TopLevel(n int) []Range { return Range{0, Space}.Split(n) }

// Top reads one region's top-level sums (the right side of the result).
func Top(ctx context.Context, store, region string, s Store, buckets int) *Fingerprint {
	start := time.Now()
	f := &Fingerprint{Store: store, Buckets: buckets, Right: Side{Region: region, TakenAt: start}}
	for _, t := range s.Tables() {
		sums, err := s.Sums(ctx, t, TopLevel(buckets))
		f.Queries++
		if err != nil {
			f.Right.Error = fmt.Sprintf("table %s: %v", t, err)
			f.Tables = nil
			break
		}
		f.Tables = append(f.Tables, Table{Name: t, Right: sums})
	}
	f.WallMS = float64(time.Since(start).Microseconds()) / 1000
	return f
}

// Compare reads both regions' top-level sums and bisects every range whose
// sums differ down to the items that differ. left and right are read
// concurrently at each step. A side that cannot be read is recorded with
// its error and nothing is compared.
func Compare(ctx context.Context, store, leftRegion string, left Store, rightRegion string, right Store, buckets int) *Fingerprint {
	start := time.Now()
	f := &Fingerprint{Store: store, Buckets: buckets,
		Left: Side{Region: leftRegion, TakenAt: start}, Right: Side{Region: rightRegion, TakenAt: start}}
	b := &bisector{ctx: ctx, left: left, right: right}
	for _, t := range left.Tables() {
		ls, rs, lerr, rerr := b.sums(t, TopLevel(buckets))
		if lerr != nil || rerr != nil {
			if lerr != nil {
				f.Left.Error = fmt.Sprintf("table %s: %v", t, lerr)
			}
			if rerr != nil {
				f.Right.Error = fmt.Sprintf("table %s: %v", t, rerr)
			}
			f.Tables = nil
			break
		}
		tab := Table{Name: t, Left: ls, Right: rs}
		for i, r := range TopLevel(buckets) {
			if ls[i] != rs[i] {
				tab.Bisected = append(tab.Bisected, b.bisect(t, Node{Range: r, Left: ls[i], Right: rs[i]}))
			}
		}
		f.Tables = append(f.Tables, tab)
	}
	f.Queries = b.queries
	f.WallMS = float64(time.Since(start).Microseconds()) / 1000
	return f
}

type bisector struct {
	ctx         context.Context
	left, right Store
	queries     int
}

// both runs one query on each side concurrently.
func both[T any](f func(Store) (T, error), left, right Store) (l, r T, lerr, rerr error) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); l, lerr = f(left) }()
	r, rerr = f(right)
	wg.Wait()
	return l, r, lerr, rerr
}

func (b *bisector) sums(table string, parts []Range) (l, r []Sum, lerr, rerr error) {
	b.queries += 2
	l, r, lerr, rerr = both(func(s Store) ([]Sum, error) { return s.Sums(b.ctx, table, parts) }, b.left, b.right)
	if lerr == nil && len(l) != len(parts) {
		lerr = fmt.Errorf("asked %d sums, got %d", len(parts), len(l))
	}
	if rerr == nil && len(r) != len(parts) {
		rerr = fmt.Errorf("asked %d sums, got %d", len(parts), len(r))
	}
	return l, r, lerr, rerr
}

// bisect narrows a differing range: it lists the items of a small or
// one-position range, else it queries the sums of the halves and recurses
// into those that differ.
func (b *bisector) bisect(table string, n Node) Node {
	if n.Range.Width() <= 1 || max(n.Left.Rows, n.Right.Rows) <= LeafRows {
		n.Leaf = true
		b.queries += 2
		l, r, lerr, rerr := both(func(s Store) ([]Item, error) { return s.Items(b.ctx, table, n.Range) }, b.left, b.right)
		if lerr != nil || rerr != nil {
			n.Error = fmt.Sprintf("list items: left: %v, right: %v", lerr, rerr)
			return n
		}
		sortItems(l)
		sortItems(r)
		n.Items = &Pair{Left: l, Right: r}
		return n
	}
	halves := n.Range.Halves()
	ls, rs, lerr, rerr := b.sums(table, halves[:])
	if lerr != nil || rerr != nil {
		n.Error = fmt.Sprintf("sums of the halves: left: %v, right: %v", lerr, rerr)
		return n
	}
	for i, h := range halves {
		kid := Node{Range: h, Left: ls[i], Right: rs[i]}
		if kid.Differs() {
			kid = b.bisect(table, kid)
		}
		n.Kids = append(n.Kids, kid)
	}
	return n
}

func sortItems(items []Item) {
	sort.Slice(items, func(i, j int) bool {
		if items[i].Key != items[j].Key {
			return items[i].Key < items[j].Key
		}
		return items[i].Text < items[j].Text
	})
}

// MemStore is a store held in memory: a bucket listing, the fake
// provider's tables. Sums and Items scan it.
type MemStore struct {
	tables []string
	items  map[string][]Item
	pos    map[string][]uint64
}

// NewMemStore returns an empty store with these tables.
func NewMemStore(tables ...string) *MemStore {
	return &MemStore{tables: tables, items: map[string][]Item{}, pos: map[string][]uint64{}}
}

// Add puts an item in a table.
func (m *MemStore) Add(table, key, text string) {
	m.items[table] = append(m.items[table], Item{Key: key, Hash: RowHash(text), Text: text})
	m.pos[table] = append(m.pos[table], Position(key))
}

// Tables lists the tables.
func (m *MemStore) Tables() []string { return m.tables }

// Sums sums each range.
func (m *MemStore) Sums(_ context.Context, table string, parts []Range) ([]Sum, error) {
	out := make([]Sum, len(parts))
	for i, it := range m.items[table] {
		p := m.pos[table][i]
		for j, r := range parts {
			if r.Contains(p) {
				out[j] = out[j].Add(Sum{1, it.Hash})
				break
			}
		}
	}
	return out, nil
}

// Items lists a range's items.
func (m *MemStore) Items(_ context.Context, table string, r Range) ([]Item, error) {
	var out []Item
	for i, it := range m.items[table] {
		if r.Contains(m.pos[table][i]) {
			out = append(out, it)
		}
	}
	return out, nil
}

// ObjectsTable is the one table of a bucket's store.
const ObjectsTable = "objects"

// Bucket is a bucket's store from a listing: object name to checksum (an
// ETag, or a SHA-256 where the store keeps one). Each object's text is
// "name|checksum".
func Bucket(listing map[string]string) *MemStore {
	m := NewMemStore(ObjectsTable)
	for k, sum := range listing {
		m.Add(ObjectsTable, k, k+"|"+sum)
	}
	return m
}

// FirstShared returns the smallest key that both listings hold with the
// same checksum (key to checksum): the object a drop-object defect may
// delete so that the damage is a difference between the regions. An object
// only one region kept (a document a failover lost, which the resync does
// not delete) would not be one.
func FirstShared(mine, other map[string]string) (string, bool) {
	keys := make([]string, 0, len(mine))
	for k, sum := range mine {
		if o, ok := other[k]; ok && o == sum {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "", false
	}
	sort.Strings(keys)
	return keys[0], true
}
