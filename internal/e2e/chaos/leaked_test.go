package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fluxkit/sms/internal/apigw"
	"github.com/fluxkit/sms/internal/dynamo"
	"github.com/fluxkit/sms/internal/e2e/chaos"
	"github.com/fluxkit/sms/internal/sms"
)

// leakedSubject is the leaked token's subject: the logs may name it only
// by its hash.
const leakedSubject = "leaked-client-42"

// The leaked-token run's deployment: the defaults of the guard (the
// recipient limit of 5 per 10 minutes included) with the allow-list set
// to the US, a caller limit, and a daily budget below it, at a rate that
// leaves most messages to the queue.
const (
	leakedRequests     = 2000 // per phase
	leakedWorkers      = 8
	leakedCallerLimit  = 600
	leakedBudget       = 400
	leakedPerNumber    = 8 // requests to each number of the allowed country, in a row
	leakedRecipientMax = 5 // SMS_RECIPIENT_LIMIT's default count
)

// leakedAnswer is one answer of the send path.
type leakedAnswer struct {
	to         string
	text       string
	status     int
	code       string
	message    string
	retryAfter int
}

// TestLeakedToken is the leaked-token run: one token sends 2,000 requests
// to numbers of a country outside SMS_ALLOWED_COUNTRIES, then 2,000 to
// sequential numbers of the allowed one (8 in a row to each), from 8
// workers at once; then the drain works off the queue. Each limit holds
// exactly:
//   - the allow-list: every request of the first phase is 403
//     destination_not_allowed, and nothing touches the table, the queue or
//     the provider;
//   - SMS_RECIPIENT_LIMIT (5/10m): no number has more than 5 messages
//     accepted;
//   - SMS_CALLER_LIMIT (600/24h): exactly 600 messages are accepted (sent
//     or queued), every other request is 429 quota_exceeded with a
//     Retry-After to the end of its window;
//   - SMS_DAILY_SEGMENT_LIMIT (400): the limiter counts exactly 400
//     segments, the provider receives at most 400 one-segment messages
//     (fewer only by the slots given up before a call was written, which
//     stay counted), and every other accepted message waits in the DLQ
//     with reason daily_budget. None is dead-lettered for quota_exceeded:
//     the drain recognises every message the send path counted.
func TestLeakedToken(t *testing.T) {
	d := deploy(t, moto, "twilio",
		"SMS_ALLOWED_SENDERS", "", "SMS_BLOCKED_NUMBER_TYPES", "", "SMS_SMART_ENCODING", "",
		"SMS_ALLOWED_COUNTRIES", "US",
		"SMS_RECIPIENT_LIMIT", "5/10m",
		"SMS_CALLER_LIMIT", fmt.Sprintf("%d/24h", leakedCallerLimit),
		"SMS_DAILY_SEGMENT_LIMIT", strconv.Itoa(leakedBudget),
		// A wide margin: a slot whose limiter answer comes later than half
		// of it is dropped (it stays counted against the budget, which
		// errs on the safe side), and the emulator on a loaded machine is
		// slow.
		"SMS_RATE_LIMIT", "50", "SMS_RATE_MARGIN", "0.45", "SMS_MAX_WAIT", "50ms",
	)
	tok := signToken(t, jwtSecret, map[string]any{"sub": leakedSubject})
	h := d.sendHandler(t)
	const body = "Your code is 482901 " + abuseMarker

	t.Run("outside the allow-list", func(t *testing.T) {
		d.ddb.Reset()
		answers := leakedPhase(t, h, tok, body, func(i int) string { return fmt.Sprintf("+4474001%05d", i) })
		for _, a := range answers {
			if a.status != http.StatusForbidden || a.code != sms.CodeDestinationNotAllowed || !strings.Contains(a.message, "SMS_ALLOWED_COUNTRIES") {
				t.Fatalf("%s: answer %d %s %q, want 403 %s naming SMS_ALLOWED_COUNTRIES", a.to, a.status, a.code, a.message, sms.CodeDestinationNotAllowed)
			}
		}
		d.checkNothingSpent(t, "outside the allow-list", false)
		if n := d.depth(t, d.queueURL); n != 0 {
			t.Errorf("queue holds %d messages, want 0", n)
		}
	})

	// The recipient windows are 10 minutes long and aligned to UTC: the
	// phase must not straddle one's end, or a number could get 5 more.
	if left := 10*time.Minute - time.Duration(time.Now().UnixNano()%int64(10*time.Minute)); left < 3*time.Minute {
		t.Logf("waiting %v for the next 10-minute window", left.Round(time.Second))
		time.Sleep(left + time.Second)
	}
	// Other traffic holds the rate limiter for about a minute: the send
	// path queues the messages it accepts, so that the budget is spent by
	// the drain. (The limiter is the deployment's, "sms" in its table; the
	// block counts no segments.)
	busy, err := dynamo.NewLimiter(d.moto.DynamoDB(), d.env["SMS_TABLE_NAME"], dynamo.LimiterConfig{Name: "sms", Rate: 50, Margin: 0.45})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := busy.ReserveN(context.Background(), 2000, 0, 0); err != nil || !ok {
		t.Fatalf("blocking the limiter: %v, %v", ok, err)
	}
	start := time.Now()
	var accepted, queued int
	acceptedTexts := map[string]bool{}
	t.Run("sequential numbers of the allowed country", func(t *testing.T) {
		answers := leakedPhase(t, h, tok, body, func(i int) string { return fmt.Sprintf("+1415555%04d", i/leakedPerNumber) })
		if time.Since(start) > 3*time.Minute {
			t.Fatalf("the phase took %v: it may have straddled a recipient window", time.Since(start))
		}
		perNumber := map[string]int{}
		refusals := map[string]int{}
		dayEnd := sms.NextUTCDay(start)
		for _, a := range answers {
			switch {
			case a.status == http.StatusOK || a.status == http.StatusAccepted:
				accepted++
				acceptedTexts[a.text] = true
				perNumber[a.to]++
				if a.status == http.StatusAccepted {
					queued++
				}
			case a.status == http.StatusTooManyRequests && a.code == sms.CodeQuotaExceeded:
				limit := leakedLimitOf(t, a.message)
				refusals[limit]++
				// Retry-After is when the refusing window frees a place.
				var most int
				switch limit {
				case "SMS_RECIPIENT_LIMIT":
					most = 600
				case "SMS_CALLER_LIMIT", "SMS_DAILY_SEGMENT_LIMIT":
					most = int(dayEnd.Sub(start)/time.Second) + 1
				}
				if a.retryAfter < 1 || a.retryAfter > most {
					t.Errorf("%s refused by %s: Retry-After %d, want 1 to %d", a.to, limit, a.retryAfter, most)
				}
			default:
				t.Errorf("%s: answer %d %s %q, want 200, 202 or 429 quota_exceeded", a.to, a.status, a.code, a.message)
			}
		}
		most := 0
		for _, n := range perNumber {
			most = max(most, n)
		}
		t.Logf("accepted %d (%d queued) to %d numbers, at most %d to one; refusals by limit %v", accepted, queued, len(perNumber), most, refusals)
		if most > leakedRecipientMax {
			t.Errorf("a number got %d messages accepted, want at most %d (SMS_RECIPIENT_LIMIT)", most, leakedRecipientMax)
		}
		if refusals["SMS_RECIPIENT_LIMIT"] == 0 {
			t.Errorf("no request was refused by the recipient limit: the run proves nothing for it")
		}
		if accepted != leakedCallerLimit {
			t.Errorf("accepted %d messages, want exactly %d (SMS_CALLER_LIMIT)", accepted, leakedCallerLimit)
		}
		if n := refusals["SMS_DAILY_SEGMENT_LIMIT"]; n != 0 {
			t.Errorf("%d requests refused by the daily budget on the send path: the limiter's block ended too early for the run's figures", n)
		}
	})

	t.Run("the drain keeps the budget", func(t *testing.T) {
		p := d.poller(t)
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { p.Run(ctx); close(done) }()
		deadline := time.Now().Add(5 * time.Minute)
		for d.depth(t, d.queueURL) > 0 && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		stop()
		<-done
		if n := d.depth(t, d.queueURL); n != 0 {
			t.Fatalf("queue still holds %d messages after 5 minutes", n)
		}
		sent := d.twilio.Accepted()
		perNumber := map[string]int{}
		for _, m := range sent {
			perNumber[m.To]++
		}
		reasons := map[string]int{}
		outcome := map[string]string{} // accepted text: "sent", a dead-letter reason, or both
		for _, m := range sent {
			outcome[m.Body] += " sent"
		}
		for _, l := range d.deadLetters(t, d.dlqURL) {
			reasons[l.reason]++
			outcome[l.text] += " " + l.reason
		}
		counted := budgetCounted(t, d)
		t.Logf("provider accepted %d one-segment messages to %d numbers; the budget counted %d segments; dead letters by reason %v",
			len(sent), len(perNumber), counted, reasons)
		// The budget counts every granted slot; a slot given up before its
		// call was written (an answer later than the margin) stays counted,
		// so the provider may see fewer, never more.
		if counted != leakedBudget {
			t.Errorf("the budget counted %d segments, want exactly %d (SMS_DAILY_SEGMENT_LIMIT)", counted, leakedBudget)
		}
		if len(sent) > leakedBudget {
			t.Errorf("provider accepted %d segments, want at most %d (SMS_DAILY_SEGMENT_LIMIT)", len(sent), leakedBudget)
		}
		for reason, n := range reasons {
			if reason != sms.PoisonDailyBudget {
				// quota_exceeded here would mean the drain counted again
				// messages the send path had counted.
				t.Errorf("%d queued messages dead-lettered for %s, want only %s", n, reason, sms.PoisonDailyBudget)
			}
		}
		// Every accepted message was sent or waits in the DLQ for the next
		// day; one that was both (a copy dead-lettered after its twin was
		// sent, at least once) is logged.
		for text := range acceptedTexts {
			switch o := outcome[text]; {
			case o == "":
				t.Errorf("accepted message %q was neither sent nor dead-lettered", text[len(text)-4:])
			case o != " sent" && o != " "+sms.PoisonDailyBudget:
				t.Logf("accepted message %q:%s", text[len(text)-4:], o)
			}
		}
		if len(outcome) != len(acceptedTexts) {
			t.Errorf("%d texts sent or dead-lettered, want the %d accepted", len(outcome), len(acceptedTexts))
		}
		for to, n := range perNumber {
			if n > leakedRecipientMax {
				t.Errorf("%s received %d messages, want at most %d", to, n, leakedRecipientMax)
			}
		}
	})

	t.Run("log audit", func(t *testing.T) {
		d.auditLogs(t, chaos.Secret{Name: "message body", Value: abuseMarker}, chaos.Secret{Name: "token subject", Value: leakedSubject})
		events := map[string]int{}
		for line := range strings.SplitSeq(d.logs.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) != nil {
				continue
			}
			ev, _ := rec["event"].(string)
			if ev == "" {
				continue
			}
			events[ev]++
			if ev == sms.CodeQuotaExceeded || ev == sms.PoisonDailyBudget {
				if r, _ := rec["region"].(string); r != "US" {
					t.Errorf("refusal %s logged with region %q, want US", ev, r)
				}
			}
		}
		if events["daily_budget_80"] == 0 {
			t.Errorf("no daily_budget_80 event: the alarm would not fire (events %v)", events)
		}
		t.Logf("log events: %v", events)
	})
}

// budgetCounted reads the segments the deployment's limiter counted
// today (its one shard at 50 a second).
func budgetCounted(t *testing.T, d *deployment) int {
	t.Helper()
	out, err := d.moto.DynamoDB().GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(d.env["SMS_TABLE_NAME"]), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: "limiter#sms"}, "sk": &ddbtypes.AttributeValueMemberS{Value: "shard#0"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := out.Item["segs"].(*ddbtypes.AttributeValueMemberN)
	if n == nil {
		t.Fatalf("the limiter item has no segs: %v", out.Item)
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// leakedPhase sends leakedRequests requests with tok from leakedWorkers
// workers at once, the i-th to number(i), and returns the answers in
// request order.
func leakedPhase(t *testing.T, h *apigw.Handler, tok, body string, number func(i int) string) []leakedAnswer {
	t.Helper()
	answers := make([]leakedAnswer, leakedRequests)
	next := make(chan int)
	var wg sync.WaitGroup
	for range leakedWorkers {
		wg.Go(func() {
			for i := range next {
				to := number(i)
				hdr := http.Header{}
				hdr.Set("Authorization", "Bearer "+tok)
				hdr.Set("Content-Type", "application/json")
				text := fmt.Sprintf("%s %04d", body, i)
				req, _ := json.Marshal(map[string]string{"to": to, "body": text})
				resp := h.Serve(context.Background(), apigw.Request{Method: http.MethodPost, Path: sendPath, Headers: hdr, Body: req})
				var got struct {
					Error struct{ Code, Message string } `json:"error"`
				}
				_ = json.Unmarshal(resp.Body, &got)
				ra, _ := strconv.Atoi(resp.Headers["Retry-After"])
				answers[i] = leakedAnswer{to: to, text: text, status: resp.Status, code: got.Error.Code, message: got.Error.Message, retryAfter: ra}
			}
		})
	}
	for i := range leakedRequests {
		next <- i
	}
	close(next)
	wg.Wait()
	return answers
}

// leakedLimitOf names the setting a quota refusal's message names.
func leakedLimitOf(t *testing.T, msg string) string {
	t.Helper()
	for _, s := range []string{"SMS_RECIPIENT_LIMIT", "SMS_CALLER_LIMIT", "SMS_DAILY_SEGMENT_LIMIT"} {
		if strings.Contains(msg, s) {
			return s
		}
	}
	t.Errorf("quota refusal %q names no limit", msg)
	return ""
}
