package pgship

import (
	"fmt"
	"strconv"
	"strings"
)

// segSize is the WAL segment size the clusters are initialised with
// (initdb --wal-segsize=1): small segments keep frequent log backups small.
const segSize = 1 << 20

// segsPerID is how many segments one "xlogid" (the high 32 bits of an LSN)
// holds; it is the divisor in WAL file names.
const segsPerID = 0x100000000 / segSize

// parseLSN turns PostgreSQL's "X/Y" text form into a number.
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return 0, fmt.Errorf("bad LSN %q", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("bad LSN %q: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("bad LSN %q: %w", s, err)
	}
	return h<<32 | l, nil
}

// formatLSN renders a number in PostgreSQL's "X/Y" text form.
func formatLSN(v uint64) string { return fmt.Sprintf("%X/%X", v>>32, v&0xFFFFFFFF) }

// walFile is a parsed WAL segment file name TTTTTTTTXXXXXXXXYYYYYYYY.
type walFile struct {
	TLI   uint32
	SegNo uint64
}

// parseWALName parses a WAL segment file name; ok is false for anything else
// (timeline history files, .partial and .backup files, temporaries).
func parseWALName(name string) (walFile, bool) {
	if len(name) != 24 {
		return walFile{}, false
	}
	for _, c := range name {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return walFile{}, false
		}
	}
	tli, _ := strconv.ParseUint(name[0:8], 16, 32)
	hi, _ := strconv.ParseUint(name[8:16], 16, 32)
	lo, _ := strconv.ParseUint(name[16:24], 16, 32)
	return walFile{TLI: uint32(tli), SegNo: hi*segsPerID + lo}, true
}

// Name renders the segment's file name.
func (w walFile) Name() string {
	return fmt.Sprintf("%08X%08X%08X", w.TLI, w.SegNo/segsPerID, w.SegNo%segsPerID)
}

// End is the LSN just past the segment: the start of the next one.
func (w walFile) End() uint64 { return (w.SegNo + 1) * segSize }

// segOf is the segment number holding the byte at lsn.
func segOf(lsn uint64) uint64 { return lsn / segSize }

// shippable tells whether an archived file is worth sending to the secondary:
// WAL segments, timeline history files and backup history files. Partial
// segments (left by a promotion) are never asked for by a standby.
func shippable(name string) bool {
	if _, ok := parseWALName(name); ok {
		return true
	}
	return strings.HasSuffix(name, ".history") || strings.HasSuffix(name, ".backup")
}
