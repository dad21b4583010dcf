// Package sms is the FluxKit SMS domain: the message, the result of a send,
// the error kinds every other package maps to, validation of what callers send,
// segment counting, the guard and the quotas, and the small interfaces the
// domain consumes (Provider, Limiter, Queue, Ledger, QuotaStore). It imports nothing from AWS or net/http; adapters
// live in their own packages (twilio, vonage, dynamo, queue, memory).
package sms
