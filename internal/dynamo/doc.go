// Package dynamo keeps the service's shared state in its DynamoDB table
// (docs/architecture.md#the-table: partition key pk, sort key sk, TTL
// attribute ttl): the global
// rate limiter (Limiter) with the daily segment budget, the ledger of
// idempotency keys and queued message claims (Ledger), the messages'
// status records (StatusStore), and the quotas with the suppression list
// (QuotaStore). Storage TTL only cleans up; every expiry is decided from
// the stored times and the caller's clock.
//
// # Rate limiter
//
// Each shard is one item, pk "limiter#<name>", sk "shard#<i>", holding
// next, the start of the next free slot (unix nanoseconds), and spacing and
// spacingUntil, the stricter slot interval in force. An instance's own
// slots on a shard are
//
//	interval = (1/share) · (1 + margin)
//
// apart (a margin of zero is none). Reserve(maxWait) at time now, applying
// spacing s (below):
//
//   - next absent or next < now: grant now, set next = now + s
//     (UpdateItem "SET #n = :next" if "attribute_not_exists(#n) OR #n < :now");
//   - now <= next <= now + maxWait: grant next, set next = next + s
//     (UpdateItem "SET #n = #n + :i" if "#n BETWEEN :now AND :horizon");
//   - next > now + maxWait: grant nothing and write nothing.
//
// Both forms move next forward only, so next never decreases, and idle
// time never turns into burst credit: after a pause the first slot is now
// and the second one s later. A limiter remembers the largest next it has
// seen and the stored spacing, and predicts which form and spacing apply; a
// wrong guess costs one more request, because a failed condition returns
// the stored item (ReturnValuesOnConditionCheckFailure ALL_OLD). When the
// remembered next is already beyond now + maxWait, Reserve refuses without
// a request.
//
// # Spacing across configurations
//
// Instances configured with different rates (a rollout of a new
// SMS_RATE_LIMIT) share the items. Each request applies the stricter of
// its own interval and the stored one: with its own, it stores it
// ("SET #s = :s, #u = :until", until = now + sms.SpacingHold) on condition
// that no longer one is in force ("attribute_not_exists(#s) OR #s <= :s OR
// #u < :now"); with the stored one, on condition that it is still stored
// ("#s = :s"). The stricter configuration's spacing thus binds every
// instance while it keeps taking slots, and lapses sms.SpacingHold after
// its last one.
//
// # The 1-second bound
//
// Consecutive grants on one item are at least the spacing the earlier
// grant applied apart, which is at least that instance's own interval.
// Suppose each provider call arrives between its grant time g and g + J,
// where J covers the time from the grant to the provider (sleep wake-up,
// connection, network) plus any clock offset between instances. Take n
// calls arriving in a half-open window [t, t+1s). Among their grants, the
// latest g_max and the earliest g_min are at least (n-1)·interval apart,
// and the call granted g_max arrives no earlier than g_max while the call
// granted g_min arrives no later than g_min + J, both inside the window, so
//
//	(n-1)·interval - J < 1s,  that is  n - 1 < share · (1s + J) / (1 + margin).
//
// With J <= margin seconds the right side is at most share, so n < share + 1:
// any 1-second window holds at most share calls for an integral share (at
// most ceil(share) for a fractional one). Reserve keeps half the margin for
// DynamoDB's answer (a slot that started more than margin/2 seconds before
// it arrives is dropped, staying taken), and the dispatcher bounds the
// readiness of the call's connection (sms.ReadyWindow), so J stays within
// the margin. A saturated limiter still grants rate/(1+margin) slots per
// second: 95.2 % of the rate at the default margin 0.05.
//
// # Shards
//
// One item sustains about 1,000 writes per second, so a limiter lays its
// rate out over items of at most ShardRate (500) slots per second,
// greedily: every item but the last at ShardRate, the last with the rest.
// Each Reserve picks a shard at random in proportion to its share. The
// bound holds per shard, so any 1-second window holds at most the sum of
// the shares' ceilings: rate, or ceil(rate) for a fractional rate. Item
// i's share never shrinks as the rate grows, so two configurations side by
// side never offer more than the larger rate. Random picking costs some
// utilization below saturation (a caller may be refused by a busy shard
// while another is idle), none under sustained overload, where every shard
// is saturated.
//
// # Segments and the daily budget
//
// ReserveN takes n consecutive slots in one write (next moves on by n
// intervals) for a message of n segments sent at once. With a daily
// segment budget each shard item also holds day (the UTC day number) and
// segs, and the same UpdateItem adds the grant's segments on condition
// that the shard's part of the budget has room for them (or starts the
// day's count); a shard without room is passed over, and with none left
// ReserveN fails with sms.DailyBudgetError. Granted slots count even when
// given up before anything was written, so the provider sees at most the
// budget.
//
// # Quotas and the suppression list
//
// QuotaStore counts messages against the recipient and caller limits:
// one item per number, pk "quota#to#<E.164>", sk "quota", holding its
// window, the tokens of the message ids counted in it and in the window
// before, and whether the number is suppressed; one item per caller and
// window, pk "quota#caller#<hash>", sk "w#<start>". See QuotaStore.
//
// # Ledger
//
// Each key is one item, pk "ledger#<key>", sk "ledger", with state
// ("pending" or "done"), fp (the request's fingerprint), leaseUntil and
// expiresAt (unix milliseconds), outcome (binary) and ttl (epoch seconds,
// expiresAt plus ttlSlack). Claim is one conditional PutItem; Complete one
// PutItem; Release one DeleteItem conditioned on state = pending.
//
// # Status records
//
// Each message's record is one item, pk "status#<service id>", sk
// "status"; ttl is its last change plus the retention. A write is one
// UpdateItem conditioned on the transition rules (sms.Predecessors): the
// record is absent, or its status may move to the new one. Only when the
// record is ahead of the write (a receipt outran the send path) does a
// second UpdateItem merge what the write brings, decided from the stored
// item the failed condition returns. Lookups by provider message id go
// through the keys-only index StatusIndex; docs/status.md has the details
// and the costs.
//
// # Errors
//
// DynamoDB failures come back as *sms.Error: KindUnavailable for
// throttling, server faults, timeouts and connection failures (the send
// path queues the message instead), KindInternal for anything else.
package dynamo
