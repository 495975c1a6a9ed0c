// Package bcdrbin builds the bcdr command for the tools that run it as a
// child process (cmd/leaks, cmd/campaign, cmd/bench).
package bcdrbin

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
)

// FlagHelp is the help of a tool's -bcdr flag.
const FlagHelp = "the bcdr binary (default: build ./cmd/bcdr into the output folder)"

// Build returns the absolute path of bin when it is set; otherwise it
// builds ./cmd/bcdr (from the module's root, the working directory of go
// run ./cmd/...) into dir/bcdr, the go command's output to log.
func Build(ctx context.Context, bin, dir string, log io.Writer) (string, error) {
	if bin == "" {
		bin = filepath.Join(dir, "bcdr")
		b := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/bcdr")
		b.Stdout, b.Stderr = log, log
		if err := b.Run(); err != nil {
			return "", fmt.Errorf("build bcdr: %w", err)
		}
	}
	return filepath.Abs(bin)
}
