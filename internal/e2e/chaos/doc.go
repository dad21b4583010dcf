// Package chaos holds what the service's stress tests are built from, and
// the tests themselves:
//
//   - the chaos test (chaos_test.go, `make chaos`) drives N messages through
//     the send function and the drain, in process, against moto and the
//     Twilio and Vonage fakes while faults are injected at random —
//     provider 5xx and 429 answers, connections dropped before and after
//     the provider accepted a message, DynamoDB 500s answered before or
//     after the write reached the table, SQS send errors, new provider
//     connections that open far too late — and counts every accepted
//     message as delivered once, lost or duplicated (Summarize), and the
//     most provider requests in any 1-second window (conformance.MaxInWindow);
//   - the receipts run (receipts_chaos_test.go, TestChaosReceipts) has the
//     provider fakes post each message's receipts, duplicated, reordered
//     and some refused on their first post, to the receipts function over
//     HTTP while the publisher turns the table's change stream into status
//     events under PutEvents failures, and checks every record's final
//     status against what the provider reported (ReceiptOutcome), that no
//     record moved backwards (Moves, SummarizeReceipts) and that every
//     recorded change reached the bus (TallyEvents);
//   - TestSlowConnectionsKeepTheLimit (readiness_test.go) holds the rate
//     limit with a third of new provider connections 1.5 s late;
//   - the abuse battery (abuse_test.go) sends malformed, oversized and
//     hostile requests over real HTTP through the API Gateway stand-in of
//     `make local` (local.Gateway) and checks each answer is a documented
//     4xx with a JSON error;
//   - both finish with a log audit (Audit): no log line may hold a token,
//     a secret, a message body or an unmasked phone number.
//
// docs/chaos.md describes the faults, the counting rules and the
// behaviour chosen for the one ambiguous fault.
package chaos
