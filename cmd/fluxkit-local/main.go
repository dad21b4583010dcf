// Command fluxkit-local runs the FluxKit SMS service on this machine:
// `make local` starts it, `make token` prints a development token for it.
// See docs/local.md.
//
// Usage:
//
//	fluxkit-local [-grace 5s] [-queue-capacity 1000] [-log-level info]
//	fluxkit-local -token
//
// The server listens on 127.0.0.1:$PORT (3000 by default). The banner,
// the console provider's messages and the shutdown report go to stderr;
// the JSON logs of the send and drain handlers go to stdout. -token prints
// only the token, on stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/local"
	"github.com/fluxkit/sms/internal/logging"
)

// shutdownSlack is how long, beyond the grace period, shutdown waits for
// requests in flight and the drain's last batch before it gives up.
const shutdownSlack = local.SendTimeout + 20*time.Second

func main() {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr, sig))
}

// run is the command; it returns the exit status: 0 after a clean stop,
// 1 when the server cannot start or fails, 2 for bad flags.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer, sig <-chan os.Signal) int {
	fs := flag.NewFlagSet("fluxkit-local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	token := fs.Bool("token", false, "print a development token for the local server and exit")
	grace := fs.Duration("grace", local.DefaultGrace, "on shutdown, how long the drain loop may deliver what is still queued in memory")
	capacity := fs.Int("queue-capacity", local.DefaultQueueCapacity, "most messages the in-memory queue holds; a full queue answers 503")
	levelName := fs.String("log-level", "info", "level of the JSON logs: debug, info, warn or error")
	consoles := fs.String("console", "", "console providers named after real ones, in failover order (e.g. twilio,vonage): try failover by hand (SMS_PROVIDER unset)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "fluxkit-local: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return 2
	}
	if *token {
		return printToken(getenv, stdout, stderr)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*levelName)); err != nil {
		fmt.Fprintf(stderr, "fluxkit-local: -log-level: %v\n", err)
		return 2
	}
	if *capacity <= 0 || *grace < 0 {
		fmt.Fprintln(stderr, "fluxkit-local: -queue-capacity must be positive and -grace not negative")
		return 2
	}

	log := logging.New(stdout, level, slog.String("service", "fluxkit-local"))
	var names []string
	if *consoles != "" {
		names = strings.Split(*consoles, ",")
		for i := range names {
			names[i] = strings.TrimSpace(names[i])
		}
	}
	srv, err := local.New(context.Background(), local.Options{
		Getenv: getenv, QueueCapacity: *capacity, Console: stderr, Log: log, Consoles: names,
	})
	if err != nil {
		printError(stderr, err)
		return 1
	}
	fmt.Fprint(stderr, srv.Banner(*grace))
	srv.Start()

	status := 0
	select {
	case s := <-sig:
		fmt.Fprintf(stderr, "\n%v: shutting down\n", s)
	case err := <-srv.Err():
		printError(stderr, err)
		status = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), *grace+shutdownSlack)
	defer cancel()
	go func() {
		select {
		case <-sig:
			fmt.Fprintln(stderr, "second signal: quitting now")
			cancel()
		case <-ctx.Done():
		}
	}()
	fmt.Fprintln(stderr, srv.Shutdown(ctx, *grace))
	return status
}

// printToken prints a development token and nothing else on stdout.
func printToken(getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(getenv, config.ModeLocal)
	if err != nil {
		printError(stderr, err)
		return 1
	}
	tok, err := local.DevToken(cfg, time.Now())
	if err != nil {
		printError(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

// printError prints err, one line per joined error, and says which
// failures are configuration problems.
func printError(w io.Writer, err error) {
	var se *config.SettingError
	head := "fluxkit-local: cannot start"
	if errors.As(err, &se) {
		head = "fluxkit-local: bad configuration"
	}
	fmt.Fprintf(w, "%s:\n", head)
	for line := range strings.SplitSeq(err.Error(), "\n") {
		fmt.Fprintf(w, "  %s\n", line)
	}
}
