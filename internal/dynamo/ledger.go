package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fluxkit/sms/internal/sms"
)

// LedgerAPI is the part of the DynamoDB client the ledger uses.
type LedgerAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// ttlSlack is how long after a record expires the table's TTL may delete
// it. Expiry itself is decided by expiresAt; TTL only cleans up.
const ttlSlack = time.Hour

// Names and values of the ledger item's attributes.
const (
	ledgerSK        = "ledger"
	attrState       = "state"
	attrFingerprint = "fp"
	attrClaimToken  = "claim"      // random per Claim call: recognises our own write
	attrLeaseUntil  = "leaseUntil" // unix ms
	attrExpiresAt   = "expiresAt"  // unix ms
	attrOutcome     = "outcome"    // binary (a string is accepted too)
	attrTTL         = "ttl"        // epoch seconds: expiresAt + ttlSlack
	statePending    = "pending"
	stateDone       = "done"
)

// claimCondition lets a Claim overwrite a record only when it is absent,
// expired, or a pending claim whose lease lapsed.
const claimCondition = "attribute_not_exists(#pk) OR #exp < :now OR (#st = :pending AND #lease < :now)"

// Ledger is the DynamoDB sms.Ledger. Each key is one item, pk
// "ledger#<key>", sk "ledger". A pending record expires when its lease
// lapses (expiresAt = leaseUntil), so an abandoned claim frees itself; a
// done record expires keep after Complete. Expiry is checked in the
// condition of every Claim against the caller's clock, never left to the
// table's TTL. It is safe for concurrent use.
type Ledger struct {
	api   LedgerAPI
	table string
	clock sms.Clock
}

// LedgerConfig holds the options of a Ledger.
type LedgerConfig struct {
	// Clock is the time source of leases and expiry; nil means
	// sms.SystemClock.
	Clock sms.Clock
}

// NewLedger returns a ledger keeping its records in table through api.
func NewLedger(api LedgerAPI, table string, cfg LedgerConfig) *Ledger {
	if cfg.Clock == nil {
		cfg.Clock = sms.SystemClock{}
	}
	return &Ledger{api: api, table: table, clock: cfg.Clock}
}

// Claim takes key for lease with one conditional PutItem. When the
// condition fails, DynamoDB returns the stored record, from which Claim
// tells Mismatch (another fingerprint), Done (with its outcome) and Held
// apart without a second request.
func (l *Ledger) Claim(ctx context.Context, key, fingerprint string, lease time.Duration) (sms.Claim, error) {
	if err := checkLedgerArgs("claim", key, lease); err != nil {
		return sms.Claim{}, err
	}
	// The token tells our own pending record from another caller's: when
	// the write reached the table but its answer was lost, the SDK's retry
	// (the same input) fails the condition on the record we just wrote.
	token := claimToken()
	// The record can vanish between the failed condition and the answer
	// only if it was deleted at that moment (a Release); then try again.
	for range 3 {
		now := l.clock.Now()
		until := now.Add(lease).UnixMilli()
		_, err := l.api.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(l.table),
			Item: map[string]types.AttributeValue{
				attrPK:          str("ledger#" + key),
				attrSK:          str(ledgerSK),
				attrState:       str(statePending),
				attrFingerprint: str(fingerprint),
				attrClaimToken:  str(token),
				attrLeaseUntil:  number(until),
				attrExpiresAt:   number(until),
				attrTTL:         number(ttlFor(until)),
			},
			ConditionExpression: aws.String(claimCondition),
			ExpressionAttributeNames: map[string]string{
				"#pk": attrPK, "#exp": attrExpiresAt, "#st": attrState, "#lease": attrLeaseUntil,
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":now":     number(now.UnixMilli()),
				":pending": str(statePending),
			},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if err == nil {
			return sms.Claim{State: sms.Claimed}, nil
		}
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			l.forget(ctx, key, token)
			return sms.Claim{}, classify("claim", err)
		}
		if len(ccf.Item) == 0 {
			continue
		}
		return decideClaim(ccf.Item, fingerprint, token)
	}
	return sms.Claim{}, sms.E(sms.KindUnavailable, "ledger contended", sms.RetryAfter(retryAfter),
		sms.Cause(errors.New("dynamo: claim: record changed under 3 requests")))
}

// forget removes the pending record of a claim that failed with an unknown
// outcome: the write may have reached the table after all (its answer lost
// once the SDK stopped retrying), and would then hold the key against
// every caller, this one included, until its lease lapsed. Only the record
// carrying token is removed; failures are ignored (the lease still ends it).
func (l *Ledger) forget(ctx context.Context, key, token string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_, _ = l.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(l.table),
		Key: map[string]types.AttributeValue{
			attrPK: str("ledger#" + key),
			attrSK: str(ledgerSK),
		},
		ConditionExpression:       aws.String("#claim = :token AND #st = :pending"),
		ExpressionAttributeNames:  map[string]string{"#claim": attrClaimToken, "#st": attrState},
		ExpressionAttributeValues: map[string]types.AttributeValue{":token": str(token), ":pending": str(statePending)},
	})
}

// decideClaim reads the record that made a claim's condition fail. A
// pending record carrying token is the caller's own (a retried write).
func decideClaim(item map[string]types.AttributeValue, fingerprint, token string) (sms.Claim, error) {
	fp, _ := item[attrFingerprint].(*types.AttributeValueMemberS)
	if fp == nil || fp.Value != fingerprint {
		return sms.Claim{State: sms.Mismatch}, nil
	}
	st, _ := item[attrState].(*types.AttributeValueMemberS)
	switch {
	case st != nil && st.Value == stateDone:
		var outcome []byte
		switch v := item[attrOutcome].(type) {
		case *types.AttributeValueMemberB:
			outcome = v.Value
		case *types.AttributeValueMemberS:
			outcome = []byte(v.Value)
		}
		if len(outcome) == 0 {
			outcome = nil
		}
		return sms.Claim{State: sms.Done, Outcome: outcome}, nil
	case st != nil && st.Value == statePending:
		if ct, _ := item[attrClaimToken].(*types.AttributeValueMemberS); ct != nil && ct.Value == token {
			return sms.Claim{State: sms.Claimed}, nil
		}
		return sms.Claim{State: sms.Held}, nil
	}
	return sms.Claim{}, internalf("dynamo: claim: record has unknown state %v", item[attrState])
}

// Complete marks key done with outcome, kept for keep from now, with one
// unconditional PutItem: it succeeds even when the claim's lease lapsed
// or another caller took the key over (at-least-once; the last outcome
// wins).
func (l *Ledger) Complete(ctx context.Context, key, fingerprint string, outcome []byte, keep time.Duration) error {
	if err := checkLedgerArgs("complete", key, keep); err != nil {
		return err
	}
	now := l.clock.Now()
	expires := now.Add(keep).UnixMilli()
	item := map[string]types.AttributeValue{
		attrPK:          str("ledger#" + key),
		attrSK:          str(ledgerSK),
		attrState:       str(stateDone),
		attrFingerprint: str(fingerprint),
		attrLeaseUntil:  number(now.UnixMilli()),
		attrExpiresAt:   number(expires),
		attrTTL:         number(ttlFor(expires)),
	}
	if len(outcome) > 0 {
		item[attrOutcome] = &types.AttributeValueMemberB{Value: outcome}
	}
	if _, err := l.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(l.table), Item: item}); err != nil {
		return classify("complete", err)
	}
	return nil
}

// Release deletes key if it is still pending, with one conditional
// DeleteItem; a done record (or none) is left alone.
func (l *Ledger) Release(ctx context.Context, key string) error {
	if err := checkLedgerArgs("release", key, 1); err != nil {
		return err
	}
	_, err := l.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(l.table),
		Key: map[string]types.AttributeValue{
			attrPK: str("ledger#" + key),
			attrSK: str(ledgerSK),
		},
		ConditionExpression:       aws.String("#st = :pending"),
		ExpressionAttributeNames:  map[string]string{"#st": attrState},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pending": str(statePending)},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return classify("release", err)
	}
	return nil
}

func checkLedgerArgs(op, key string, d time.Duration) error {
	if key == "" {
		return internalf("dynamo: %s: empty key", op)
	}
	if d <= 0 {
		return internalf("dynamo: %s: duration %v is not positive", op, d)
	}
	return nil
}

// ttlFor is the TTL attribute (epoch seconds) for a record expiring at
// expiresMs (unix ms).
func ttlFor(expiresMs int64) int64 {
	return expiresMs/1000 + int64(ttlSlack/time.Second)
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// claimToken returns a random token identifying one Claim call.
func claimToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
