package invoketest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/fluxkit/sms/internal/dynamo"
	"github.com/fluxkit/sms/internal/queue"
	"github.com/fluxkit/sms/internal/sms"
	"github.com/fluxkit/sms/internal/testing/mototest"
	"github.com/fluxkit/sms/internal/testing/providertest"
)

// The variables of the env file that name the resources Launch creates.
const (
	envTableName = "SMS_TABLE_NAME"
	envQueueURL  = "SMS_QUEUE_URL"
	envDLQURL    = "SMS_DLQ_URL"
	envSecretID  = "SMS_SECRET_ID"
	envEventBus  = "SMS_EVENT_BUS"
)

// MaxReceiveCount is the redrive limit of the queue Launch creates
// (template.yaml's default).
const MaxReceiveCount = mototest.DefaultMaxReceiveCount

// Stack is what the functions run against: moto_server behind a
// mototest.Proxy (which counts requests per operation and serialises
// DynamoDB writes as real DynamoDB would), with the table, queue,
// dead-letter queue and secret the env file names, the event bus the
// publisher puts status events on (with a rule sending them all to a
// queue that Observe reads), and the Twilio fake.
type Stack struct {
	// Moto is the AWS emulator; Proxy is in front of it and is the
	// endpoint the functions use.
	Moto  *mototest.Server
	Proxy *mototest.Proxy
	// Twilio is the provider fake; it expects the credentials
	// providertest.TwilioAccountSID and TwilioAuthToken.
	Twilio *providertest.Twilio
	// QueueURL and DLQURL are the queues the functions were given.
	QueueURL, DLQURL string
	// Table is the table the functions were given.
	Table string
	// Events taps the publisher's event bus.
	Events *mototest.EventTap

	file      EnvFile
	endpoints map[string]string
	sqs       *sqs.Client
	// firer reads the schedules of SMS_SCHEDULE_GROUP (schedule.go).
	firer *mototest.Firer
}

// Launch starts moto, the proxy and the Twilio fake, and creates the
// resources named by the functions' sections of file: the table
// (SMS_TABLE_NAME, with the status records the GET events read: see
// seedStatus), the dead-letter queue and the queue (the last path
// element of SMS_DLQ_URL and SMS_QUEUE_URL; the queue redrives to the DLQ
// after MaxReceiveCount receives) and the secret (SMS_SECRET_ID, a name,
// holding secretJSON), and the publisher's event bus (SMS_EVENT_BUS, a
// name) with a rule sending every status event to the queue
// <bus>-tap. The send, drain and receipts functions must name the same
// resources, and the queue URLs moto assigns must be the env file's once the
// placeholders are substituted. The caller must Close the stack.
func Launch(ctx context.Context, file EnvFile, secretJSON []byte) (s *Stack, err error) {
	s = &Stack{file: file}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()
	if s.Moto, err = mototest.Launch(); err != nil {
		return nil, err
	}
	s.Proxy = mototest.StartProxy(s.Moto.URL)
	if s.Twilio, err = providertest.StartTwilio("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("invoketest: start the Twilio fake: %w", err)
	}
	s.endpoints = map[string]string{MotoPlaceholder: s.Proxy.URL, TwilioPlaceholder: s.Twilio.URL()}

	names, err := s.resources()
	if err != nil {
		return nil, err
	}
	if !json.Valid(secretJSON) {
		return nil, errors.New("invoketest: the secret is not JSON")
	}
	// The queues' settings are template.yaml's, the mototest defaults.
	sc := mototest.StackConfig{TableName: names[envTableName], SecretName: names[envSecretID], SecretJSON: string(secretJSON),
		ScheduleGroup: names[envScheduleGroup]}
	if sc.QueueName, err = queueName(names[envQueueURL]); err != nil {
		return nil, err
	}
	if sc.DLQName, err = queueName(names[envDLQURL]); err != nil {
		return nil, err
	}
	cfg := s.Moto.Config()
	cfg.BaseEndpoint = aws.String(s.Proxy.URL) // queue URLs then carry the proxy's address
	s.sqs = sqs.NewFromConfig(cfg)
	st, err := mototest.DeployStack(ctx, cfg, sc)
	if err != nil {
		return nil, fmt.Errorf("invoketest: %w", err)
	}
	for _, q := range []struct{ got, want string }{{st.QueueURL, names[envQueueURL]}, {st.DLQURL, names[envDLQURL]}} {
		if q.got != q.want {
			return nil, fmt.Errorf("invoketest: queue %s has URL %s, but the env file says %s", path.Base(q.want), q.got, q.want)
		}
	}
	s.QueueURL, s.DLQURL, s.Table = st.QueueURL, st.DLQURL, st.TableName
	if arn := names[envQueueARN]; arn != "" && arn != st.QueueARN {
		return nil, fmt.Errorf("invoketest: the queue's ARN is %s, but the env file says %s", st.QueueARN, arn)
	}
	s.firer = newFirer(s, st)
	if err := seedStatus(ctx, dynamo.NewStatusStore(s.Moto.DynamoDB(), names[envTableName], dynamo.StatusConfig{})); err != nil {
		return nil, err
	}
	if s.Events, err = mototest.CreateEventTap(ctx, cfg, names[envEventBus], names[envEventBus]+"-tap", mototest.StatusEventPattern); err != nil {
		return nil, fmt.Errorf("invoketest: %w", err)
	}
	return s, nil
}

// The status records Launch writes for the GET events of events/send
// (besides the scheduled message of the DELETE event, SeedScheduledID):
// one of the events' caller (the tokens' sub, events-test), found by its
// provider id, and one of another caller.
const (
	SeedServiceID         = "6f1c2e3a-9b4d-4c5e-8f70-1a2b3c4d5e6f"
	SeedProviderMessageID = "SM0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	SeedOtherServiceID    = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
)

// seedStatus writes the records of the GET and DELETE events through the
// DynamoDB status store, as the send function would have.
func seedStatus(ctx context.Context, store *dynamo.StatusStore) error {
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	base := sms.Change{To: "+14155552671", From: "+15005550006", Segments: 1, Encoding: sms.GSM7, CreatedAt: created}
	own := base
	own.Status, own.At, own.Owner = sms.StatusSent, created.Add(300*time.Millisecond), sms.CallerOwner("events-test")
	own.MessageID, own.ProviderMessageID, own.Provider = SeedProviderMessageID, SeedProviderMessageID, "twilio"
	other := base
	other.Status, other.At, other.Owner, other.MessageID = sms.StatusQueued, created, sms.CallerOwner("events-someone-else"), SeedOtherServiceID
	for id, ch := range map[string]sms.Change{SeedServiceID: own, SeedOtherServiceID: other} {
		if _, err := store.Record(ctx, id, ch); err != nil {
			return fmt.Errorf("invoketest: seed the status record %s: %w", id, err)
		}
	}
	return seedScheduled(ctx, store)
}

// resources returns the resource settings the send, drain and receipts
// functions share, and the publisher's event bus, with the placeholders substituted.
func (s *Stack) resources() (map[string]string, error) {
	names := map[string]string{}
	pub, err := s.file.ResolvedVars(Publisher.Logical, s.endpoints)
	if err != nil {
		return nil, err
	}
	if names[envEventBus] = pub[envEventBus]; names[envEventBus] == "" || strings.HasPrefix(names[envEventBus], "arn:") {
		return nil, fmt.Errorf("invoketest: env file: %s needs %s, an event bus name", Publisher.Logical, envEventBus)
	}
	for _, f := range []Function{Send, Drain, Receipts} {
		vars, err := s.file.ResolvedVars(f.Logical, s.endpoints)
		if err != nil {
			return nil, err
		}
		for _, k := range []string{envTableName, envQueueURL, envDLQURL, envSecretID} {
			v := vars[k]
			if v == "" {
				return nil, fmt.Errorf("invoketest: env file: %s has no %s", f.Logical, k)
			}
			if prev, ok := names[k]; ok && prev != v {
				return nil, fmt.Errorf("invoketest: env file: the functions name different resources in %s (%q, %q)", k, prev, v)
			}
			names[k] = v
		}
	}
	send, err := s.file.ResolvedVars(Send.Logical, s.endpoints)
	if err != nil {
		return nil, err
	}
	names[envScheduleGroup], names[envQueueARN] = send[envScheduleGroup], send[envQueueARN]
	if strings.HasPrefix(names[envSecretID], "arn:") {
		return nil, fmt.Errorf("invoketest: env file: %s must be a secret name, not an ARN (moto assigns ARNs)", envSecretID)
	}
	return names, nil
}

// queueName is the name of the queue at a URL of the env file.
func queueName(queueURL string) (string, error) {
	u, err := url.Parse(queueURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("invoketest: env file: %q is not a queue URL", queueURL)
	}
	return path.Base(u.Path), nil
}

// Env returns a function's environment: its variables from the env file
// with the placeholders replaced by the stack's endpoints, then the
// variables Lambda sets from the function's configuration (LambdaEnv).
func (s *Stack) Env(f Function) ([]string, error) {
	vars, err := s.file.ResolvedVars(f.Logical, s.endpoints)
	if err != nil {
		return nil, err
	}
	return append(EnvList(vars), f.LambdaEnv()...), nil
}

// ResolvedFile returns the env file of f with the placeholders substituted:
// a `sam local invoke --env-vars` file with f's section only.
func (s *Stack) ResolvedFile(f Function) ([]byte, error) {
	vars, err := s.file.ResolvedVars(f.Logical, s.endpoints)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(map[string]map[string]string{f.Logical: vars}, "", "  ")
}

// Mark is a point in the stack's history that Observe reports from.
type Mark struct {
	accepted int
	statuses map[string]sms.Status
	err      error
}

// Mark returns the current point; take it just before an invocation.
func (s *Stack) Mark() Mark {
	m := Mark{accepted: len(s.Twilio.Accepted())}
	m.statuses, m.err = s.statuses(context.Background())
	return m
}

// statuses reads the status of every status record in the table, by
// service id, straight from moto (the proxy does not count it).
func (s *Stack) statuses(ctx context.Context) (map[string]sms.Status, error) {
	out := map[string]sms.Status{}
	ddb := s.Moto.DynamoDB()
	var start map[string]ddbtypes.AttributeValue
	for {
		page, err := ddb.Scan(ctx, &dynamodb.ScanInput{
			TableName:                 aws.String(s.Table),
			FilterExpression:          aws.String("begins_with(pk, :p)"),
			ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":p": &ddbtypes.AttributeValueMemberS{Value: statusPrefix}},
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, fmt.Errorf("invoketest: scan the status records: %w", err)
		}
		for _, item := range page.Items {
			pk, _ := item["pk"].(*ddbtypes.AttributeValueMemberS)
			st, _ := item["status"].(*ddbtypes.AttributeValueMemberS)
			if pk != nil && st != nil {
				out[strings.TrimPrefix(pk.Value, statusPrefix)] = sms.Status(st.Value)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = page.LastEvaluatedKey
	}
}

// statusPrefix starts the key of a status record (docs/status.md).
const statusPrefix = "status#"

// DeadLetter is a message found on the dead-letter queue.
type DeadLetter struct {
	Body string
	// Reason is its fluxkit-poison-reason attribute ("" when absent).
	Reason string
}

// Observation is what an invocation did.
type Observation struct {
	// Response is the function's response.
	Response []byte
	// Delivered are the messages the Twilio fake accepted.
	Delivered []providertest.Accepted
	// DeadLettered are the messages put on the dead-letter queue.
	DeadLettered []DeadLetter
	// Queued are the bodies of the messages put on the queue.
	Queued []string
	// Recorded are the status records that are new or changed status,
	// by service id: their status now.
	Recorded map[string]sms.Status
	// Events are the status events put on the event bus.
	Events []mototest.TappedEvent
	// Scheduled are the schedules made in the schedule group.
	Scheduled []string
}

// Observe reports what happened since m, with the function's response:
// the messages the Twilio fake accepted, the status records created or
// moved, the messages on the queue and the dead-letter queue, and the
// events on the bus, which it removes so that the next invocation starts
// from empty queues.
func (s *Stack) Observe(ctx context.Context, m Mark, response []byte) (Observation, error) {
	obs := Observation{Response: response}
	if acc := s.Twilio.Accepted(); len(acc) > m.accepted {
		obs.Delivered = acc[m.accepted:]
	}
	if m.err != nil {
		return obs, m.err
	}
	now, err := s.statuses(ctx)
	if err != nil {
		return obs, err
	}
	obs.Recorded = map[string]sms.Status{}
	for id, st := range now {
		if m.statuses[id] != st {
			obs.Recorded[id] = st
		}
	}
	dl, err := s.take(ctx, s.DLQURL)
	if err != nil {
		return obs, err
	}
	for _, msg := range dl {
		d := DeadLetter{Body: aws.ToString(msg.Body)}
		if a, ok := msg.MessageAttributes[queue.PoisonReasonAttribute]; ok {
			d.Reason = aws.ToString(a.StringValue)
		}
		obs.DeadLettered = append(obs.DeadLettered, d)
	}
	q, err := s.take(ctx, s.QueueURL)
	if err != nil {
		return obs, err
	}
	for _, msg := range q {
		obs.Queued = append(obs.Queued, aws.ToString(msg.Body))
	}
	if obs.Events, err = s.Events.Take(ctx); err != nil {
		return obs, fmt.Errorf("invoketest: %w", err)
	}
	if obs.Scheduled, err = s.schedules(ctx); err != nil {
		return obs, err
	}
	return obs, nil
}

// take receives and deletes every visible message of a queue.
func (s *Stack) take(ctx context.Context, queueURL string) ([]sqstypes.Message, error) {
	var all []sqstypes.Message
	for {
		out, err := s.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:              aws.String(queueURL),
			MaxNumberOfMessages:   10,
			MessageAttributeNames: []string{"All"},
			VisibilityTimeout:     60,
		})
		if err != nil {
			return nil, fmt.Errorf("invoketest: receive from %s: %w", queueURL, err)
		}
		if len(out.Messages) == 0 {
			return all, nil
		}
		for _, msg := range out.Messages {
			if _, err := s.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: msg.ReceiptHandle}); err != nil {
				return nil, fmt.Errorf("invoketest: delete from %s: %w", queueURL, err)
			}
		}
		all = append(all, out.Messages...)
	}
}

// Close stops the Twilio fake, the proxy and moto.
func (s *Stack) Close() {
	if s.Twilio != nil {
		s.Twilio.Close()
	}
	if s.Proxy != nil {
		s.Proxy.Close()
	}
	if s.Moto != nil {
		s.Moto.Stop()
	}
}
