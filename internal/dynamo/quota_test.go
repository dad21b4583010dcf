package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/conformance"
	"github.com/fluxkit/sms/internal/testing/mototest"
)

func TestQuotaConformance(t *testing.T) {
	var (
		mu     sync.Mutex
		tables = map[string]string{}
	)
	conformance.Quota(t, func(t *testing.T, spec conformance.QuotaSpec) conformance.QuotaStore {
		mu.Lock()
		defer mu.Unlock()
		table, ok := tables[spec.State]
		if !ok {
			table = newTable(t)
			tables[spec.State] = table
		}
		return NewQuotaStore(newCountingAPI(), table, QuotaConfig{Limits: spec.Limits, Clock: spec.Clock})
	})
}

// quotaEpoch is 12:03 UTC: the 10-minute window holding it starts at
// 12:00.
var quotaEpoch = time.Date(2026, 3, 1, 12, 3, 0, 0, time.UTC)

// tenMinutes is a limit of n messages per 10 minutes.
func tenMinutes(n int) sms.Limit { return sms.Limit{Count: n, Window: 10 * time.Minute} }

func mustCount(t *testing.T, q *QuotaStore, u sms.Usage, want sms.QuotaOutcome) sms.QuotaVerdict {
	t.Helper()
	v, err := q.Count(context.Background(), u)
	if err != nil {
		t.Fatalf("Count(%+v) error = %v", u.MessageID, err)
	}
	if v.Outcome != want {
		t.Fatalf("Count(%s) = %v, want %v", u.MessageID, v.Outcome, want)
	}
	return v
}

// TestQuotaItems checks the items the store writes and what each count
// costs: one UpdateItem per message to a number in steady state, a second
// only when the instance guessed the number's window wrong.
func TestQuotaItems(t *testing.T) {
	table := newTable(t)
	clock := conformance.NewClock(quotaEpoch)
	api := newCountingAPI()
	q := NewQuotaStore(api, table, QuotaConfig{Limits: sms.QuotaLimits{Recipient: tenMinutes(3), Caller: sms.Limit{Count: 100, Window: 24 * time.Hour}}, Clock: clock})
	const to = "+14155550123"
	mustCount(t, q, sms.Usage{MessageID: "m1", To: to, Caller: "client-1"}, sms.QuotaAccepted)
	if got := api.n.Load(); got != 2 {
		t.Errorf("requests for a number's first message with the caller limit = %d, want 2 (number, caller)", got)
	}
	api.n.Store(0)
	mustCount(t, q, sms.Usage{MessageID: "m2", To: to}, sms.QuotaAccepted)
	if got := api.n.Load(); got != 1 {
		t.Errorf("requests for a second message in the window = %d, want 1 (the window is known)", got)
	}
	// Another instance does not know the window: its guess costs one more.
	other := NewQuotaStore(api, table, QuotaConfig{Limits: sms.QuotaLimits{Recipient: tenMinutes(3)}, Clock: clock})
	api.n.Store(0)
	mustCount(t, other, sms.Usage{MessageID: "m3", To: to}, sms.QuotaAccepted)
	if got := api.n.Load(); got != 2 {
		t.Errorf("requests of an instance that guessed a new window = %d, want 2", got)
	}
	item := getItem(t, table, "quota#to#"+to, "quota")
	w, err := intAttr(item, "w")
	if err != nil || w != time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Unix() {
		t.Errorf("w = %d, %v; want the window's start 12:00 UTC", w, err)
	}
	ids, ok := item["ids"].(*types.AttributeValueMemberSS)
	if !ok || len(ids.Value) != 3 {
		t.Fatalf("ids = %#v, want a string set of 3 tokens", item["ids"])
	}
	for _, tok := range ids.Value {
		if len(tok) != 16 {
			t.Errorf("token %q is not a 16-character hash", tok)
		}
	}
	if !slices.Contains(ids.Value, idToken("m1")) {
		t.Errorf("ids %v lack m1's token %s", ids.Value, idToken("m1"))
	}
	if ttl, _ := intAttr(item, "ttl"); ttl != time.Date(2026, 3, 1, 13, 20, 0, 0, time.UTC).Unix() {
		t.Errorf("ttl = %v, want the end of the next window plus an hour", time.Unix(ttl, 0).UTC())
	}
	caller := getItem(t, table, "quota#caller#"+callerHashHex("client-1"), "w#"+strconv.FormatInt(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Unix(), 10))
	if n, err := intAttr(caller, "n"); err != nil || n != 1 {
		t.Errorf("caller window n = %d, %v; want 1 (item %v)", n, err, caller)
	}
	if size := itemBytes(item); size > 1024 {
		t.Errorf("a number's item at the default limit is %d bytes, want one write unit (<= 1 KB)", size)
	}
	// Suppressed: sup set, ttl gone (the entry stays until removed).
	if err := q.Suppress(context.Background(), to); err != nil {
		t.Fatal(err)
	}
	item = getItem(t, table, "quota#to#"+to, "quota")
	if _, ok := item["sup"]; !ok {
		t.Errorf("suppressed item has no sup: %v", item)
	}
	if _, ok := item["ttl"]; ok {
		t.Errorf("suppressed item keeps a ttl: %v", item)
	}
}

// TestQuotaItemSizeAtLimits shows the write units a number's item costs:
// one up to 25 messages per window.
func TestQuotaItemSizeAtLimits(t *testing.T) {
	for _, limit := range []int{5, 25} {
		table := newTable(t)
		clock := conformance.NewClock(quotaEpoch)
		q := NewQuotaStore(moto.DynamoDB(), table, QuotaConfig{Limits: sms.QuotaLimits{Recipient: tenMinutes(limit)}, Clock: clock})
		const to = "+442071838750"
		for range 2 { // a full window, then a full window after it
			for i := range limit {
				mustCount(t, q, sms.Usage{MessageID: fmt.Sprintf("%s-%d-%s", to, i, clock.Now()), To: to}, sms.QuotaAccepted)
			}
			clock.Advance(10 * time.Minute)
		}
		size := itemBytes(getItem(t, table, "quota#to#"+to, "quota"))
		t.Logf("limit %d per window: item of %d bytes", limit, size)
		if size > 1024 {
			t.Errorf("limit %d: item of %d bytes, want at most 1 KB (one write unit)", limit, size)
		}
	}
}

// TestQuotaCountWithLostAnswer loses the answer to a count whose write
// reached the table; the SDK's retry then finds the message's token
// already in the set, and the message is counted once.
func TestQuotaCountWithLostAnswer(t *testing.T) {
	table := newTable(t)
	proxy := mototest.NewProxy(t, moto.URL)
	var lost atomic.Bool
	proxy.SetFaults(func(op string) mototest.Fault {
		if op == "DynamoDB_20120810.UpdateItem" && lost.CompareAndSwap(false, true) {
			return mototest.FailAfter
		}
		return mototest.Pass
	})
	cfg := moto.Config()
	cfg.BaseEndpoint = aws.String(proxy.URL)
	cfg.RetryMaxAttempts = 3 // the SDK's default retryer, as deployed
	clock := conformance.NewClock(quotaEpoch)
	q := NewQuotaStore(dynamodb.NewFromConfig(cfg), table, QuotaConfig{Limits: sms.QuotaLimits{Recipient: tenMinutes(2)}, Clock: clock})
	const to = "+14155550124"
	mustCount(t, q, sms.Usage{MessageID: "lost-answer", To: to}, sms.QuotaAccepted)
	if got := proxy.Counts()["DynamoDB_20120810.UpdateItem"]; got != 2 {
		t.Errorf("UpdateItem requests = %d, want 2 (the lost answer and the SDK's retry)", got)
	}
	mustCount(t, q, sms.Usage{MessageID: "second", To: to}, sms.QuotaAccepted)
	mustCount(t, q, sms.Usage{MessageID: "third", To: to}, sms.QuotaExceeded)
}

// TestQuotaCallerCountIsNeverRepeated loses the answer to a caller count:
// the store does not repeat it (a repeat could count the message twice)
// and reports the failure; the caller lost a place, never gained one.
func TestQuotaCallerCountIsNeverRepeated(t *testing.T) {
	table := newTable(t)
	proxy := mototest.NewProxy(t, moto.URL)
	var calls atomic.Int64
	proxy.SetFaults(func(op string) mototest.Fault {
		if op == "DynamoDB_20120810.UpdateItem" && calls.Add(1) == 1 {
			return mototest.FailAfter
		}
		return mototest.Pass
	})
	cfg := moto.Config()
	cfg.BaseEndpoint = aws.String(proxy.URL)
	cfg.RetryMaxAttempts = 3 // the SDK's default retryer, as deployed
	clock := conformance.NewClock(quotaEpoch)
	q := NewQuotaStore(dynamodb.NewFromConfig(cfg), table, QuotaConfig{Limits: sms.QuotaLimits{Caller: sms.Limit{Count: 2, Window: time.Hour}}, Clock: clock})
	_, err := q.Count(context.Background(), sms.Usage{MessageID: "c1", To: "+14155550125", Caller: "client-9"})
	if sms.KindOf(err) != sms.KindUnavailable {
		t.Fatalf("count with a lost answer: err = %v, want unavailable", err)
	}
	if got := proxy.Counts()["DynamoDB_20120810.UpdateItem"]; got != 1 {
		t.Errorf("UpdateItem requests = %d, want 1 (never repeated)", got)
	}
	mustCount(t, q, sms.Usage{MessageID: "c2", To: "+14155550125", Caller: "client-9"}, sms.QuotaAccepted)
	mustCount(t, q, sms.Usage{MessageID: "c3", To: "+14155550125", Caller: "client-9"}, sms.QuotaExceeded)
}

// TestQuotaCallerThrottledIsTriedAgain: a throttled caller count was not
// processed, so it is tried again.
func TestQuotaCallerThrottledIsTriedAgain(t *testing.T) {
	table := newTable(t)
	proxy := mototest.NewProxy(t, moto.URL)
	var calls atomic.Int64
	proxy.SetFaults(func(op string) mototest.Fault {
		if op == "DynamoDB_20120810.UpdateItem" && calls.Add(1) == 1 {
			return mototest.Throttle
		}
		return mototest.Pass
	})
	cfg := moto.Config()
	cfg.BaseEndpoint = aws.String(proxy.URL)
	cfg.RetryMaxAttempts = 3
	q := NewQuotaStore(dynamodb.NewFromConfig(cfg), table, QuotaConfig{Limits: sms.QuotaLimits{Caller: sms.Limit{Count: 1, Window: time.Hour}}, Clock: conformance.NewClock(quotaEpoch)})
	mustCount(t, q, sms.Usage{MessageID: "t1", To: "+14155550126", Caller: "client-8"}, sms.QuotaAccepted)
	if got := proxy.Counts()["DynamoDB_20120810.UpdateItem"]; got != 2 {
		t.Errorf("UpdateItem requests = %d, want 2 (throttled, then counted)", got)
	}
	mustCount(t, q, sms.Usage{MessageID: "t2", To: "+14155550126", Caller: "client-8"}, sms.QuotaExceeded)
}

func callerHashHex(caller string) string {
	h := sha256.Sum256([]byte(caller))
	return hex.EncodeToString(h[:16])
}

// itemBytes is an item's size as DynamoDB bills it: each attribute's name
// plus its value (strings and set elements by their UTF-8 bytes, numbers
// by about one byte per two digits plus one, 3 bytes per set or map).
func itemBytes(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueBytes(v)
	}
	return n
}

func valueBytes(v types.AttributeValue) int {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return len(x.Value)
	case *types.AttributeValueMemberN:
		return (len(strings.TrimLeft(x.Value, "-0"))+1)/2 + 1
	case *types.AttributeValueMemberB:
		return len(x.Value)
	case *types.AttributeValueMemberSS:
		n := 3
		for _, s := range x.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberM:
		return 3 + itemBytes(x.Value) + len(x.Value)
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range x.Value {
			n += 1 + valueBytes(e)
		}
		return n
	}
	return 1
}
