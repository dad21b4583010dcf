// Package deploytest checks the deployment artifacts at the module root: that
// template.yaml passes cfn-lint without errors or warnings and keeps the
// structural rules of DESIGN.md (queue visibility, drain concurrency,
// least-privilege IAM, the functions' runtime and architecture, the table's
// TTL), and that the Makefile's Lambda build uses the same flags as the
// emulator harness (internal/testing/rie) and is reproducible.
//
// The package holds only tests. It needs cfn-lint (pip install cfn-lint),
// python3 with cfn-lint's modules, and make; missing tools fail the tests
// with the install hint.
package deploytest
