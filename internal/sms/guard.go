package sms

import (
	"context"
	"log/slog"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/fluxkit/sms/internal/metrics"
)

// AnySender in GuardConfig.AllowedSenders (SMS_ALLOWED_SENDERS=*) allows
// every sender.
const AnySender = "*"

// Codes of the guard's refusals: they narrow KindForbidden for clients
// (HTTP 403), and a queued message refused for the same reason is
// dead-lettered with the code as its poison reason.
const (
	// CodeSenderNotAllowed: the message names a sender outside
	// SMS_ALLOWED_SENDERS.
	CodeSenderNotAllowed = "sender_not_allowed"
	// CodeDestinationNotAllowed: the recipient is outside
	// SMS_ALLOWED_COUNTRIES, of a type in SMS_BLOCKED_NUMBER_TYPES, or of a
	// non-geographic country code.
	CodeDestinationNotAllowed = "destination_not_allowed"
)

// PoisonDestinationNotAllowed: a queued message to a destination the
// guard refuses (CodeDestinationNotAllowed).
const PoisonDestinationNotAllowed = CodeDestinationNotAllowed

// numberTypes maps libphonenumber's number type names, as
// SMS_BLOCKED_NUMBER_TYPES spells them, to its types. UNKNOWN is left out:
// a number of unknown type is not valid and never reaches the guard.
var numberTypes = map[string]phonenumbers.PhoneNumberType{
	"FIXED_LINE":           phonenumbers.FIXED_LINE,
	"MOBILE":               phonenumbers.MOBILE,
	"FIXED_LINE_OR_MOBILE": phonenumbers.FIXED_LINE_OR_MOBILE,
	"TOLL_FREE":            phonenumbers.TOLL_FREE,
	"PREMIUM_RATE":         phonenumbers.PREMIUM_RATE,
	"SHARED_COST":          phonenumbers.SHARED_COST,
	"VOIP":                 phonenumbers.VOIP,
	"PERSONAL_NUMBER":      phonenumbers.PERSONAL_NUMBER,
	"PAGER":                phonenumbers.PAGER,
	"UAN":                  phonenumbers.UAN,
	"VOICEMAIL":            phonenumbers.VOICEMAIL,
}

// DefaultBlockedNumberTypes are the number types never sent to unless
// SMS_BLOCKED_NUMBER_TYPES says otherwise: the ones that cost the sender
// more than a mobile message or reach no handset (premium rate, shared
// cost, universal access, personal numbers, voicemail, pagers).
var DefaultBlockedNumberTypes = []string{"PREMIUM_RATE", "SHARED_COST", "UAN", "PERSONAL_NUMBER", "VOICEMAIL", "PAGER"}

// IsNumberType reports whether name is one of libphonenumber's number type
// names (FIXED_LINE, MOBILE, FIXED_LINE_OR_MOBILE, TOLL_FREE, PREMIUM_RATE,
// SHARED_COST, VOIP, PERSONAL_NUMBER, PAGER, UAN, VOICEMAIL).
func IsNumberType(name string) bool {
	_, ok := numberTypes[name]
	return ok
}

// IsRegion reports whether code is an ISO 3166-1 alpha-2 region that
// libphonenumber knows numbers of.
func IsRegion(code string) bool { return phonenumbers.GetSupportedRegions()[code] }

// nonGeographicRegion is libphonenumber's region of the country codes that
// belong to no country (UN M.49 "World"): international freephone and
// shared-cost numbers, satellite phones and international networks (+800,
// +808, +870, +878, +881, +882, +883, +888, +979).
const nonGeographicRegion = "001"

// GuardConfig holds the rules every message must pass, on the send path
// and on the drain alike. Its zero value allows only the default sender
// and every destination, and rewrites nothing; the configuration
// (package config) sets the deployment's defaults.
type GuardConfig struct {
	// DefaultFrom is the sender of a message that names none; a message
	// may always name it.
	DefaultFrom string
	// AllowedSenders are the senders a message may name besides
	// DefaultFrom; AnySender among them allows any.
	AllowedSenders []string
	// AllowedCountries, when not empty, are the only regions (ISO 3166-1
	// alpha-2, as libphonenumber assigns them to numbers) that may be sent
	// to.
	AllowedCountries []string
	// BlockedNumberTypes are libphonenumber type names (IsNumberType) never
	// sent to. A number libphonenumber cannot tell between fixed line and
	// mobile (most of North America) is of type FIXED_LINE_OR_MOBILE, which
	// neither FIXED_LINE nor MOBILE blocks.
	BlockedNumberTypes []string
	// BlockNonGeographic refuses numbers of the country codes that belong
	// to no country (satellite phones, international networks, global
	// freephone and premium numbers).
	BlockNonGeographic bool
	// SmartEncoding replaces look-alike characters by GSM-7 ones when that
	// makes the whole body GSM-7 (SmartEncode).
	SmartEncoding bool
}

// Guard applies the deployment's rules on what a message may cost before
// it costs anything: who it may claim to come from, where it may go, and
// (SmartEncoding) the characters it is sent in. These rules need no
// state, so both paths check them first: the send path before the
// idempotency claim, the limiter or the queue; the drain before it claims
// the message. Limits that count messages (per recipient, per caller, per
// day) need a store and are checked later, once a message is claimed.
// A Guard is safe for concurrent use.
type Guard struct {
	defaultFrom   string
	anySender     bool
	senders       map[string]bool
	countries     map[string]bool // nil: every region
	blocked       map[phonenumbers.PhoneNumberType]bool
	blockNonGeo   bool
	smartEncoding bool
	log           *slog.Logger
}

// NewGuard returns the Guard of cfg, logging its refusals to log (nil
// discards). Names in cfg that are not number types are ignored: the
// configuration checks them.
func NewGuard(cfg GuardConfig, log *slog.Logger) *Guard {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Guard{
		defaultFrom:   cfg.DefaultFrom,
		senders:       map[string]bool{},
		blocked:       map[phonenumbers.PhoneNumberType]bool{},
		blockNonGeo:   cfg.BlockNonGeographic,
		smartEncoding: cfg.SmartEncoding,
		log:           log,
	}
	for _, s := range cfg.AllowedSenders {
		if s == AnySender {
			g.anySender = true
		}
		g.senders[s] = true
	}
	if len(cfg.AllowedCountries) > 0 {
		g.countries = make(map[string]bool, len(cfg.AllowedCountries))
		for _, c := range cfg.AllowedCountries {
			g.countries[strings.ToUpper(c)] = true
		}
	}
	for _, name := range cfg.BlockedNumberTypes {
		if t, ok := numberTypes[name]; ok {
			g.blocked[t] = true
		}
	}
	return g
}

// Check validates m (the errors of Message.Validate) and applies the
// sender and destination rules to it. A refusal is a KindForbidden *Error
// with code CodeSenderNotAllowed (field "from") or
// CodeDestinationNotAllowed (field "to") whose message names the rule; it
// is logged with the destination's region, never the number. An empty
// From means the default sender.
func (g *Guard) Check(ctx context.Context, m Message) error {
	r, err := m.validate()
	if err != nil {
		return err
	}
	if m.From != "" && !g.senderAllowed(m.From) {
		g.refused(ctx, CodeSenderNotAllowed, "sender", regionOf(r), m)
		return E(KindForbidden, "sender is not allowed (SMS_ALLOWED_SENDERS)", Code(CodeSenderNotAllowed), Field("from"))
	}
	if rule, msg, region := g.destinationProblem(r); rule != "" {
		g.refused(ctx, CodeDestinationNotAllowed, rule, region, m)
		return E(KindForbidden, msg, Code(CodeDestinationNotAllowed), Field("to"))
	}
	return nil
}

// senderAllowed reports whether a message may name from as its sender.
func (g *Guard) senderAllowed(from string) bool {
	return g.anySender || from == g.defaultFrom || g.senders[from]
}

// destinationProblem returns the rule r breaks (empty when none), the
// client message saying so, and r's region. The region costs a second
// metadata lookup for country codes shared by several regions (+1, +7,
// +44 …), so it is worked out only when a rule needs it or refuses.
func (g *Guard) destinationProblem(r recipient) (rule, msg, region string) {
	cc := int(r.num.GetCountryCode())
	if g.blockNonGeo && phonenumbers.GetRegionCodeForCountryCode(cc) == nonGeographicRegion {
		return "non_geographic", "destination not allowed: numbers of non-geographic country codes (satellite, international networks) are not sent to", nonGeographicRegion
	}
	if g.countries != nil {
		if allowed, reg := g.countryAllowed(r, cc); !allowed {
			return "country", "destination not allowed: the recipient's country is not in SMS_ALLOWED_COUNTRIES", reg
		}
	}
	if g.blocked[r.typ] {
		return "number_type", "destination not allowed: number type " + typeName(r.typ) + " is blocked (SMS_BLOCKED_NUMBER_TYPES)", regionOf(r)
	}
	return "", "", ""
}

// countryAllowed reports whether r's region is an allowed country, and the
// region when it was worked out. A country code whose regions are all
// allowed, or none of them, needs no lookup of the number's own region.
func (g *Guard) countryAllowed(r recipient, cc int) (bool, string) {
	regions := phonenumbers.GetRegionCodesForCountryCode(cc)
	all, none := true, true
	for _, reg := range regions {
		if g.countries[reg] {
			none = false
		} else {
			all = false
		}
	}
	switch {
	case all && len(regions) > 0:
		return true, ""
	case none:
		if len(regions) == 1 {
			return false, regions[0]
		}
		return false, regionOf(r)
	}
	reg := regionOf(r)
	return g.countries[reg], reg
}

// refused logs a refusal: which rule, the destination's region and the
// masked number, so that refusals can be counted per region (docs/runbook.md).
func (g *Guard) refused(ctx context.Context, code, rule, region string, m Message) {
	g.log.LogAttrs(ctx, slog.LevelInfo, "message refused",
		slog.String("event", code), slog.String("rule", rule),
		slog.String("region", region), slog.String("to", MaskNumber(m.To)))
	metrics.Inc(ctx, metrics.Refusals, metrics.Outcome(code))
}

// Encode returns m with the body it is sent with: rewritten by
// SmartEncode when SmartEncoding is on, as it is otherwise.
func (g *Guard) Encode(m Message) Message {
	if g.smartEncoding {
		m.Body = SmartEncode(m.Body)
	}
	return m
}

// refusedDisposition is what the drain does with a queued message the
// guard refuses: dead-letter it with the refusal's code as the reason
// (CodeSenderNotAllowed, CodeDestinationNotAllowed, or a validation code
// such as invalid_to for a message that is not valid at all).
func refusedDisposition(err error) Disposition {
	e := AsError(err)
	reason := e.Code
	if reason == "" {
		reason = "invalid_message"
	}
	return Disposition{Action: Poison, Kind: e.Kind, PoisonReason: reason}
}

// regionOf returns the region libphonenumber assigns to r ("001" for a
// non-geographic country code, "" when none of the code's regions claims
// it).
func regionOf(r recipient) string { return phonenumbers.GetRegionCodeForNumber(r.num) }

// typeName returns the name of a number type as SMS_BLOCKED_NUMBER_TYPES
// spells it.
func typeName(t phonenumbers.PhoneNumberType) string {
	for name, v := range numberTypes {
		if v == t {
			return name
		}
	}
	return "UNKNOWN"
}
