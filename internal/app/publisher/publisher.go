// Package publisher wires the status event publisher function
// (functions/publisher): its configuration (config.ModePublisher), its
// EventBridge client and the handler of internal/events. It is a package
// of its own, beside internal/app, so that the send and drain functions do
// not link the EventBridge client: every package a binary imports is in
// it, used or not.
package publisher

import (
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/fluxkit/sms/internal/awsenv"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/events"
)

// Load is the wiring of the publisher function: the configuration for
// config.ModePublisher, the AWS settings of the Lambda environment, and the
// handler putting the status changes of the table's stream on
// SMS_EVENT_BUS. It reads no secret and opens no connection: the stream
// comes in the events.
func Load(getenv func(string) string, log *slog.Logger) (*events.Handler, error) {
	cfg, err := config.Load(getenv, config.ModePublisher)
	if err != nil {
		return nil, err
	}
	env, err := awsenv.Load(getenv)
	if err != nil {
		return nil, err
	}
	return NewHandler(cfg, NewEventBridge(env), log), nil
}

// NewEventBridge returns the EventBridge client of env, aimed at the
// endpoint env gives EventBridge (AWS_ENDPOINT_URL_EVENTBRIDGE,
// AWS_ENDPOINT_URL), if any.
func NewEventBridge(env *awsenv.Env) *eventbridge.Client {
	return eventbridge.NewFromConfig(env.Config, func(o *eventbridge.Options) { env.Apply(awsenv.EventBridge, &o.BaseEndpoint) })
}

// NewHandler builds the publisher's handler on api for cfg's event bus.
func NewHandler(cfg config.Config, api events.API, log *slog.Logger) *events.Handler {
	return events.NewHandler(events.NewPublisher(api, cfg.EventBus, events.PublisherConfig{Log: log}), log)
}
