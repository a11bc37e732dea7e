//go:build race

package validation

// raceEnabled skips the allocation tests: the race detector allocates.
const raceEnabled = true
