package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/fluxkit/sms/client"
)

// Send a message, and tell an error of the API from the rest. The API here
// is the local server (make local) run in this process; against a
// deployment, the base URL is the stack's ApiEndpoint output and the token
// a JWT of the deployment's issuer.
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

	// An answer of the API that is not a success is a *client.Error.
	_, err = c.Send(ctx, client.Message{To: "+1234", Body: "hi"})
	var apiErr *client.Error
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.HTTPStatus, apiErr.Code, apiErr.Retryable())
	}
	// Output:
	// sent 1 GSM-7
	// 400 invalid_to false
}
