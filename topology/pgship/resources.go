package pgship

// Pids lists the process ids of every postgres server this pair has
// started, so a caller can verify that none outlives Close.
func (p *Pair) Pids() []int { return p.pids() }
