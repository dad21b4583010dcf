// Package queue is the asynchronous path's message queue: the codec of the
// queue message, which is the public contract for producers
// (docs/queue-message.schema.json, docs/producers.md), and the SQS adapter
// that enqueues, requeues and dead-letters messages.
//
// Decode turns any accepted body (the producer form, the v1 envelope, or
// either inside an SNS notification) into an sms.QueuedMessage, and reports
// a body that can never be delivered as a *PoisonError whose Reason goes on
// the dead-lettered message as the fluxkit-poison-reason attribute.
package queue
