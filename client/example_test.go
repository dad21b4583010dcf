package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/fluxkit/sms/client"
)

// Send a message, read what became of it, and tell an error of the API
// from the rest. The API here is the local server (make local) run in this
// process; against a deployment, the base URL is the stack's ApiEndpoint
// output and the token a JWT of the deployment's issuer.
func Example() {
	api, stop := mustStartLocal()
	defer stop()

	c, err := client.New(api.URL, client.StaticToken(api.Token))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	// Send retries what is safe to retry, with the same Idempotency-Key,
	// so the message goes out at most once.
	res, err := c.Send(ctx, client.Message{To: "+14155552671", Body: "Your verification code is 482901"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Status, res.Segments, res.Encoding)

	// Status reads what became of the message, by the id Send returned:
	// here until the provider reports the delivery (the local server's
	// console provider does a second after sending), for at most 10 s.
	rec, err := c.Status(ctx, res.MessageID)
	for deadline := time.Now().Add(10 * time.Second); err == nil && rec.Status == client.StatusSent && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		rec, err = c.Status(ctx, res.MessageID)
	}
	if err != nil {
		log.Fatal(err)
	}
	var reached []client.Status
	for _, h := range rec.History {
		reached = append(reached, h.Status)
	}
	fmt.Println(rec.Status, rec.Provider, reached)

	// An answer of the API that is not a success is a *client.Error.
	_, err = c.Send(ctx, client.Message{To: "+1234", Body: "hi"})
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.HTTPStatus, apiErr.Code, apiErr.Retryable())
	}
	// A message that does not exist, or is not the caller's, is not found.
	_, err = c.Status(ctx, "no-such-message")
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.HTTPStatus, apiErr.Code)
	}
	// Output:
	// sent 1 GSM-7
	// delivered console [sent delivered]
	// 400 invalid_to false
	// 404 not_found
}
