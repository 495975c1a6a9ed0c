//go:build !linux

package main

import "os"

// isTerminal tells whether fd is a character device (a terminal, most likely).
func isTerminal(fd uintptr) bool {
	fi, err := os.NewFile(fd, "").Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func terminalWidth(uintptr) int { return 0 }
