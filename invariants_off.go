//go:build !invariants

package coord

// invariantChecks is off in normal builds; see invariants_on.go.
const invariantChecks = false
