//go:build race

package main

// raceAllocSlack: with -race, sync.Pool drops a quarter of what it is
// given at random, so Echo's pooled contexts are sometimes allocated again.
const raceAllocSlack = 2
