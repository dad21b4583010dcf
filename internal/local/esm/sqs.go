package esm

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// SQSAPI is the part of the SQS API the poller uses. *sqs.Client
// implements it.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// SQSSourceConfig describes the queue of an SQSSource.
type SQSSourceConfig struct {
	// ARN and Region fill the eventSourceARN and awsRegion of each record.
	ARN, Region string
	// WaitSeconds is the long poll of each receive (0-20; zero: short
	// polls).
	WaitSeconds int
}

// SQSSource reads an SQS queue as Lambda's event source mapping does.
type SQSSource struct {
	api SQSAPI
	url string
	cfg SQSSourceConfig
}

// NewSQSSource returns a source for the queue at url.
func NewSQSSource(api SQSAPI, url string, cfg SQSSourceConfig) *SQSSource {
	return &SQSSource{api: api, url: url, cfg: cfg}
}

// Receive long-polls for up to max (at most 10) records.
func (s *SQSSource) Receive(ctx context.Context, max int) ([]events.SQSMessage, error) {
	out, err := s.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(s.url),
		MaxNumberOfMessages:         int32(min(max, 10)),
		WaitTimeSeconds:             int32(s.cfg.WaitSeconds),
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		return nil, fmt.Errorf("sqs receive: %w", err)
	}
	recs := make([]events.SQSMessage, 0, len(out.Messages))
	for _, m := range out.Messages {
		r := events.SQSMessage{
			MessageId:      aws.ToString(m.MessageId),
			ReceiptHandle:  aws.ToString(m.ReceiptHandle),
			Body:           aws.ToString(m.Body),
			Md5OfBody:      aws.ToString(m.MD5OfBody),
			Attributes:     m.Attributes,
			EventSource:    "aws:sqs",
			EventSourceARN: s.cfg.ARN,
			AWSRegion:      s.cfg.Region,
		}
		if m.MD5OfMessageAttributes != nil {
			r.Md5OfMessageAttributes = *m.MD5OfMessageAttributes
		}
		if len(m.MessageAttributes) > 0 {
			r.MessageAttributes = make(map[string]events.SQSMessageAttribute, len(m.MessageAttributes))
			for k, v := range m.MessageAttributes {
				r.MessageAttributes[k] = events.SQSMessageAttribute{DataType: aws.ToString(v.DataType), StringValue: v.StringValue, BinaryValue: v.BinaryValue}
			}
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// Delete removes records by receipt handle.
func (s *SQSSource) Delete(ctx context.Context, recs []events.SQSMessage) error {
	for start := 0; start < len(recs); start += 10 {
		batch := recs[start:min(start+10, len(recs))]
		entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(batch))
		for i, r := range batch {
			entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r.ReceiptHandle)}
		}
		out, err := s.api.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(s.url), Entries: entries})
		if err != nil {
			return fmt.Errorf("sqs delete: %w", err)
		}
		if len(out.Failed) > 0 {
			return fmt.Errorf("sqs delete: %d of %d failed", len(out.Failed), len(batch))
		}
	}
	return nil
}
