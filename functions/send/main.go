// Command send is the send function: POST /messaging/sms and
// GET and DELETE /messaging/sms/{messageId} (a message's status;
// canceling a scheduled message) on API Gateway.
// It wires its dependencies once per cold start (app.LoadAWS); the event
// mapping lives in internal/apigw so that the local runner runs the same
// code.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/fluxkit/sms/internal/app"
	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/metrics"
)

func main() {
	log := logging.New(os.Stdout, slog.LevelInfo, slog.String("function", "send"))
	svc, err := app.LoadAWS(context.Background(), os.Getenv, config.ModeSend, log, app.WithScheduler)
	if err != nil {
		log.Error("start-up failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
	h := app.NewSendHandler(svc.Config, svc.Parts, svc.Auth, svc.Callers)
	lambda.Start(metrics.Wrap(os.Stdout, metrics.FunctionName("send"), h.Invoke))
}
