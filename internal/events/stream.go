package events

import (
	"fmt"
	"strings"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fluxkit/sms/internal/dynamo"
	"github.com/fluxkit/sms/internal/sms"
)

// The stream's event names of the writes that can change a status: a new
// item or a modified one. REMOVE (the table's TTL) changes none.
const (
	eventInsert = "INSERT"
	eventModify = "MODIFY"
)

// ChangeOf returns the status change a stream record carries. ok is false
// when it carries none: a deletion, an item that is not a status record,
// or a write that left the status as it was (a merge of fields or of an
// earlier report, which moves nothing). The event source mapping's filter
// lets only inserts and modifications of status records through, but it
// cannot compare the old image with the new one, so every record is
// checked here. An image that cannot be read is an error.
func ChangeOf(rec lambdaevents.DynamoDBEventRecord) (ch Change, ok bool, err error) {
	if rec.EventName != eventInsert && rec.EventName != eventModify {
		return Change{}, false, nil
	}
	if pk, has := rec.Change.Keys["pk"]; !has || pk.DataType() != lambdaevents.DataTypeString || !strings.HasPrefix(pk.String(), dynamo.StatusKeyPrefix) {
		return Change{}, false, nil
	}
	next, ok, err := decodeImage(rec.Change.NewImage)
	if err != nil || !ok {
		return Change{}, false, err
	}
	var prev sms.Status
	if len(rec.Change.OldImage) > 0 {
		old, had, err := decodeImage(rec.Change.OldImage)
		if err != nil {
			return Change{}, false, err
		}
		if had {
			prev = old.Status
		}
	}
	if prev == next.Status {
		return Change{}, false, nil
	}
	return Change{Record: next, Previous: prev}, true, nil
}

// decodeImage reads a stream image with the store's decoding.
func decodeImage(image map[string]lambdaevents.DynamoDBAttributeValue) (sms.Record, bool, error) {
	item, err := toItem(image)
	if err != nil {
		return sms.Record{}, false, fmt.Errorf("events: stream image: %w", err)
	}
	return dynamo.DecodeStatusImage(item)
}

// toItem converts an image of the Lambda event into the item the
// DynamoDB client would have read.
func toItem(image map[string]lambdaevents.DynamoDBAttributeValue) (map[string]types.AttributeValue, error) {
	item := make(map[string]types.AttributeValue, len(image))
	for k, v := range image {
		av, err := toValue(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", k, err)
		}
		item[k] = av
	}
	return item, nil
}

func toValue(v lambdaevents.DynamoDBAttributeValue) (types.AttributeValue, error) {
	switch v.DataType() {
	case lambdaevents.DataTypeString:
		return &types.AttributeValueMemberS{Value: v.String()}, nil
	case lambdaevents.DataTypeNumber:
		return &types.AttributeValueMemberN{Value: v.Number()}, nil
	case lambdaevents.DataTypeBinary:
		return &types.AttributeValueMemberB{Value: v.Binary()}, nil
	case lambdaevents.DataTypeBoolean:
		return &types.AttributeValueMemberBOOL{Value: v.Boolean()}, nil
	case lambdaevents.DataTypeNull:
		return &types.AttributeValueMemberNULL{Value: true}, nil
	case lambdaevents.DataTypeStringSet:
		return &types.AttributeValueMemberSS{Value: v.StringSet()}, nil
	case lambdaevents.DataTypeNumberSet:
		return &types.AttributeValueMemberNS{Value: v.NumberSet()}, nil
	case lambdaevents.DataTypeBinarySet:
		return &types.AttributeValueMemberBS{Value: v.BinarySet()}, nil
	case lambdaevents.DataTypeMap:
		m, err := toItem(v.Map())
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberM{Value: m}, nil
	case lambdaevents.DataTypeList:
		l := make([]types.AttributeValue, 0, len(v.List()))
		for i, e := range v.List() {
			av, err := toValue(e)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			l = append(l, av)
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	}
	return nil, fmt.Errorf("unknown attribute type %v", v.DataType())
}
