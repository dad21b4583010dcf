package sms

// Single-part and per-part capacities (provider-wire-spec §3.1). A part of a
// concatenated message loses 6 octets to the User Data Header.
const (
	gsmSingle = 160 // septets in a one-part GSM-7 message
	gsmPart   = 153 // septets per part of a multipart GSM-7 message
	ucsSingle = 70  // UTF-16 code units in a one-part UCS-2 message
	ucsPart   = 67  // UTF-16 code units per part of a multipart UCS-2 message
)

// Segments describes how a body travels as SMS.
type Segments struct {
	// Count is the number of SMS parts (0 for an empty body).
	Count int
	// Encoding is GSM7 when every character is in the GSM-7 basic or
	// extension table, UCS2 otherwise.
	Encoding Encoding
	// Units is the body's length in the encoding's units: GSM-7 septets
	// (an extension character costs 2) or UTF-16 code units (a character
	// outside the Basic Multilingual Plane costs 2). Headers are not counted.
	Units int
}

// gsmCost holds, for every code point below 256, its cost in GSM-7 septets:
// 1 for the basic table, 2 for the extension table (ESC + code), 0 when the
// character is in neither table.
var gsmCost = func() (t [256]uint8) {
	const basic = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 \n\r" +
		"@£$¥èéùìòÇØøÅå_ÆæßÉ" +
		"!\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà"
	const extension = "\f^{}\\[~]|"
	for _, r := range basic {
		t[r] = 1
	}
	for _, r := range extension {
		t[r] = 2
	}
	return t
}()

// gsmRuneCost returns the GSM-7 cost of r in septets, or 0 when r is in
// neither GSM-7 table.
func gsmRuneCost(r rune) int {
	if r < 256 {
		return int(gsmCost[r])
	}
	switch r {
	case 'Δ', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ':
		return 1
	case '€':
		return 2
	}
	return 0
}

// ucsRuneCost returns the number of UTF-16 code units r takes. Invalid
// UTF-8 decodes to U+FFFD and costs 1.
func ucsRuneCost(r rune) int {
	if r > 0xFFFF {
		return 2
	}
	return 1
}

// NeedsUCS2 reports whether body contains a character outside the GSM-7
// basic and extension tables, so that the whole message must be sent as
// UCS-2 (Vonage: type=unicode).
func NeedsUCS2(body string) bool {
	for _, r := range body {
		if gsmRuneCost(r) == 0 {
			return true
		}
	}
	return false
}

// CountSegments reports the encoding body needs, its length in that
// encoding's units, and how many SMS parts it takes: one part up to 160
// septets (GSM-7) or 70 code units (UCS-2); beyond that, parts of 153 or 67
// filled greedily, where a 2-unit character (a GSM-7 escape pair or a UTF-16
// surrogate pair) that does not fit in the current part moves whole to the
// next. An empty body has Count 0. CountSegments does not allocate.
func CountSegments(body string) Segments {
	gsm := true
	var septets, codeUnits int
	wide := false // whether a 2-unit character occurs in the chosen encoding
	wideUCS := false
	for _, r := range body {
		if gsm {
			c := gsmRuneCost(r)
			if c == 0 {
				gsm = false
			}
			septets += c
			wide = wide || c == 2
		}
		c := ucsRuneCost(r)
		codeUnits += c
		wideUCS = wideUCS || c == 2
	}
	s := Segments{Encoding: GSM7, Units: septets}
	single, part := gsmSingle, gsmPart
	if !gsm {
		s.Encoding, s.Units = UCS2, codeUnits
		single, part = ucsSingle, ucsPart
		wide = wideUCS
	}
	switch {
	case s.Units == 0:
		s.Count = 0
	case s.Units <= single:
		s.Count = 1
	case !wide:
		s.Count = (s.Units + part - 1) / part
	default:
		s.Count = greedyParts(body, gsm, part)
	}
	return s
}

// greedyParts fills parts of size part with the characters of body, costed
// in GSM-7 septets when gsm is set and in UTF-16 code units otherwise,
// never splitting a character, and returns the number of parts used.
func greedyParts(body string, gsm bool, part int) int {
	parts, used := 1, 0
	for _, r := range body {
		var c int
		if gsm {
			c = gsmRuneCost(r)
		} else {
			c = ucsRuneCost(r)
		}
		if used+c > part {
			parts++
			used = 0
		}
		used += c
	}
	return parts
}
