package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/fluxkit/sms/internal/sms"
)

// QuotaAPI is the part of the DynamoDB client the quota store uses.
type QuotaAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Names of the quota items' attributes (docs/architecture.md#the-table).
const (
	quotaSK        = "quota"
	attrWindow     = "w"    // the recipient item's window start (unix s)
	attrIDs        = "ids"  // string set: tokens of the ids counted in window w
	attrPrevIDs    = "pids" // string set: those of the window before
	attrSuppressed = "sup"  // unix ms the number was suppressed; absent: not suppressed
	attrCount      = "n"    // a caller window's count
	// noIDs stands for an empty set: DynamoDB has none. No id token is
	// "-" (tokens are base64url of 16 characters).
	noIDs = "-"
)

// maxQuotaAttempts caps the requests of one count of a recipient: a wrong
// guess of the item's window costs one more, another instance's writes in
// between one more each.
const maxQuotaAttempts = 4

// callerTries caps the tries of a caller count whose requests were turned
// away unprocessed (throttled); see countCaller.
const callerTries = 3

// QuotaConfig holds the options of a QuotaStore.
type QuotaConfig struct {
	// Limits are the recipient and caller limits; a zero Limit is off.
	Limits sms.QuotaLimits
	// Clock is the time source of the windows; nil means sms.SystemClock.
	Clock sms.Clock
}

// QuotaStore is the DynamoDB sms.QuotaStore and suppression list.
//
// A number has one item, pk "quota#to#<E.164>", sk "quota": the start of
// its current window (w), the tokens (a 96-bit hash) of the message ids
// counted in it (ids) and in the window before it (pids), and, when the
// number is suppressed, when that happened (sup, which no count removes).
// Counting a message is one conditional UpdateItem that adds its token to
// ids if the number is not suppressed, the window has a place, and the
// token is in neither set — so counting is idempotent per message id
// (a retried request, a redelivered queue message, or the drain seeing a
// message the send path counted) and the suppression list costs nothing
// more. A caller's window is an item of its own, pk
// "quota#caller#<hash of the subject>", sk "w#<window start>", holding the
// count n; see countCaller.
//
// It is safe for concurrent use.
type QuotaStore struct {
	api    QuotaAPI
	table  string
	limits sms.QuotaLimits
	clock  sms.Clock
	// windows remembers the window of recent numbers' items, to pick the
	// right request form at once.
	windows windowCache
}

// NewQuotaStore returns a quota store keeping its items in table through
// api.
func NewQuotaStore(api QuotaAPI, table string, cfg QuotaConfig) *QuotaStore {
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	return &QuotaStore{api: api, table: table, limits: cfg.Limits, clock: cfg.Clock}
}

// Count implements sms.QuotaStore. With the recipient limit on it costs one
// UpdateItem (two when this instance guessed the number's window wrong),
// which checks the suppression list too; with it off, the list is not
// consulted and nothing is read. The caller limit costs one UpdateItem
// more.
func (q *QuotaStore) Count(ctx context.Context, u sms.Usage) (sms.QuotaVerdict, error) {
	if err := sms.CheckUsage(u); err != nil {
		return sms.QuotaVerdict{}, err
	}
	now := q.clock.Now()
	accepted := sms.QuotaVerdict{Outcome: sms.QuotaAccepted, At: now}
	counted := false
	if q.limits.Recipient.On() {
		v, fresh, err := q.countRecipient(ctx, u, now)
		if err != nil || v.Outcome != sms.QuotaAccepted {
			return v, err
		}
		counted = fresh
	}
	if q.limits.Caller.On() && u.Caller != "" {
		v, err := q.countCaller(ctx, u.Caller, now)
		if err != nil || v.Outcome != sms.QuotaAccepted {
			if counted {
				// Nothing is accepted: the recipient place goes back.
				bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
				_ = q.uncountRecipient(bg, u)
				cancel()
			}
			return v, err
		}
	}
	return accepted, nil
}

// GiveBack implements sms.QuotaStore: u's token leaves its number's ids
// (a window that has ended no longer holds it there, and limits nothing),
// and with a caller, its window of at counts one message fewer.
func (q *QuotaStore) GiveBack(ctx context.Context, u sms.Usage, at time.Time) error {
	if err := sms.CheckUsage(u); err != nil {
		return err
	}
	if q.limits.Recipient.On() {
		if err := q.uncountRecipient(ctx, u); err != nil {
			return err
		}
	}
	if q.limits.Caller.On() && u.Caller != "" {
		return q.uncountCaller(ctx, u.Caller, at)
	}
	return nil
}

// recipientForm is which of the two conditional updates counts a message
// to a number.
type recipientForm int

const (
	// sameWindow: the item counts the current window; add the token.
	sameWindow recipientForm = iota
	// newWindow: the item counts an earlier window, or none; start the
	// current one with the token, keeping the old ids as pids.
	newWindow
)

// countRecipient counts u against its number's limit. fresh reports
// whether this call took the place (rather than finding the id counted
// before).
func (q *QuotaStore) countRecipient(ctx context.Context, u sms.Usage, now time.Time) (v sms.QuotaVerdict, fresh bool, err error) {
	lim := q.limits.Recipient
	start, end := lim.WindowOf(now)
	w := start.Unix()
	tok := idToken(u.MessageID)
	form := newWindow
	if q.windows.get(u.To) == w {
		form = sameWindow
	}
	for range maxQuotaAttempts {
		old, err := q.tryRecipient(ctx, u.To, tok, form, w, lim)
		if err == nil {
			q.windows.put(u.To, w)
			return sms.QuotaVerdict{Outcome: sms.QuotaAccepted, At: now}, true, nil
		}
		if !errors.Is(err, errConflict) {
			return sms.QuotaVerdict{}, false, err
		}
		switch {
		case old.suppressed:
			return sms.QuotaVerdict{Outcome: sms.QuotaOptedOut, At: now}, false, nil
		case old.ids[tok] || old.prev[tok]:
			// Counted before: by an earlier try whose answer was lost, or
			// by the other path.
			q.windows.put(u.To, old.window)
			return sms.QuotaVerdict{Outcome: sms.QuotaAccepted, At: now}, false, nil
		case old.window > w:
			// Another instance's clock is ahead: count in its window.
			w, end = old.window, time.Unix(old.window, 0).Add(lim.Window)
			form = sameWindow
			fallthrough
		case old.window == w:
			q.windows.put(u.To, w)
			if old.count >= lim.Count {
				return sms.QuotaVerdict{Outcome: sms.QuotaExceeded, Limit: sms.LimitRecipient, RetryAt: end, At: now}, false, nil
			}
			form = sameWindow
		default:
			form = newWindow
		}
	}
	return sms.QuotaVerdict{}, false, sms.E(sms.KindUnavailable, "quota store unavailable", sms.RetryAfter(retryAfter),
		sms.Cause(errors.New("dynamo: count recipient: the item changed under every request")))
}

// recipientItem is what tryRecipient's failed condition found.
type recipientItem struct {
	window     int64
	count      int // tokens in ids
	ids, prev  map[string]bool
	suppressed bool
}

// tryRecipient makes one conditional UpdateItem of form f counting tok in
// window w. When the condition fails it returns errConflict and the stored
// item.
//
//	sameWindow: ADD ids :tok
//	            IF no sup AND w = :w AND (no ids OR size(ids) < :lim) AND tok in neither set
//	newWindow:  SET pids = if_not_exists(ids, {"-"}), w = :w, ids = :tok
//	            IF no sup AND (no w OR w < :w) AND tok in neither set
//
// Both set ttl to the end of the window after w (cleanup only: the ids of
// the window before the current one are still consulted).
func (q *QuotaStore) tryRecipient(ctx context.Context, num, tok string, f recipientForm, w int64, lim sms.Limit) (recipientItem, error) {
	in := &dynamodb.UpdateItemInput{
		TableName: aws.String(q.table),
		Key:       recipientKey(num),
		ExpressionAttributeNames: map[string]string{
			"#w": attrWindow, "#ids": attrIDs, "#pids": attrPrevIDs, "#sup": attrSuppressed, "#ttl": attrTTL,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":w": number(w), ":tok": &types.AttributeValueMemberSS{Value: []string{tok}}, ":t": str(tok),
			":ttl": number(w + 2*int64(lim.Window/time.Second) + int64(ttlSlack/time.Second)),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	const fresh = " AND NOT contains(#ids, :t) AND NOT contains(#pids, :t)"
	switch f {
	case sameWindow:
		in.UpdateExpression = aws.String("ADD #ids :tok SET #ttl = :ttl")
		in.ConditionExpression = aws.String("attribute_not_exists(#sup) AND #w = :w AND (attribute_not_exists(#ids) OR size(#ids) < :lim)" + fresh)
		in.ExpressionAttributeValues[":lim"] = number(int64(lim.Count))
	case newWindow:
		// pids is set first: an expression reads the item as it was, and so
		// do emulators that apply the actions in order.
		in.UpdateExpression = aws.String("SET #pids = if_not_exists(#ids, :none), #w = :w, #ids = :tok, #ttl = :ttl")
		in.ConditionExpression = aws.String("attribute_not_exists(#sup) AND (attribute_not_exists(#w) OR #w < :w)" + fresh)
		in.ExpressionAttributeValues[":none"] = &types.AttributeValueMemberSS{Value: []string{noIDs}}
	}
	_, err := q.api.UpdateItem(ctx, in)
	if err == nil {
		return recipientItem{}, nil
	}
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return recipientItem{}, classify("count recipient", err)
	}
	it, perr := parseRecipient(ccf.Item)
	if perr != nil {
		return recipientItem{}, internalf("dynamo: count recipient: %w", perr)
	}
	return it, errConflict
}

// uncountRecipient takes u's token out of its number's ids, if it is
// there: DELETE ids :tok IF contains(ids, :t).
func (q *QuotaStore) uncountRecipient(ctx context.Context, u sms.Usage) error {
	tok := idToken(u.MessageID)
	_, err := q.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(q.table),
		Key:                       recipientKey(u.To),
		UpdateExpression:          aws.String("DELETE #ids :tok"),
		ConditionExpression:       aws.String("contains(#ids, :t)"),
		ExpressionAttributeNames:  map[string]string{"#ids": attrIDs},
		ExpressionAttributeValues: map[string]types.AttributeValue{":tok": &types.AttributeValueMemberSS{Value: []string{tok}}, ":t": str(tok)},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return classify("give back recipient", err)
	}
	return nil
}

// countCaller counts one message of caller in the window of now:
//
//	ADD n :1 IF no n OR n < :lim
//
// on the window's own item, so no window needs guessing. The request is
// never retried once it may have reached the table: a retry of a write
// whose answer was lost could count the message twice, and the send path
// counts each message once, so this request is its only count. (A lost
// answer thus costs the caller a place until the window ends, never gives
// one.) Requests DynamoDB turned away unprocessed (throttling) are tried
// again, up to callerTries.
func (q *QuotaStore) countCaller(ctx context.Context, caller string, now time.Time) (sms.QuotaVerdict, error) {
	lim := q.limits.Caller
	start, end := lim.WindowOf(now)
	in := &dynamodb.UpdateItemInput{
		TableName:                aws.String(q.table),
		Key:                      callerKey(caller, start),
		UpdateExpression:         aws.String("ADD #n :one SET #ttl = :ttl"),
		ConditionExpression:      aws.String("attribute_not_exists(#n) OR #n < :lim"),
		ExpressionAttributeNames: map[string]string{"#n": attrCount, "#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": number(1), ":lim": number(int64(lim.Count)), ":ttl": number(end.Add(ttlSlack).Unix()),
		},
	}
	err := q.once(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return sms.QuotaVerdict{Outcome: sms.QuotaAccepted, At: now}, nil
	case errors.As(err, &ccf):
		return sms.QuotaVerdict{Outcome: sms.QuotaExceeded, Limit: sms.LimitCaller, RetryAt: end, At: now}, nil
	}
	return sms.QuotaVerdict{}, classify("count caller", err)
}

// uncountCaller gives back one place of caller's window of at, once (the
// same rule as countCaller): ADD n :-1 IF n > 0.
func (q *QuotaStore) uncountCaller(ctx context.Context, caller string, at time.Time) error {
	start, _ := q.limits.Caller.WindowOf(at)
	err := q.once(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(q.table),
		Key:                       callerKey(caller, start),
		UpdateExpression:          aws.String("ADD #n :minus"),
		ConditionExpression:       aws.String("#n > :zero"),
		ExpressionAttributeNames:  map[string]string{"#n": attrCount},
		ExpressionAttributeValues: map[string]types.AttributeValue{":minus": number(-1), ":zero": number(0)},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return classify("give back caller", err)
	}
	return nil
}

// once makes an UpdateItem that must not be repeated once it may have
// reached the table: without the SDK's retries, trying again only when
// DynamoDB turned it away unprocessed.
func (q *QuotaStore) once(ctx context.Context, in *dynamodb.UpdateItemInput) error {
	noRetry := func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }
	pause := 20 * time.Millisecond
	for try := 1; ; try++ {
		_, err := q.api.UpdateItem(ctx, in, noRetry)
		if err == nil || !turnedAway(err) || try == callerTries {
			return err
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return err
		}
		pause *= 2
	}
}

// turnedAway reports whether DynamoDB refused a request without
// processing it: throttling and request-rate errors.
func turnedAway(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded":
		return true
	}
	return false
}

// Suppress puts number on the suppression list (sms.Suppressor): one
// UpdateItem of its item, SET sup REMOVE ttl, so that the entry stays until
// Unsuppress. The receipts of providers that report opt-outs call it too.
func (q *QuotaStore) Suppress(ctx context.Context, num string) error {
	if num == "" {
		return internalf("dynamo: suppress: no number")
	}
	_, err := q.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(q.table),
		Key:                       recipientKey(num),
		UpdateExpression:          aws.String("SET #sup = :now REMOVE #ttl"),
		ExpressionAttributeNames:  map[string]string{"#sup": attrSuppressed, "#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": number(q.clock.Now().UnixMilli())},
	})
	if err != nil {
		return classify("suppress", err)
	}
	return nil
}

// Unsuppress takes number off the suppression list and reports whether it
// was on it: one conditional UpdateItem, REMOVE sup SET ttl IF sup exists.
func (q *QuotaStore) Unsuppress(ctx context.Context, num string) (bool, error) {
	if num == "" {
		return false, internalf("dynamo: unsuppress: no number")
	}
	keep := 2*q.limits.Recipient.Window + ttlSlack
	_, err := q.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(q.table),
		Key:                       recipientKey(num),
		UpdateExpression:          aws.String("REMOVE #sup SET #ttl = :ttl"),
		ConditionExpression:       aws.String("attribute_exists(#sup)"),
		ExpressionAttributeNames:  map[string]string{"#sup": attrSuppressed, "#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":ttl": number(q.clock.Now().Add(keep).Unix())},
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ccf):
		return false, nil
	}
	return false, classify("unsuppress", err)
}

// parseRecipient reads a number's item; absent attributes read as zero.
func parseRecipient(attrs map[string]types.AttributeValue) (recipientItem, error) {
	it := recipientItem{ids: map[string]bool{}, prev: map[string]bool{}}
	if _, ok := attrs[attrWindow]; ok {
		w, err := intAttr(attrs, attrWindow)
		if err != nil {
			return recipientItem{}, err
		}
		it.window = w
	}
	for name, set := range map[string]map[string]bool{attrIDs: it.ids, attrPrevIDs: it.prev} {
		v, ok := attrs[name]
		if !ok {
			continue
		}
		ss, ok := v.(*types.AttributeValueMemberSS)
		if !ok {
			return recipientItem{}, errors.New("attribute " + name + " is not a string set")
		}
		for _, t := range ss.Value {
			if t != noIDs {
				set[t] = true
			}
		}
	}
	it.count = len(it.ids)
	_, it.suppressed = attrs[attrSuppressed]
	return it, nil
}

// recipientKey is the key of number's item.
func recipientKey(num string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str("quota#to#" + num), attrSK: str(quotaSK)}
}

// callerKey is the key of caller's window starting at start. The subject
// is stored hashed: the table never holds who a caller is.
func callerKey(caller string, start time.Time) map[string]types.AttributeValue {
	h := sha256.Sum256([]byte(caller))
	return map[string]types.AttributeValue{
		attrPK: str("quota#caller#" + hex.EncodeToString(h[:16])),
		attrSK: str("w#" + strconv.FormatInt(start.Unix(), 10)),
	}
}

// idToken is the token of a message id in a number's sets: 96 bits of its
// SHA-256, in 16 base64url characters, whatever the id's length.
func idToken(id string) string {
	h := sha256.Sum256([]byte(id))
	return base64.RawURLEncoding.EncodeToString(h[:12])
}

// windowCache remembers the window of recently counted numbers' items
// (bounded: it is emptied when full).
type windowCache struct {
	mu sync.Mutex
	m  map[string]int64
}

// windowCacheSize bounds windowCache.
const windowCacheSize = 4096

func (c *windowCache) get(num string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[num]
}

func (c *windowCache) put(num string, w int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= windowCacheSize {
		c.m = make(map[string]int64, 64)
	}
	c.m[num] = w
}
