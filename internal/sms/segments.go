package sms

import "unicode/utf8"

// Single-part and per-part capacities
// (docs/providers.md#encoding-and-segments). A part of a concatenated
// message loses 6 octets to the User Data Header.
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
	if uint32(r) < uint32(len(gsmCost)) {
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
	for i := 0; i < len(body); i++ {
		if b := body[i]; b < utf8.RuneSelf {
			if gsmCost[b] == 0 {
				return true
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(body[i:])
		if gsmRuneCost(r) == 0 {
			return true
		}
		i += size - 1
	}
	return false
}

// CountSegments reports the encoding body needs, its length in that
// encoding's units, and how many SMS parts it takes: one part up to 160
// septets (GSM-7) or 70 code units (UCS-2); beyond that, parts of 153 or 67
// filled greedily, where a 2-unit character (a GSM-7 escape pair or a UTF-16
// surrogate pair) that does not fit in the current part moves whole to the
// next. An empty body has Count 0. Invalid UTF-8 bytes count as U+FFFD,
// which forces UCS-2. CountSegments does not allocate.
func CountSegments(body string) Segments {
	// One pass fills multipart-sized parts greedily in both encodings; the
	// GSM-7 tally stops at the first character outside its tables.
	gsm := true
	var gsmFill, ucsFill fill
	for i := 0; i < len(body); {
		var r rune
		if b := body[i]; b < utf8.RuneSelf {
			r = rune(b)
			i++
		} else {
			var size int
			r, size = utf8.DecodeRuneInString(body[i:])
			i += size
		}
		if gsm {
			if c := gsmRuneCost(r); c != 0 {
				gsmFill.add(c, gsmPart)
			} else {
				gsm = false
			}
		}
		ucsFill.add(ucsRuneCost(r), ucsPart)
	}
	f, single, enc := gsmFill, gsmSingle, GSM7
	if !gsm {
		f, single, enc = ucsFill, ucsSingle, UCS2
	}
	s := Segments{Count: f.parts, Encoding: enc, Units: f.units}
	if f.units > 0 && f.units <= single {
		s.Count = 1
	}
	return s
}

// fill tracks a greedy fill of fixed-size parts.
type fill struct {
	units int // total units added
	parts int // parts started
	used  int // units in the last part
}

// add puts a character of cost units into the last part, or into a new part
// when it does not fit whole.
func (f *fill) add(cost, part int) {
	if f.parts == 0 || f.used+cost > part {
		f.parts++
		f.used = 0
	}
	f.used += cost
	f.units += cost
}
