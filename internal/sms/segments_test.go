package sms

import (
	"strings"
	"testing"
	"unicode/utf16"
)

// The GSM-7 tables exactly as docs/providers.md#encoding-and-segments lists
// them, kept apart from the implementation so the tests check it
// independently.
const (
	specGSMBasic = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 \n\r" +
		"@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ" +
		"!\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà"
	specGSMExtension = "\f^{}\\[~]|€"
)

// refSegments is a deliberately plain model of
// docs/providers.md#encoding-and-segments: cost every character, then fill
// parts greedily without splitting one.
func refSegments(body string) Segments {
	costs := make([]int, 0, len(body))
	gsm := true
	for _, r := range body {
		switch {
		case strings.ContainsRune(specGSMBasic, r):
			costs = append(costs, 1)
		case strings.ContainsRune(specGSMExtension, r):
			costs = append(costs, 2)
		default:
			gsm = false
		}
	}
	enc, single, part := GSM7, 160, 153
	if !gsm {
		enc, single, part = UCS2, 70, 67
		costs = costs[:0]
		for _, r := range body {
			costs = append(costs, len(utf16.Encode([]rune{r})))
		}
	}
	units := 0
	for _, c := range costs {
		units += c
	}
	s := Segments{Encoding: enc, Units: units}
	switch {
	case units == 0:
	case units <= single:
		s.Count = 1
	default:
		s.Count = 1
		used := 0
		for _, c := range costs {
			if used+c > part {
				s.Count++
				used = 0
			}
			used += c
		}
	}
	return s
}

func TestCountSegments(t *testing.T) {
	a := func(n int) string { return strings.Repeat("a", n) }
	zh := func(n int) string { return strings.Repeat("ж", n) }
	tests := []struct {
		name string
		body string
		want Segments
	}{
		{"empty", "", Segments{0, GSM7, 0}},
		{"one char", "a", Segments{1, GSM7, 1}},
		{"OTP", "Your code is 482901. Expires 5m", Segments{1, GSM7, 31}},
		{"GSM 160", a(160), Segments{1, GSM7, 160}},
		{"GSM 161", a(161), Segments{2, GSM7, 161}},
		{"GSM 153*2", a(306), Segments{2, GSM7, 306}},
		{"GSM 153*2+1", a(307), Segments{3, GSM7, 307}},
		{"GSM 1600", a(1600), Segments{11, GSM7, 1600}},
		{"extension 80 fills one part", strings.Repeat("€", 80), Segments{1, GSM7, 160}},
		{"extension 81", strings.Repeat("€", 81), Segments{2, GSM7, 162}},
		{"159 plain + € exceeds single", a(159) + "€", Segments{2, GSM7, 161}},
		{"158 plain + € fits single", a(158) + "€", Segments{1, GSM7, 160}},
		{"€ moves to next part", a(152) + "€" + a(152), Segments{3, GSM7, 306}},
		{"€ ends first part exactly", a(151) + "€" + a(153), Segments{2, GSM7, 306}},
		{"{ moves to next part", a(152) + "{" + a(152), Segments{3, GSM7, 306}},
		{"1600 €", strings.Repeat("€", 1600), Segments{22, GSM7, 3200}},
		{"all basic characters", specGSMBasic, Segments{1, GSM7, 127}},
		{"all extension characters", specGSMExtension, Segments{1, GSM7, 20}},
		{"Greek capitals", "ΔΦΓΛΩΠΨΣΘΞ", Segments{1, GSM7, 10}},
		{"CRLF", "a\r\nb", Segments{1, GSM7, 4}},
		{"form feed is extension", "a\fb", Segments{1, GSM7, 4}},

		{"backtick forces UCS-2", "code `123`", Segments{1, UCS2, 10}},
		{"lowercase ç is not GSM", "ça va", Segments{1, UCS2, 5}},
		{"tab is not GSM", "a\tb", Segments{1, UCS2, 3}},
		{"NUL is not GSM", "a\x00b", Segments{1, UCS2, 3}},
		{"ESC is not a character", "a\x1bb", Segments{1, UCS2, 3}},
		{"UCS-2 70", zh(70), Segments{1, UCS2, 70}},
		{"UCS-2 71", zh(71), Segments{2, UCS2, 71}},
		{"UCS-2 67*2", zh(134), Segments{2, UCS2, 134}},
		{"UCS-2 67*2+1", zh(135), Segments{3, UCS2, 135}},
		{"GSM text with one non-GSM char", a(100) + "ж", Segments{2, UCS2, 101}},
		{"extension costs 1 in UCS-2", "€ж", Segments{1, UCS2, 2}},
		{"one emoji", "😀", Segments{1, UCS2, 2}},
		{"35 emoji fill one part", strings.Repeat("😀", 35), Segments{1, UCS2, 70}},
		{"36 emoji", strings.Repeat("😀", 36), Segments{2, UCS2, 72}},
		{"emoji moves to next part", zh(66) + "😀" + zh(66), Segments{3, UCS2, 134}},
		{"emoji ends first part exactly", zh(65) + "😀" + zh(67), Segments{2, UCS2, 134}},
		{"1600 emoji", strings.Repeat("😀", 1600), Segments{49, UCS2, 3200}},
		{"skin tone modifier is two code points", "👍🏽", Segments{1, UCS2, 4}},
		{"non-BMP CJK", "𠜎", Segments{1, UCS2, 2}},
		{"invalid UTF-8 byte", "ab\xff", Segments{1, UCS2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CountSegments(tt.body); got != tt.want {
				t.Errorf("CountSegments(%.30q) = %+v, want %+v", tt.body, got, tt.want)
			}
			if got, want := CountSegments(tt.body), refSegments(tt.body); got != want {
				t.Errorf("CountSegments(%.30q) = %+v, reference model says %+v", tt.body, got, want)
			}
			if got, want := NeedsUCS2(tt.body), tt.want.Encoding == UCS2; got != want {
				t.Errorf("NeedsUCS2(%.30q) = %v, want %v", tt.body, got, want)
			}
		})
	}
}

// TestGSMTables checks every code point against the tables of docs/providers.md.
func TestGSMTables(t *testing.T) {
	spec := make(map[rune]int)
	for _, r := range specGSMBasic {
		spec[r] = 1
	}
	for _, r := range specGSMExtension {
		spec[r] = 2
	}
	basic, ext := 0, 0
	for r := rune(0); r <= 0x10FFFF; r++ {
		want := spec[r]
		got := gsmRuneCost(r)
		if got != want {
			t.Errorf("gsmRuneCost(%U %q) = %d, want %d", r, r, got, want)
		}
		switch got {
		case 1:
			basic++
		case 2:
			ext++
		}
	}
	if basic != 127 {
		t.Errorf("basic table has %d characters, want 127 (128 codes minus ESC)", basic)
	}
	if ext != 10 {
		t.Errorf("extension table has %d characters, want 10", ext)
	}
}

func TestNeedsUCS2(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{"", false},
		{"Hello, world!", false},
		{"Prix: 5€ {promo} [x] ~ | ^ \\", false},
		{"ÄÖÜ äöü ß Ñ ñ", false},
		{"Hello `world`", true},
		{"Привет", true},
		{"Olá", true}, // á is not in GSM-7
		{"ok 👍", true},
		{"\u00a0", true}, // no-break space
		{"a\x00", true},
	}
	for _, tt := range tests {
		if got := NeedsUCS2(tt.body); got != tt.want {
			t.Errorf("NeedsUCS2(%q) = %v, want %v", tt.body, got, tt.want)
		}
	}
}

func TestCountSegmentsDoesNotAllocate(t *testing.T) {
	bodies := []string{
		"Your code is 482901",
		strings.Repeat("€a", 800),
		strings.Repeat("😀", 1600),
	}
	for _, body := range bodies {
		allocs := testing.AllocsPerRun(100, func() {
			_ = CountSegments(body)
			_ = NeedsUCS2(body)
		})
		if allocs != 0 {
			t.Errorf("CountSegments(%.20q) allocates %v times per call, want 0", body, allocs)
		}
	}
}
