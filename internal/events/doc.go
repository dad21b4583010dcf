// Package events publishes the messages' status changes to EventBridge
// (docs/events.md): every change that moves a status record becomes one
// event, source "fluxkit.sms", detail-type "SMS Message Status Changed",
// whose detail is the record without its history and owner plus the
// status it left.
//
// The changes come from the table's DynamoDB stream: Handler takes the
// stream's batches (the publisher function's event source mapping), reads
// the old and new image of each status record with the store's own
// decoding, keeps the records whose status changed, and Publisher puts
// their events on the bus with PutEvents, retrying the entries it reports
// failed. A record whose event could not be put is reported as a batch
// item failure, so that Lambda retries it and, when the retries run out,
// hands its position in the stream to the on-failure destination: a
// recorded change is never lost, and publishing never delays a provider
// call.
package events
