package dynamo

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/fluxkit/sms/internal/sms"
)

// StatusKeyPrefix begins the partition key of every status record
// ("status#<service id>"); the table's stream is filtered on it.
const StatusKeyPrefix = statusPK

// DecodeStatusImage reads a status record from an image of an item of the
// table, as the table's stream carries it, with the decoding StatusStore
// reads its items with. ok is false, with no error, when the item is not a
// status record (another key prefix) or holds no status: StatusStore
// never writes one without it, but an emulator may report the creation of
// an item before the update that fills it. An item with a status that
// cannot be read is an error.
func DecodeStatusImage(item map[string]types.AttributeValue) (r sms.Record, ok bool, err error) {
	pk, _ := item[attrPK].(*types.AttributeValueMemberS)
	if pk == nil || !strings.HasPrefix(pk.Value, statusPK) {
		return sms.Record{}, false, nil
	}
	if _, has := item[attrStatus]; !has {
		return sms.Record{}, false, nil
	}
	if r, err = decodeStatus(item); err != nil {
		return sms.Record{}, false, internalf("dynamo: status image: %v", err)
	}
	return r, true, nil
}
