package mototest

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// StatusEventPattern matches every status event the service publishes
// (docs/events.md).
const StatusEventPattern = `{"source":["fluxkit.sms"],"detail-type":["SMS Message Status Changed"]}`

// EventTap is an EventBridge bus with a rule that sends the events it
// matches to an SQS queue, where a test reads them back.
type EventTap struct {
	// Bus is the event bus's name; QueueURL the queue the rule feeds.
	Bus, QueueURL string
	sqs           *sqs.Client
}

// CreateEventTap creates, through cfg, the event bus bus (unless it is
// "default"), the queue queueName, and a rule on the bus sending the
// events that match pattern (an EventBridge event pattern) to the queue.
func CreateEventTap(ctx context.Context, cfg aws.Config, bus, queueName, pattern string) (*EventTap, error) {
	eb := eventbridge.NewFromConfig(cfg)
	if bus != "default" {
		if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
			return nil, fmt.Errorf("mototest: create event bus %s: %w", bus, err)
		}
	}
	sq := sqs.NewFromConfig(cfg)
	url, err := createQueue(ctx, sq, queueName, nil)
	if err != nil {
		return nil, err
	}
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return nil, fmt.Errorf("mototest: queue %s: ARN: %w", queueName, err)
	}
	rule := queueName + "-rule"
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(rule), EventBusName: aws.String(bus), EventPattern: aws.String(pattern)}); err != nil {
		return nil, fmt.Errorf("mototest: rule %s on %s: %w", rule, bus, err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{
		Rule: aws.String(rule), EventBusName: aws.String(bus),
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}},
	}); err != nil {
		return nil, fmt.Errorf("mototest: target of rule %s: %w", rule, err)
	}
	return &EventTap{Bus: bus, QueueURL: url, sqs: sq}, nil
}

// TappedEvent is an event as EventBridge delivers it to an SQS target.
type TappedEvent struct {
	ID         string          `json:"id"`
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Time       string          `json:"time"`
	Detail     json.RawMessage `json:"detail"`
}

// Take receives and deletes every event on the tap's queue.
func (t *EventTap) Take(ctx context.Context) ([]TappedEvent, error) {
	var out []TappedEvent
	for {
		got, err := t.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(t.QueueURL), MaxNumberOfMessages: 10, VisibilityTimeout: 60})
		if err != nil {
			return nil, fmt.Errorf("mototest: receive events: %w", err)
		}
		if len(got.Messages) == 0 {
			return out, nil
		}
		for _, m := range got.Messages {
			var ev TappedEvent
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ev); err != nil {
				return nil, fmt.Errorf("mototest: event %q: %w", aws.ToString(m.Body), err)
			}
			out = append(out, ev)
			if _, err := t.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(t.QueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
				return nil, fmt.Errorf("mototest: delete event: %w", err)
			}
		}
	}
}
