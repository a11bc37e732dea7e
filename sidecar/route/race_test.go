//go:build race

package route

// raceEnabled skips the allocation tests: the race detector may allocate.
const raceEnabled = true
