//go:build !race

package main

const raceAllocSlack = 0
