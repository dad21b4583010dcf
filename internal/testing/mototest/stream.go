package mototest

import (
	"context"
	"fmt"
	"slices"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// EnableStream turns on the table's stream with both images
// (NEW_AND_OLD_IMAGES), as template.yaml does when status events are on,
// and returns the stream's ARN.
func EnableStream(ctx context.Context, ddb *dynamodb.Client, table string) (string, error) {
	out, err := ddb.UpdateTable(ctx, &dynamodb.UpdateTableInput{
		TableName: aws.String(table),
		StreamSpecification: &ddbtypes.StreamSpecification{
			StreamEnabled:  aws.Bool(true),
			StreamViewType: ddbtypes.StreamViewTypeNewAndOldImages,
		},
	})
	if err != nil {
		return "", fmt.Errorf("mototest: table %s: enable the stream: %w", table, err)
	}
	if out.TableDescription == nil || out.TableDescription.LatestStreamArn == nil {
		return "", fmt.Errorf("mototest: table %s: no stream ARN after enabling it", table)
	}
	return *out.TableDescription.LatestStreamArn, nil
}

// StreamReader reads a table's stream from its start, as Lambda's event
// source mapping does, and hands its records over in the Lambda event's
// form. It is not safe for concurrent use.
type StreamReader struct {
	api       *dynamodbstreams.Client
	arn       string
	iterators map[string]*string // by shard id; nil once a shard is closed and read
}

// NewStreamReader returns a reader of the stream arn through cfg.
func NewStreamReader(cfg aws.Config, arn string) *StreamReader {
	return &StreamReader{api: dynamodbstreams.NewFromConfig(cfg), arn: arn, iterators: map[string]*string{}}
}

// Read returns the records written to the stream since the last Read
// (from the start of the stream the first time), shard after shard, each
// shard's in order.
func (r *StreamReader) Read(ctx context.Context) ([]lambdaevents.DynamoDBEventRecord, error) {
	desc, err := r.api.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(r.arn)})
	if err != nil {
		return nil, fmt.Errorf("mototest: describe stream: %w", err)
	}
	var out []lambdaevents.DynamoDBEventRecord
	for _, sh := range desc.StreamDescription.Shards {
		id := aws.ToString(sh.ShardId)
		it, seen := r.iterators[id]
		if !seen {
			got, err := r.api.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
				StreamArn: aws.String(r.arn), ShardId: sh.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon,
			})
			if err != nil {
				return nil, fmt.Errorf("mototest: shard iterator of %s: %w", id, err)
			}
			it = got.ShardIterator
		}
		for it != nil {
			page, err := r.api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it})
			if err != nil {
				return nil, fmt.Errorf("mototest: records of shard %s: %w", id, err)
			}
			for _, rec := range page.Records {
				out = append(out, lambdaRecord(rec, r.arn))
			}
			// Caught up with an open shard: it is read from here next
			// time. A closed shard has no next iterator.
			it = page.NextShardIterator
			if len(page.Records) == 0 {
				break
			}
		}
		r.iterators[id] = it
	}
	return out, nil
}

// Batches splits records into events of at most size records, as the
// event source mapping's BatchSize does.
func Batches(records []lambdaevents.DynamoDBEventRecord, size int) []lambdaevents.DynamoDBEvent {
	var out []lambdaevents.DynamoDBEvent
	for len(records) > 0 {
		n := min(size, len(records))
		out = append(out, lambdaevents.DynamoDBEvent{Records: slices.Clone(records[:n])})
		records = records[n:]
	}
	return out
}

// lambdaRecord converts a stream record into the Lambda event's form.
func lambdaRecord(rec streamtypes.Record, arn string) lambdaevents.DynamoDBEventRecord {
	out := lambdaevents.DynamoDBEventRecord{
		AWSRegion:      aws.ToString(rec.AwsRegion),
		EventID:        aws.ToString(rec.EventID),
		EventName:      string(rec.EventName),
		EventSource:    aws.ToString(rec.EventSource),
		EventVersion:   aws.ToString(rec.EventVersion),
		EventSourceArn: arn,
	}
	if d := rec.Dynamodb; d != nil {
		out.Change = lambdaevents.DynamoDBStreamRecord{
			Keys:           lambdaImage(d.Keys),
			NewImage:       lambdaImage(d.NewImage),
			OldImage:       lambdaImage(d.OldImage),
			SequenceNumber: aws.ToString(d.SequenceNumber),
			SizeBytes:      aws.ToInt64(d.SizeBytes),
			StreamViewType: string(d.StreamViewType),
		}
		if d.ApproximateCreationDateTime != nil {
			out.Change.ApproximateCreationDateTime = lambdaevents.SecondsEpochTime{Time: *d.ApproximateCreationDateTime}
		}
	}
	return out
}

func lambdaImage(m map[string]streamtypes.AttributeValue) map[string]lambdaevents.DynamoDBAttributeValue {
	if m == nil {
		return nil
	}
	out := make(map[string]lambdaevents.DynamoDBAttributeValue, len(m))
	for k, v := range m {
		out[k] = lambdaValue(v)
	}
	return out
}

func lambdaValue(v streamtypes.AttributeValue) lambdaevents.DynamoDBAttributeValue {
	switch v := v.(type) {
	case *streamtypes.AttributeValueMemberS:
		return lambdaevents.NewStringAttribute(v.Value)
	case *streamtypes.AttributeValueMemberN:
		return lambdaevents.NewNumberAttribute(v.Value)
	case *streamtypes.AttributeValueMemberB:
		return lambdaevents.NewBinaryAttribute(v.Value)
	case *streamtypes.AttributeValueMemberBOOL:
		return lambdaevents.NewBooleanAttribute(v.Value)
	case *streamtypes.AttributeValueMemberNULL:
		return lambdaevents.NewNullAttribute()
	case *streamtypes.AttributeValueMemberSS:
		return lambdaevents.NewStringSetAttribute(v.Value)
	case *streamtypes.AttributeValueMemberNS:
		return lambdaevents.NewNumberSetAttribute(v.Value)
	case *streamtypes.AttributeValueMemberBS:
		return lambdaevents.NewBinarySetAttribute(v.Value)
	case *streamtypes.AttributeValueMemberM:
		return lambdaevents.NewMapAttribute(lambdaImage(v.Value))
	case *streamtypes.AttributeValueMemberL:
		l := make([]lambdaevents.DynamoDBAttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = lambdaValue(e)
		}
		return lambdaevents.NewListAttribute(l)
	}
	return lambdaevents.NewNullAttribute()
}
