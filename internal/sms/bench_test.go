package sms

import (
	"context"
	"strings"
	"testing"
)

// BenchmarkValidateAndSegments measures what the send path does with every
// request before it reaches the limiter: validate the message (libphonenumber
// included) and count its segments. Every case uses the same US recipient so
// that the cases differ only by body; BenchmarkValidateTo compares countries.
func BenchmarkValidateAndSegments(b *testing.B) {
	cases := []struct {
		name string
		msg  Message
	}{
		{"typical OTP", Message{To: "+14155551234", Body: "Your FluxKit code is 482901.  ", From: "FluxKit"}},
		{"1600 GSM-7", Message{To: "+14155551234", Body: strings.Repeat("Hello {world} ", 114) + "1234"}},
		{"UCS-2 emoji", Message{To: "+14155551234", Body: "Dein Code: 482901 😀👍🏽 Привет"}},
		{"1600 emoji", Message{To: "+14155551234", Body: strings.Repeat("😀", 1600)}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if err := c.msg.Validate(); err != nil {
				b.Fatalf("Validate() = %v, want nil", err)
			}
			b.ReportAllocs()
			var s Segments
			for b.Loop() {
				if err := c.msg.Validate(); err != nil {
					b.Fatal(err)
				}
				s = CountSegments(c.msg.Body)
			}
			if s.Count == 0 {
				b.Fatalf("CountSegments().Count = 0, want > 0")
			}
		})
	}
}

// BenchmarkGuardedValidateAndSegments is BenchmarkValidateAndSegments as
// the send path now runs it: validation and the default destination and
// sender rules in one pass (Guard.Check), smart encoding, and the segments
// of the text as sent. The difference to BenchmarkValidateAndSegments is
// what the guard costs.
func BenchmarkGuardedValidateAndSegments(b *testing.B) {
	cases := []struct {
		name string
		msg  Message
	}{
		{"typical OTP", Message{To: "+14155551234", Body: "Your FluxKit code is 482901.  ", From: "FluxKit"}},
		{"1600 GSM-7", Message{To: "+14155551234", Body: strings.Repeat("Hello {world} ", 114) + "1234"}},
		{"UCS-2 emoji", Message{To: "+14155551234", Body: "Dein Code: 482901 😀👍🏽 Привет"}},
		{"smart-encoded", Message{To: "+14155551234", Body: "Your FluxKit code is “482901” – thanks…"}},
		{"1600 emoji", Message{To: "+14155551234", Body: strings.Repeat("😀", 1600)}},
		{"typical OTP, countries set", Message{To: "+14155551234", Body: "Your FluxKit code is 482901.  "}},
	}
	ctx := context.Background()
	for _, c := range cases {
		cfg := GuardConfig{DefaultFrom: "FluxKit", BlockedNumberTypes: DefaultBlockedNumberTypes, BlockNonGeographic: true, SmartEncoding: true}
		if strings.HasSuffix(c.name, "countries set") {
			cfg.AllowedCountries = []string{"US", "CA", "GB"}
		}
		g := NewGuard(cfg, nil)
		b.Run(c.name, func(b *testing.B) {
			if err := g.Check(ctx, c.msg); err != nil {
				b.Fatalf("Check() = %v, want nil", err)
			}
			b.ReportAllocs()
			var s Segments
			for b.Loop() {
				if err := g.Check(ctx, c.msg); err != nil {
					b.Fatal(err)
				}
				s = CountSegments(g.Encode(c.msg).Body)
			}
			if s.Count == 0 {
				b.Fatalf("CountSegments().Count = 0, want > 0")
			}
		})
	}
}

// BenchmarkCountSegments measures segment counting alone.
func BenchmarkCountSegments(b *testing.B) {
	bodies := map[string]string{
		"30 GSM-7":   "Your FluxKit code is 482901.  ",
		"1600 GSM-7": strings.Repeat("Hello {world} ", 114) + "1234",
		"1600 emoji": strings.Repeat("😀", 1600),
	}
	for name, body := range bodies {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				_ = CountSegments(body)
			}
		})
	}
}

// BenchmarkMaskDigits measures masking a typical provider error text.
func BenchmarkMaskDigits(b *testing.B) {
	const text = "The 'To' number +14155551234 is not a valid phone number."
	b.ReportAllocs()
	for b.Loop() {
		_ = maskDigits(text)
	}
}

// BenchmarkValidateTo measures recipient validation alone (libphonenumber
// parse, validity and canonical-form check) for a few countries.
func BenchmarkValidateTo(b *testing.B) {
	numbers := []struct{ name, to string }{
		{"US", "+14155551234"},
		{"UK", "+447911123456"},
		{"Germany", "+4915112345678"},
		{"China", "+8613812345678"},
		{"rejected shape", "4155551234"},
	}
	for _, n := range numbers {
		b.Run(n.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = ValidateTo(n.to)
			}
		})
	}
}
