//go:build !race

package netref

const raceEnabled = false
