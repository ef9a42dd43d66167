//go:build invariants

package coord

// invariantChecks makes the state machine verify its whole state after
// every applied batch and snapshot load (go test -tags invariants).
const invariantChecks = true
