package bcdrbin

import (
	"context"
	"io"
	"path/filepath"
	"testing"
)

// A binary given is not built again, and comes back absolute.
func TestBuildKeepsAGivenBinary(t *testing.T) {
	got, err := Build(context.Background(), "some/bcdr", t.TempDir(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(got) || filepath.Base(got) != "bcdr" || filepath.Base(filepath.Dir(got)) != "some" {
		t.Errorf("Build(some/bcdr) = %q, want an absolute path ending in some/bcdr", got)
	}
}
