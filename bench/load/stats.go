package main

import (
	"math"
	"slices"
)

// median returns the median of xs, NaN values left out; NaN when none is left.
// With an even count it is the mean of the two middle values.
func median(xs []float64) float64 {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// maxOf returns the largest of xs, NaN values left out; NaN when none is left.
func maxOf(xs []float64) float64 {
	m := math.NaN()
	for _, x := range xs {
		if !math.IsNaN(x) && (math.IsNaN(m) || x > m) {
			m = x
		}
	}
	return m
}

// ratio returns a/b, or NaN when either is unknown or b is not positive.
func ratio(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) || b <= 0 {
		return math.NaN()
	}
	return a / b
}

// diff returns a-b, or NaN when either is unknown.
func diff(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	return a - b
}

// rotate returns xs rotated left by k: round k of the comparison starts with
// the k-th target, so that no target always runs first (on a cold machine) or
// right after the same neighbour.
func rotate[T any](xs []T, k int) []T {
	if len(xs) == 0 {
		return nil
	}
	k %= len(xs)
	if k < 0 {
		k += len(xs)
	}
	return append(slices.Clone(xs[k:]), xs[:k]...)
}
