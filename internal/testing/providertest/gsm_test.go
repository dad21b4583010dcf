package providertest

import (
	"slices"
	"strings"
	"testing"

	"github.com/fluxkit/sms/internal/sms"
)

func TestNeedsUCS2(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{"Your code is 482901", false},
		{"Price: 5€ {ok} [x] ~^|\\", false},
		{"ΔΦΓΛΩΠΨΣΘΞ ÄÖÑÜ§¿äöñüà @£$¥", false},
		{"back`tick", true},
		{"ç lowercase cedilla", true},
		{"Привет", true},
		{"hi 😀", true},
		{"", false},
	}
	for _, tt := range tests {
		if got := needsUCS2(tt.body); got != tt.want {
			t.Errorf("needsUCS2(%q) = %v, want %v", tt.body, got, tt.want)
		}
	}
}

func TestSplitParts(t *testing.T) {
	a := func(n int) string { return strings.Repeat("a", n) }
	zh := func(n int) string { return strings.Repeat("ж", n) }
	tests := []struct {
		name  string
		body  string
		ucs2  bool
		sizes []int // length in runes of each part
	}{
		{"empty", "", false, nil},
		{"gsm single full", a(160), false, []int{160}},
		{"gsm two parts", a(161), false, []int{153, 8}},
		{"gsm two full parts", a(306), false, []int{153, 153}},
		{"gsm three parts", a(307), false, []int{153, 153, 1}},
		{"euro fits single", strings.Repeat("€", 80), false, []int{80}},
		{"euro pair not split", strings.Repeat("€", 81), false, []int{76, 5}},
		{"escape moves to next part", a(152) + "€" + a(10), false, []int{152, 11}},
		{"ucs2 single full", zh(70), true, []int{70}},
		{"ucs2 two parts", zh(71), true, []int{67, 4}},
		{"emoji single full", strings.Repeat("😀", 35), true, []int{35}},
		{"emoji pair not split", strings.Repeat("😀", 36), true, []int{33, 3}},
		{"surrogate moves to next part", zh(66) + "😀" + zh(3), true, []int{66, 4}},
		{"gsm-only text sent as ucs2", a(71), true, []int{67, 4}},
		{"non-gsm sent as gsm costs one", strings.Repeat("ж", 161), false, []int{153, 8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts := splitParts(tt.body, tt.ucs2)
			var got []int
			for _, p := range parts {
				got = append(got, len([]rune(p)))
			}
			if !slices.Equal(got, tt.sizes) {
				t.Errorf("part sizes = %v, want %v", got, tt.sizes)
			}
			if joined := strings.Join(parts, ""); joined != tt.body {
				t.Errorf("parts joined = %q, want the body back", joined)
			}
		})
	}
}

// TestAgreesWithDomain cross-checks the fakes' counting against the
// service's own (sms.CountSegments), written independently.
func TestAgreesWithDomain(t *testing.T) {
	pieces := []string{"a", "€", "ж", "😀", "{", "\n", "`", "é", "ç", " "}
	for n := 0; n < 400; n++ {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString(pieces[(i*7+n)%len(pieces)%(1+n%len(pieces))])
		}
		body := b.String()
		ucs2 := needsUCS2(body)
		if got, want := ucs2, sms.NeedsUCS2(body); got != want {
			t.Fatalf("needsUCS2(%q) = %v, sms.NeedsUCS2 = %v", body, got, want)
		}
		if got, want := len(splitParts(body, ucs2)), sms.CountSegments(body).Count; got != want {
			t.Fatalf("parts of %q = %d, sms.CountSegments = %d", body, got, want)
		}
	}
}
