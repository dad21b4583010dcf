package app

import (
	"context"
	"log/slog"
	"slices"

	"github.com/fluxkit/sms/internal/config"
	"github.com/fluxkit/sms/internal/logging"
	"github.com/fluxkit/sms/internal/sms"
)

// NewGuard builds the sender and destination rules and the smart encoding
// of cfg, which both paths apply to every message; refusals are logged to
// log.
func NewGuard(cfg config.Config, log *slog.Logger) *sms.Guard {
	allowed := cfg.AllowedSenders
	if !slices.Contains(allowed, sms.AnySender) {
		// Every provider's default sender may be named, as the one
		// default may be with a single provider.
		for _, f := range cfg.DefaultSenders() {
			if f != cfg.From && !slices.Contains(allowed, f) {
				allowed = append(slices.Clip(allowed), f)
			}
		}
	}
	return sms.NewGuard(sms.GuardConfig{
		DefaultFrom:        cfg.From,
		AllowedSenders:     allowed,
		AllowedCountries:   cfg.AllowedCountries,
		BlockedNumberTypes: cfg.BlockedNumberTypes,
		BlockNonGeographic: cfg.BlockNonGeographic,
		SmartEncoding:      cfg.SmartEncoding,
	}, log)
}

// callerHash returns the names of API callers in logs, keyed with the
// provider secret's logKey. Without one, and when warn is set (a program
// that logs callers, with the deployment's secret), it logs a warning: an
// unkeyed name can be checked against a guessed subject.
func callerHash(ctx context.Context, creds *Credentials, warn bool, log *slog.Logger) logging.CallerHash {
	h := logging.NewCallerHash(creds.logKey)
	if !h.Keyed() && warn {
		log.LogAttrs(ctx, slog.LevelWarn, "the provider secret has no logKey: callers are logged as unkeyed SHA-256 hashes of their token's subject; add a random logKey (docs/deploy.md#the-log-key)",
			slog.String("event", "log_key_missing"))
	}
	return h
}
