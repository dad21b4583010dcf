// Package local is the local development runner behind `make local`: the
// real send and drain handlers in one process, with nothing but Go
// installed and no AWS account.
//
// A Gateway turns HTTP requests on 127.0.0.1:3000 (PORT overrides) into
// API Gateway payload 2.0 events, as `sam local start-api` does, and
// invokes the send function's handler (package apigw) with them; an
// esm.Poller feeds the drain function's handler (package drain) from the
// queue, as Lambda's event source mapping does. Both share one limiter,
// ledger and queue.
//
// By default the parts are embedded: the in-memory limiter, idempotency
// store and bounded queue of package memory (a full queue answers 503),
// an in-memory dead-letter list, and the Console provider, which prints
// each message and keeps the latest for GET /_local/messages. A real
// provider is used only when SMS_PROVIDER is set explicitly. When
// AWS_ENDPOINT_URL (an emulator such as moto or LocalStack) or the table,
// queue or secret settings are set, the server runs on DynamoDB, SQS and
// Secrets Manager instead.
//
// Tokens signed with DevSecret (`make token`, DevToken) are accepted by
// this server only. See docs/local.md.
package local
