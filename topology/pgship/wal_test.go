package pgship

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLSNAndWALNames(t *testing.T) {
	v, err := parseLSN("1/A00028")
	require.NoError(t, err)
	assert.Equal(t, uint64(1)<<32|0xA00028, v)
	assert.Equal(t, "1/A00028", formatLSN(v))
	_, err = parseLSN("garbage")
	assert.Error(t, err)

	w, ok := parseWALName("00000002000000010000000A")
	require.True(t, ok)
	assert.Equal(t, uint32(2), w.TLI)
	assert.Equal(t, uint64(segsPerID+10), w.SegNo)
	assert.Equal(t, "00000002000000010000000A", w.Name())
	assert.Equal(t, uint64(1)<<32|0xB00000, w.End(), "1 MiB segments: segment 1/A ends at 1/B00000")
	assert.Equal(t, w.SegNo, segOf(w.End()-1))

	for _, n := range []string{"00000002.history", "00000001000000000000000B.00000028.backup"} {
		_, ok := parseWALName(n)
		assert.False(t, ok, n)
		assert.True(t, shippable(n), n)
	}
	assert.False(t, shippable("000000010000000000000005.partial"))
	assert.False(t, shippable("x/../../etc"))

	names := []string{"00000001000000000000000B", "00000002.history", "00000002000000000000000A", "00000001000000000000000B.00000028.backup"}
	sortForShipping(names)
	assert.Equal(t, []string{"00000002.history", "00000002000000000000000A", "00000001000000000000000B", "00000001000000000000000B.00000028.backup"}, names)
	assert.Equal(t, uint64(0xB00000), segEndBefore(0xB00000))
	assert.Equal(t, uint64(0xC00000), segEndBefore(0xB00001))
}
