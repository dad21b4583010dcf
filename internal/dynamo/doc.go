// Package dynamo keeps the service's shared state in its DynamoDB table
// (docs/architecture.md#the-table: partition key pk, sort key sk, TTL
// attribute ttl): the global
// rate limiter (Limiter), the ledger of idempotency keys and queued
// message claims (Ledger) and the messages' status records
// (StatusStore). Storage TTL only cleans up; every expiry is decided from
// the stored times and the caller's clock.
//
// # Rate limiter
//
// Each shard is one item, pk "limiter#<name>", sk "shard#<i>", holding
// next, the start of the next free slot (unix nanoseconds). Slots are
//
//	interval = (1/rate) · (1 + margin)
//
// apart. Reserve(maxWait) at time now:
//
//   - next absent or next < now: grant now, set next = now + interval
//     (UpdateItem "SET #n = :next" if "attribute_not_exists(#n) OR #n < :now");
//   - now <= next <= now + maxWait: grant next, set next = next + interval
//     (UpdateItem "SET #n = #n + :i" if "#n BETWEEN :now AND :horizon",
//     returning the old value);
//   - next > now + maxWait: grant nothing and write nothing.
//
// Both forms move next forward only, so next never decreases, and idle
// time never turns into burst credit: after a pause the first slot is now
// and the second one interval later. A limiter remembers the largest next
// it has seen and predicts which form applies; a wrong guess costs one more
// request, because a failed condition returns the stored item
// (ReturnValuesOnConditionCheckFailure ALL_OLD). When the remembered next is
// already beyond now + maxWait, Reserve refuses without a request.
//
// # The 1-second bound
//
// Consecutive grants on one item are at least interval apart: the advance
// form grants the stored next and moves it by interval; the restart form
// grants now > next and stores now + interval. Suppose each provider call
// arrives between its grant time g and g + J, where J covers the time from
// the grant to the provider (sleep wake-up, network) plus any clock offset
// between instances. Take n calls arriving in a half-open window
// [t, t+1s). Among their grants, the latest g_max and the earliest g_min
// are at least (n-1)·interval apart, and the call granted g_max arrives no
// earlier than g_max while the call granted g_min arrives no later than
// g_min + J, both inside the window, so
//
//	(n-1)·interval - J < 1s,  that is  n - 1 < rate · (1s + J) / (1 + margin).
//
// With J <= margin seconds the right side is at most rate, so n < rate + 1:
// any 1-second window holds at most rate calls for an integral rate (at
// most ceil(rate) for a fractional one). The default margin 0.05 absorbs
// 50 ms of lateness at any rate, and a saturated limiter still grants
// rate/(1+margin) slots per second: 95.2 % of the rate (at least 90 % for
// any margin up to 1/9).
//
// # Shards
//
// One item sustains about 1,000 writes per second, so a limiter spreads its
// rate over Shards items (default ceil(rate/500)): shard i gets rate_i, the
// shares add up to rate (integral shares when rate is an integral number
// no smaller than the shard count), and each Reserve picks a shard at
// random in proportion to its share. The bound above holds per shard, so
// any 1-second window holds at most sum(ceil(rate_i)) calls: exactly rate
// for integral shares. Random picking costs some utilization below
// saturation (a caller may be refused by a busy shard while another is
// idle), none under sustained overload, where every shard is saturated.
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
