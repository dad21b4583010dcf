package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/nyaruka/phonenumbers"

	"github.com/fluxkit/sms/internal/apigw"
	"github.com/fluxkit/sms/internal/e2e/chaos"
	"github.com/fluxkit/sms/internal/queue"
	"github.com/fluxkit/sms/internal/sms"
)

// pumpingSubject is the token subject of the pumping battery: the logs
// may name it only by its hash.
const pumpingSubject = "pumping-client-7"

// pumpingNumber is one of libphonenumber's own example numbers that the
// default rules refuse.
type pumpingNumber struct {
	region string // the metadata's region, "001" for a non-geographic code
	typ    string // the example's number type
	e164   string
	// rule is what the refusal's message must name.
	rule string
}

// pumpingNumbers returns libphonenumber's example numbers of every type
// SMS_BLOCKED_NUMBER_TYPES blocks by default in every region that has one
// (premium rate, shared cost, UAN, personal numbers, voicemail, pagers),
// and of every type of every non-geographic country code (satellite
// phones, international networks, global freephone and premium rate), each
// number once.
func pumpingNumbers(t *testing.T) []pumpingNumber {
	t.Helper()
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var out []pumpingNumber
	for _, md := range coll.GetMetadata() {
		descs := []struct {
			typ  string
			desc *phonenumbers.PhoneNumberDesc
		}{
			{"PREMIUM_RATE", md.GetPremiumRate()}, {"SHARED_COST", md.GetSharedCost()}, {"UAN", md.GetUan()},
			{"PERSONAL_NUMBER", md.GetPersonalNumber()}, {"VOICEMAIL", md.GetVoicemail()}, {"PAGER", md.GetPager()},
			{"MOBILE", md.GetMobile()}, {"FIXED_LINE", md.GetFixedLine()}, {"TOLL_FREE", md.GetTollFree()}, {"VOIP", md.GetVoip()},
		}
		nonGeo := md.GetId() == "001"
		for _, d := range descs {
			ex := d.desc.GetExampleNumber()
			blocked := nonGeo
			for _, b := range sms.DefaultBlockedNumberTypes {
				blocked = blocked || d.typ == b
			}
			if ex == "" || !blocked {
				continue
			}
			n := pumpingNumber{region: md.GetId(), typ: d.typ, e164: fmt.Sprintf("+%d%s", md.GetCountryCode(), ex), rule: "number type " + d.typ}
			if nonGeo {
				n.rule = "non-geographic"
			}
			if !seen[n.e164] {
				seen[n.e164] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// TestPumping is the pumping battery: a valid token sends to every
// premium-rate, shared-cost, satellite and international-network example
// number libphonenumber has, and producers put the same numbers on the
// queue in both envelopes. With the default rules, the send path answers
// each 403 destination_not_allowed naming the rule, and the drain
// dead-letters each with that reason; neither takes a slot, claims an id
// or calls the provider.
func TestPumping(t *testing.T) {
	numbers := pumpingNumbers(t)
	perRule := map[string]int{}
	ccs := map[string]bool{}
	for _, n := range numbers {
		perRule[n.rule]++
		if n.region == "001" {
			ccs[n.e164[:4]] = true
		}
	}
	for _, typ := range sms.DefaultBlockedNumberTypes {
		if perRule["number type "+typ] == 0 {
			t.Fatalf("no example number of %s: the battery would prove nothing for it", typ)
		}
	}
	for _, cc := range []string{"+870", "+881", "+882", "+883", "+979", "+800", "+808"} {
		if !ccs[cc] {
			t.Fatalf("no example number of %s: the battery would prove nothing for it", cc)
		}
	}
	t.Logf("%d numbers: %v", len(numbers), perRule)

	// The deployment's defaults: the guard on, only SMS_FROM as sender.
	d := deploy(t, moto, "twilio", "SMS_ALLOWED_SENDERS", "", "SMS_BLOCKED_NUMBER_TYPES", "", "SMS_SMART_ENCODING", "")
	body := "You won! Call now " + abuseMarker
	copies := 0 // copies of queue messages SQS delivered again (drain path)

	t.Run("send path", func(t *testing.T) {
		h := d.sendHandler(t)
		tok := signToken(t, jwtSecret, map[string]any{"sub": pumpingSubject})
		d.ddb.Reset()
		for i, n := range numbers {
			hdr := http.Header{}
			hdr.Set("Authorization", "Bearer "+tok)
			hdr.Set("Content-Type", "application/json")
			if i%2 == 1 {
				hdr.Set("Idempotency-Key", fmt.Sprintf("pump-%d", i))
			}
			req, _ := json.Marshal(map[string]string{"to": n.e164, "body": body})
			resp := h.Serve(context.Background(), apigw.Request{Method: http.MethodPost, Path: sendPath, Headers: hdr, Body: req})
			var got struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			_ = json.Unmarshal(resp.Body, &got)
			if resp.Status != http.StatusForbidden || got.Error.Code != sms.CodeDestinationNotAllowed || !strings.Contains(got.Error.Message, n.rule) {
				t.Errorf("%s %s %s: answer %d %s, want 403 %s naming %q", n.region, n.typ, n.e164, resp.Status, resp.Body, sms.CodeDestinationNotAllowed, n.rule)
			}
		}
		d.checkNothingSpent(t, "send path", false)
		if n := d.depth(t, d.queueURL); n != 0 {
			t.Errorf("queue holds %d messages, want 0", n)
		}
	})

	t.Run("drain path", func(t *testing.T) {
		// Producers write either form: the producer form, with and without
		// an id, and the envelope the send function writes.
		var entries []sqstypes.SendMessageBatchRequestEntry
		for i, n := range numbers {
			var raw []byte
			switch i % 3 {
			case 0:
				raw, _ = json.Marshal(map[string]string{"to": n.e164, "body": body})
			case 1:
				raw, _ = json.Marshal(map[string]string{"id": fmt.Sprintf("pump-%d", i), "to": n.e164, "body": body})
			default:
				var err error
				if raw, err = queue.Encode(sms.QueuedMessage{Message: sms.Message{ID: sms.NewID(), To: n.e164, Body: body}, Attempt: 1, EnqueuedAt: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(string(raw))})
		}
		for len(entries) > 0 {
			batch := entries[:min(10, len(entries))]
			entries = entries[len(batch):]
			out, err := d.moto.SQS().SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(d.queueURL), Entries: batch})
			if err != nil || len(out.Failed) > 0 {
				t.Fatalf("enqueue: %v %v", err, out)
			}
		}
		p := d.poller(t)
		d.ddb.Reset()
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { p.Run(ctx); close(done) }()
		deadline := time.Now().Add(3 * time.Minute)
		for d.depth(t, d.dlqURL) < len(numbers) && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		stop()
		<-done
		// SQS delivers at least once: a copy redelivered while the machine
		// is loaded is refused (and dead-lettered, and recorded) again, so
		// messages are counted by id, and copies are allowed for.
		letters := d.deadLetters(t, d.dlqURL)
		reasons := map[string]map[string]bool{}
		for _, l := range letters {
			if reasons[l.reason] == nil {
				reasons[l.reason] = map[string]bool{}
			}
			reasons[l.reason][l.id] = true
		}
		if got := len(reasons[sms.PoisonDestinationNotAllowed]); got != len(numbers) || len(reasons) != 1 {
			t.Errorf("dead-lettered ids by reason %v, want all %d with reason %s", counts(reasons), len(numbers), sms.PoisonDestinationNotAllowed)
		}
		copies = len(letters) - len(numbers)
		d.checkNothingSpent(t, "drain path", true)
		// The writes were the dead-lettered messages' status records.
		records := d.records(t)
		for i := 1; i < len(numbers); i += 3 {
			if status, code, _ := records.of(t, fmt.Sprintf("pump-%d", i)); status != "failed" || code != "dead_lettered" {
				t.Errorf("pump-%d: status record %q/%q, want failed/dead_lettered", i, status, code)
			}
		}
		if n := d.depth(t, d.queueURL); n != 0 {
			t.Errorf("queue still holds %d messages, want 0", n)
		}
	})

	t.Run("log audit", func(t *testing.T) {
		d.auditLogs(t, chaos.Secret{Name: "message body", Value: abuseMarker}, chaos.Secret{Name: "token subject", Value: pumpingSubject})
		refusals, withRegion := 0, 0
		for line := range strings.SplitSeq(d.logs.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) != nil || rec["event"] != sms.CodeDestinationNotAllowed {
				continue
			}
			refusals++
			if r, _ := rec["region"].(string); r != "" {
				withRegion++
			}
		}
		if want := 2*len(numbers) + copies; refusals != want || withRegion != refusals {
			t.Errorf("%d refusals logged, %d with a region; want %d (%d copies redelivered), all with a region", refusals, withRegion, want, copies)
		}
	})
}

// counts is the number of ids of each reason.
func counts(byReason map[string]map[string]bool) map[string]int {
	out := make(map[string]int, len(byReason))
	for r, ids := range byReason {
		out[r] = len(ids)
	}
	return out
}

// checkNothingSpent fails t when the provider accepted a message or the
// table was used (a slot taken, an id claimed, a quota counted) since the
// proxy's reset. withRecords allows status record writes (UpdateItem): the
// drain records every message it dead-letters (failed/dead_lettered), and
// the SDK may retry a write moto dropped, so the writes are checked by
// what the table holds afterwards: status records only.
func (d *deployment) checkNothingSpent(t *testing.T, path string, withRecords bool) {
	t.Helper()
	if n := len(d.twilio.Accepted()); n != 0 {
		t.Errorf("%s: the provider accepted %d messages, want 0", path, n)
	}
	for op, n := range d.ddb.Counts() {
		if strings.HasPrefix(op, "DynamoDB") && !(withRecords && op == "DynamoDB_20120810.UpdateItem") {
			t.Errorf("%s: %d %s requests, want none: nothing may be claimed or paced", path, n, op)
		}
	}
	var start map[string]ddbtypes.AttributeValue
	for {
		out, err := d.moto.DynamoDB().Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(d.env["SMS_TABLE_NAME"]), ExclusiveStartKey: start})
		if err != nil {
			t.Fatalf("scan the table: %v", err)
		}
		for _, item := range out.Items {
			if pk, _ := item["pk"].(*ddbtypes.AttributeValueMemberS); pk == nil || !strings.HasPrefix(pk.Value, "status#") {
				t.Errorf("%s: the table holds %v, want status records only: nothing may be claimed or paced", path, item["pk"])
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return
		}
		start = out.LastEvaluatedKey
	}
}
