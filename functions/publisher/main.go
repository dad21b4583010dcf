// Command publisher is the status event publisher: it takes the batches of
// the table's DynamoDB stream and puts one EventBridge event on
// SMS_EVENT_BUS per status change (docs/events.md). It wires its
// dependencies once per cold start (internal/app/publisher); the handling
// lives in internal/events so that the tests run the same code.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/fluxkit/sms/internal/app/publisher"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/metrics"
)

func main() {
	log := logging.New(os.Stdout, slog.LevelInfo, slog.String("function", "publisher"))
	h, err := publisher.Load(os.Getenv, log)
	if err != nil {
		log.Error("start-up failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(metrics.Wrap(os.Stdout, metrics.FunctionName("publisher"), h.Handle))
}
