// Package deploytest checks the deployment artifacts at the module root: that
// template.yaml passes cfn-lint without errors or warnings and keeps the
// structural rules of docs/architecture.md#deployment (queue visibility,
// drain concurrency, least-privilege IAM, the functions' runtime and
// architecture, the table's TTL); that the Makefile's Lambda build uses the
// same flags as the emulator harness (internal/testing/rie), is
// reproducible, and installs the emulator version the tests pin; and that
// scripts/invoke.sh runs a function as `make invoke` expects.
//
// The package holds only tests. It needs cfn-lint and python3 with
// cfn-lint's modules (scripts/requirements-test.txt; make test installs a
// missing one), and make; missing tools fail the tests with the install
// hint.
package deploytest
