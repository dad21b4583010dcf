package metrics

import (
	"context"
	"strconv"
)

// The service's metrics. docs/observability.md lists where each is
// recorded, its dimensions, and the alarms and dashboard widgets that read
// it; template.yaml refers to them by name, so a name never changes.
var (
	// Requests counts the API's answers by HTTP status (Outcome "200",
	// "202", "429" …).
	Requests = Metric{"Requests", UnitCount}
	// ServerErrors counts the API's 5xx answers (the send path's 5xx alarm).
	ServerErrors = Metric{"ServerErrors", UnitCount}

	// Sent counts messages a provider accepted (Provider).
	Sent = Metric{"Sent", UnitCount}
	// Segments counts the segments of the messages a provider accepted
	// (Provider): what the provider bills.
	Segments = Metric{"Segments", UnitCount}
	// Queued counts messages the send path put on the queue.
	Queued = Metric{"Queued", UnitCount}
	// Scheduled counts messages the send path scheduled for a later time
	// (Outcome: queue, held by the queue's delay; scheduler, by EventBridge
	// Scheduler).
	Scheduled = Metric{"Scheduled", UnitCount}
	// Canceled counts scheduled messages canceled before they were due.
	Canceled = Metric{"Canceled", UnitCount}
	// Rejected counts messages a provider refused for good (Provider;
	// Outcome: the provider's code, one of the few known to be about the
	// message alone, docs/provider-codes.md).
	Rejected = Metric{"Rejected", UnitCount}
	// Ambiguous counts provider calls whose outcome is unknown: the
	// message may have been sent (Provider).
	Ambiguous = Metric{"Ambiguous", UnitCount}
	// ProviderErrors counts the other failed provider calls (Provider;
	// Outcome: the kind, transient, provider-account or partial).
	ProviderErrors = Metric{"ProviderErrors", UnitCount}
	// ProviderLatency is the duration of each provider call, whatever its
	// outcome (Provider).
	ProviderLatency = Metric{"ProviderLatency", UnitMilliseconds}
	// LimiterWait is the time from asking the limiter for a slot to the
	// start of the slot it granted: the pacing the rate limit imposes (about
	// zero when a slot is free at once).
	LimiterWait = Metric{"LimiterWait", UnitMilliseconds}

	// Records counts the drain's queue records by what was done with each
	// (Outcome: delivered, duplicate, dropped, retry, held, deferred,
	// poison, canceled, not_due).
	Records = Metric{"Records", UnitCount}
	// QueueAge is, for each message the drain sent, the time since it
	// first entered the queue.
	QueueAge = Metric{"QueueAge", UnitMilliseconds}
	// DeadLettered counts the records the drain put on the dead-letter
	// queue (Outcome: the reason). SQS's own moves after the last receive
	// are in the DLQ's depth, not here.
	DeadLettered = Metric{"DeadLettered", UnitCount}

	// Refusals counts messages refused before anything was sent or queued
	// by the destination and sender rules and the quotas (Outcome: the
	// code, destination_not_allowed, sender_not_allowed, quota_exceeded,
	// recipient_opted_out …), on both paths.
	Refusals = Metric{"Refusals", UnitCount}
	// DailyBudgetUsedPercent is the share of SMS_DAILY_SEGMENT_LIMIT the
	// day's granted segments have used; the daily budget alarm fires at
	// 80 %.
	DailyBudgetUsedPercent = Metric{"DailyBudgetUsedPercent", UnitPercent}

	// Receipts counts the delivery receipts taken (Provider; Outcome: the
	// status the receipt maps to, delivered, undelivered …).
	Receipts = Metric{"Receipts", UnitCount}
	// Expired counts messages not sent because their validity ended.
	Expired = Metric{"Expired", UnitCount}
)

// Answer counts one answer of the API with HTTP status status: Requests
// by status, and ServerErrors when it is a 5xx.
func Answer(ctx context.Context, status int) {
	Inc(ctx, Requests, Outcome(strconv.Itoa(status)))
	if status >= 500 {
		Inc(ctx, ServerErrors)
	}
}

// All lists every metric of the catalogue.
var All = []Metric{
	Requests, ServerErrors, Sent, Segments, Queued, Scheduled, Canceled, Rejected, Ambiguous, ProviderErrors,
	ProviderLatency, LimiterWait, Records, QueueAge, DeadLettered, Refusals,
	DailyBudgetUsedPercent, Receipts, Expired,
}
