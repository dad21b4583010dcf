package sms

import (
	"strings"
	"unicode/utf8"
)

// smartEncodingTable maps look-alike characters to the GSM-7 text they look
// like: Twilio's published smart-encoding list (its Messaging Services'
// "Smart Encoding", the list its message segment calculator carries),
// with three corrections, each checked by TestSmartEncodingTable:
//   - U+2039 ‹ and U+203A › become "<" and ">", what they look like (the
//     list has them the other way round);
//   - the Unicode spaces, the C1 controls the list treats as spaces, and
//     TAB become one space (the list has two spaces, and seven for TAB);
//   - the combining marks of the list (U+0302 combining circumflex,
//     U+0303 combining tilde, …) are left out: they modify the letter
//     before them ("n" + U+0303 looks like "ñ", not "n~"), so the body
//     stays UCS-2 as written.
//
// Invisible characters (NUL and other C0 controls of the list, the word
// joiner, zero-width spaces) are removed, as in the list.
var smartEncodingTable = [...]struct {
	r  rune
	to string
}{
	{0x00AB, `"`},   // LEFT-POINTING DOUBLE ANGLE QUOTATION MARK
	{0x00BB, `"`},   // RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK
	{0x201C, `"`},   // LEFT DOUBLE QUOTATION MARK
	{0x201D, `"`},   // RIGHT DOUBLE QUOTATION MARK
	{0x02BA, `"`},   // MODIFIER LETTER DOUBLE PRIME
	{0x02EE, `"`},   // MODIFIER LETTER DOUBLE APOSTROPHE
	{0x201F, `"`},   // DOUBLE HIGH-REVERSED-9 QUOTATION MARK
	{0x201E, `"`},   // DOUBLE LOW-9 QUOTATION MARK
	{0x275D, `"`},   // HEAVY DOUBLE TURNED COMMA QUOTATION MARK ORNAMENT
	{0x275E, `"`},   // HEAVY DOUBLE COMMA QUOTATION MARK ORNAMENT
	{0x301D, `"`},   // REVERSED DOUBLE PRIME QUOTATION MARK
	{0x301E, `"`},   // DOUBLE PRIME QUOTATION MARK
	{0xFF02, `"`},   // FULLWIDTH QUOTATION MARK
	{0x2018, "'"},   // LEFT SINGLE QUOTATION MARK
	{0x2019, "'"},   // RIGHT SINGLE QUOTATION MARK
	{0x02BB, "'"},   // MODIFIER LETTER TURNED COMMA
	{0x02C8, "'"},   // MODIFIER LETTER VERTICAL LINE
	{0x02BC, "'"},   // MODIFIER LETTER APOSTROPHE
	{0x02BD, "'"},   // MODIFIER LETTER REVERSED COMMA
	{0x02B9, "'"},   // MODIFIER LETTER PRIME
	{0x201B, "'"},   // SINGLE HIGH-REVERSED-9 QUOTATION MARK
	{0xFF07, "'"},   // FULLWIDTH APOSTROPHE
	{0x00B4, "'"},   // ACUTE ACCENT
	{0x02CA, "'"},   // MODIFIER LETTER ACUTE ACCENT
	{0x0060, "'"},   // GRAVE ACCENT
	{0x02CB, "'"},   // MODIFIER LETTER GRAVE ACCENT
	{0x275B, "'"},   // HEAVY SINGLE TURNED COMMA QUOTATION MARK ORNAMENT
	{0x275C, "'"},   // HEAVY SINGLE COMMA QUOTATION MARK ORNAMENT
	{0xFE10, "'"},   // PRESENTATION FORM FOR VERTICAL COMMA
	{0xFE11, "'"},   // PRESENTATION FORM FOR VERTICAL IDEOGRAPHIC COMMA
	{0x00F7, "/"},   // DIVISION SIGN
	{0x00BC, "1/4"}, // VULGAR FRACTION ONE QUARTER
	{0x00BD, "1/2"}, // VULGAR FRACTION ONE HALF
	{0x00BE, "3/4"}, // VULGAR FRACTION THREE QUARTERS
	{0x29F8, "/"},   // BIG SOLIDUS
	{0x2044, "/"},   // FRACTION SLASH
	{0x2215, "/"},   // DIVISION SLASH
	{0xFF0F, "/"},   // FULLWIDTH SOLIDUS
	{0x29F9, "\\"},  // BIG REVERSE SOLIDUS
	{0x29F5, "\\"},  // REVERSE SOLIDUS OPERATOR
	{0xFE68, "\\"},  // SMALL REVERSE SOLIDUS
	{0xFF3C, "\\"},  // FULLWIDTH REVERSE SOLIDUS
	{0xFF3F, "_"},   // FULLWIDTH LOW LINE
	{0x2223, "|"},   // DIVIDES
	{0xFF5C, "|"},   // FULLWIDTH VERTICAL LINE
	{0x23B8, "|"},   // LEFT VERTICAL BOX LINE
	{0x23B9, "|"},   // RIGHT VERTICAL BOX LINE
	{0x23D0, "|"},   // VERTICAL LINE EXTENSION
	{0x239C, "|"},   // LEFT PARENTHESIS EXTENSION
	{0x239F, "|"},   // RIGHT PARENTHESIS EXTENSION
	{0x23BC, "-"},   // HORIZONTAL SCAN LINE-7
	{0x23BD, "-"},   // HORIZONTAL SCAN LINE-9
	{0x2015, "-"},   // HORIZONTAL BAR
	{0xFE63, "-"},   // SMALL HYPHEN-MINUS
	{0xFF0D, "-"},   // FULLWIDTH HYPHEN-MINUS
	{0x2010, "-"},   // HYPHEN
	{0x2043, "-"},   // HYPHEN BULLET
	{0xFE6B, "@"},   // SMALL COMMERCIAL AT
	{0xFF20, "@"},   // FULLWIDTH COMMERCIAL AT
	{0xFE69, "$"},   // SMALL DOLLAR SIGN
	{0xFF04, "$"},   // FULLWIDTH DOLLAR SIGN
	{0x01C3, "!"},   // LATIN LETTER RETROFLEX CLICK
	{0xFE15, "!"},   // PRESENTATION FORM FOR VERTICAL EXCLAMATION MARK
	{0xFE57, "!"},   // SMALL EXCLAMATION MARK
	{0xFF01, "!"},   // FULLWIDTH EXCLAMATION MARK
	{0xFE5F, "#"},   // SMALL NUMBER SIGN
	{0xFF03, "#"},   // FULLWIDTH NUMBER SIGN
	{0xFE6A, "%"},   // SMALL PERCENT SIGN
	{0xFF05, "%"},   // FULLWIDTH PERCENT SIGN
	{0xFE60, "&"},   // SMALL AMPERSAND
	{0xFF06, "&"},   // FULLWIDTH AMPERSAND
	{0x201A, ","},   // SINGLE LOW-9 QUOTATION MARK
	{0xFE50, ","},   // SMALL COMMA
	{0xFE51, ","},   // SMALL IDEOGRAPHIC COMMA
	{0xFF0C, ","},   // FULLWIDTH COMMA
	{0xFF64, ","},   // HALFWIDTH IDEOGRAPHIC COMMA
	{0x2768, "("},   // MEDIUM LEFT PARENTHESIS ORNAMENT
	{0x276A, "("},   // MEDIUM FLATTENED LEFT PARENTHESIS ORNAMENT
	{0xFE59, "("},   // SMALL LEFT PARENTHESIS
	{0xFF08, "("},   // FULLWIDTH LEFT PARENTHESIS
	{0x27EE, "("},   // MATHEMATICAL LEFT FLATTENED PARENTHESIS
	{0x2985, "("},   // LEFT WHITE PARENTHESIS
	{0x2769, ")"},   // MEDIUM RIGHT PARENTHESIS ORNAMENT
	{0x276B, ")"},   // MEDIUM FLATTENED RIGHT PARENTHESIS ORNAMENT
	{0xFE5A, ")"},   // SMALL RIGHT PARENTHESIS
	{0xFF09, ")"},   // FULLWIDTH RIGHT PARENTHESIS
	{0x27EF, ")"},   // MATHEMATICAL RIGHT FLATTENED PARENTHESIS
	{0x2986, ")"},   // RIGHT WHITE PARENTHESIS
	{0x204E, "*"},   // LOW ASTERISK
	{0x2217, "*"},   // ASTERISK OPERATOR
	{0x229B, "*"},   // CIRCLED ASTERISK OPERATOR
	{0x2722, "*"},   // FOUR TEARDROP-SPOKED ASTERISK
	{0x2723, "*"},   // FOUR BALLOON-SPOKED ASTERISK
	{0x2724, "*"},   // HEAVY FOUR BALLOON-SPOKED ASTERISK
	{0x2725, "*"},   // FOUR CLUB-SPOKED ASTERISK
	{0x2731, "*"},   // HEAVY ASTERISK
	{0x2732, "*"},   // OPEN CENTRE ASTERISK
	{0x2733, "*"},   // EIGHT SPOKED ASTERISK
	{0x273A, "*"},   // SIXTEEN POINTED ASTERISK
	{0x273B, "*"},   // TEARDROP-SPOKED ASTERISK
	{0x273C, "*"},   // OPEN CENTRE TEARDROP-SPOKED ASTERISK
	{0x273D, "*"},   // HEAVY TEARDROP-SPOKED ASTERISK
	{0x2743, "*"},   // HEAVY TEARDROP-SPOKED PINWHEEL ASTERISK
	{0x2749, "*"},   // BALLOON-SPOKED ASTERISK
	{0x274A, "*"},   // EIGHT TEARDROP-SPOKED PROPELLER ASTERISK
	{0x274B, "*"},   // HEAVY EIGHT TEARDROP-SPOKED PROPELLER ASTERISK
	{0x29C6, "*"},   // SQUARED ASTERISK
	{0xFE61, "*"},   // SMALL ASTERISK
	{0xFF0A, "*"},   // FULLWIDTH ASTERISK
	{0x02D6, "+"},   // MODIFIER LETTER PLUS SIGN
	{0xFE62, "+"},   // SMALL PLUS SIGN
	{0xFF0B, "+"},   // FULLWIDTH PLUS SIGN
	{0x3002, "."},   // IDEOGRAPHIC FULL STOP
	{0xFE52, "."},   // SMALL FULL STOP
	{0xFF0E, "."},   // FULLWIDTH FULL STOP
	{0xFF61, "."},   // HALFWIDTH IDEOGRAPHIC FULL STOP
	{0xFF10, "0"},   // FULLWIDTH DIGIT ZERO
	{0xFF11, "1"},   // FULLWIDTH DIGIT ONE
	{0xFF12, "2"},   // FULLWIDTH DIGIT TWO
	{0xFF13, "3"},   // FULLWIDTH DIGIT THREE
	{0xFF14, "4"},   // FULLWIDTH DIGIT FOUR
	{0xFF15, "5"},   // FULLWIDTH DIGIT FIVE
	{0xFF16, "6"},   // FULLWIDTH DIGIT SIX
	{0xFF17, "7"},   // FULLWIDTH DIGIT SEVEN
	{0xFF18, "8"},   // FULLWIDTH DIGIT EIGHT
	{0xFF19, "9"},   // FULLWIDTH DIGIT NINE
	{0x02D0, ":"},   // MODIFIER LETTER TRIANGULAR COLON
	{0x02F8, ":"},   // MODIFIER LETTER RAISED COLON
	{0x2982, ":"},   // Z NOTATION TYPE COLON
	{0xA789, ":"},   // MODIFIER LETTER COLON
	{0xFE13, ":"},   // PRESENTATION FORM FOR VERTICAL COLON
	{0xFF1A, ":"},   // FULLWIDTH COLON
	{0x204F, ";"},   // REVERSED SEMICOLON
	{0xFE14, ";"},   // PRESENTATION FORM FOR VERTICAL SEMICOLON
	{0xFE54, ";"},   // SMALL SEMICOLON
	{0xFF1B, ";"},   // FULLWIDTH SEMICOLON
	{0xFE64, "<"},   // SMALL LESS-THAN SIGN
	{0xFF1C, "<"},   // FULLWIDTH LESS-THAN SIGN
	{0xA78A, "="},   // MODIFIER LETTER SHORT EQUALS SIGN
	{0xFE66, "="},   // SMALL EQUALS SIGN
	{0xFF1D, "="},   // FULLWIDTH EQUALS SIGN
	{0xFE65, ">"},   // SMALL GREATER-THAN SIGN
	{0xFF1E, ">"},   // FULLWIDTH GREATER-THAN SIGN
	{0xFE16, "?"},   // PRESENTATION FORM FOR VERTICAL QUESTION MARK
	{0xFE56, "?"},   // SMALL QUESTION MARK
	{0xFF1F, "?"},   // FULLWIDTH QUESTION MARK
	{0xFF21, "A"},   // FULLWIDTH LATIN CAPITAL LETTER A
	{0x1D00, "A"},   // LATIN LETTER SMALL CAPITAL A
	{0xFF22, "B"},   // FULLWIDTH LATIN CAPITAL LETTER B
	{0x0299, "B"},   // LATIN LETTER SMALL CAPITAL B
	{0xFF23, "C"},   // FULLWIDTH LATIN CAPITAL LETTER C
	{0x1D04, "C"},   // LATIN LETTER SMALL CAPITAL C
	{0xFF24, "D"},   // FULLWIDTH LATIN CAPITAL LETTER D
	{0x1D05, "D"},   // LATIN LETTER SMALL CAPITAL D
	{0xFF25, "E"},   // FULLWIDTH LATIN CAPITAL LETTER E
	{0x1D07, "E"},   // LATIN LETTER SMALL CAPITAL E
	{0xFF26, "F"},   // FULLWIDTH LATIN CAPITAL LETTER F
	{0xA730, "F"},   // LATIN LETTER SMALL CAPITAL F
	{0xFF27, "G"},   // FULLWIDTH LATIN CAPITAL LETTER G
	{0x0262, "G"},   // LATIN LETTER SMALL CAPITAL G
	{0xFF28, "H"},   // FULLWIDTH LATIN CAPITAL LETTER H
	{0x029C, "H"},   // LATIN LETTER SMALL CAPITAL H
	{0xFF29, "I"},   // FULLWIDTH LATIN CAPITAL LETTER I
	{0x026A, "I"},   // LATIN LETTER SMALL CAPITAL I
	{0xFF2A, "J"},   // FULLWIDTH LATIN CAPITAL LETTER J
	{0x1D0A, "J"},   // LATIN LETTER SMALL CAPITAL J
	{0xFF2B, "K"},   // FULLWIDTH LATIN CAPITAL LETTER K
	{0x1D0B, "K"},   // LATIN LETTER SMALL CAPITAL K
	{0xFF2C, "L"},   // FULLWIDTH LATIN CAPITAL LETTER L
	{0x029F, "L"},   // LATIN LETTER SMALL CAPITAL L
	{0xFF2D, "M"},   // FULLWIDTH LATIN CAPITAL LETTER M
	{0x1D0D, "M"},   // LATIN LETTER SMALL CAPITAL M
	{0xFF2E, "N"},   // FULLWIDTH LATIN CAPITAL LETTER N
	{0x0274, "N"},   // LATIN LETTER SMALL CAPITAL N
	{0xFF2F, "O"},   // FULLWIDTH LATIN CAPITAL LETTER O
	{0x1D0F, "O"},   // LATIN LETTER SMALL CAPITAL O
	{0xFF30, "P"},   // FULLWIDTH LATIN CAPITAL LETTER P
	{0x1D18, "P"},   // LATIN LETTER SMALL CAPITAL P
	{0xFF31, "Q"},   // FULLWIDTH LATIN CAPITAL LETTER Q
	{0xFF32, "R"},   // FULLWIDTH LATIN CAPITAL LETTER R
	{0x0280, "R"},   // LATIN LETTER SMALL CAPITAL R
	{0xFF33, "S"},   // FULLWIDTH LATIN CAPITAL LETTER S
	{0xA731, "S"},   // LATIN LETTER SMALL CAPITAL S
	{0xFF34, "T"},   // FULLWIDTH LATIN CAPITAL LETTER T
	{0x1D1B, "T"},   // LATIN LETTER SMALL CAPITAL T
	{0xFF35, "U"},   // FULLWIDTH LATIN CAPITAL LETTER U
	{0x1D1C, "U"},   // LATIN LETTER SMALL CAPITAL U
	{0xFF36, "V"},   // FULLWIDTH LATIN CAPITAL LETTER V
	{0x1D20, "V"},   // LATIN LETTER SMALL CAPITAL V
	{0xFF37, "W"},   // FULLWIDTH LATIN CAPITAL LETTER W
	{0x1D21, "W"},   // LATIN LETTER SMALL CAPITAL W
	{0xFF38, "X"},   // FULLWIDTH LATIN CAPITAL LETTER X
	{0xFF39, "Y"},   // FULLWIDTH LATIN CAPITAL LETTER Y
	{0x028F, "Y"},   // LATIN LETTER SMALL CAPITAL Y
	{0xFF3A, "Z"},   // FULLWIDTH LATIN CAPITAL LETTER Z
	{0x1D22, "Z"},   // LATIN LETTER SMALL CAPITAL Z
	{0x02C6, "^"},   // MODIFIER LETTER CIRCUMFLEX ACCENT
	{0xFF3E, "^"},   // FULLWIDTH CIRCUMFLEX ACCENT
	{0x2774, "{"},   // MEDIUM LEFT CURLY BRACKET ORNAMENT
	{0xFE5B, "{"},   // SMALL LEFT CURLY BRACKET
	{0xFF5B, "{"},   // FULLWIDTH LEFT CURLY BRACKET
	{0x2775, "}"},   // MEDIUM RIGHT CURLY BRACKET ORNAMENT
	{0xFE5C, "}"},   // SMALL RIGHT CURLY BRACKET
	{0xFF5D, "}"},   // FULLWIDTH RIGHT CURLY BRACKET
	{0xFF3B, "["},   // FULLWIDTH LEFT SQUARE BRACKET
	{0xFF3D, "]"},   // FULLWIDTH RIGHT SQUARE BRACKET
	{0x02DC, "~"},   // SMALL TILDE
	{0x02F7, "~"},   // MODIFIER LETTER LOW TILDE
	{0x223C, "~"},   // TILDE OPERATOR
	{0xFF5E, "~"},   // FULLWIDTH TILDE
	{0x00A0, " "},   // NO-BREAK SPACE
	{0x2000, " "},   // EN QUAD
	{0x2002, " "},   // EN SPACE
	{0x2003, " "},   // EM SPACE
	{0x2004, " "},   // THREE-PER-EM SPACE
	{0x2005, " "},   // FOUR-PER-EM SPACE
	{0x2006, " "},   // SIX-PER-EM SPACE
	{0x2007, " "},   // FIGURE SPACE
	{0x2008, " "},   // PUNCTUATION SPACE
	{0x2009, " "},   // THIN SPACE
	{0x200A, " "},   // HAIR SPACE
	{0x202F, " "},   // NARROW NO-BREAK SPACE
	{0x205F, " "},   // MEDIUM MATHEMATICAL SPACE
	{0x3000, " "},   // IDEOGRAPHIC SPACE
	{0x008D, " "},   // REVERSE LINE FEED (C1 control)
	{0x009F, " "},   // APPLICATION PROGRAM COMMAND (C1 control)
	{0x0080, " "},   // PADDING CHARACTER (C1 control)
	{0x0090, " "},   // DEVICE CONTROL STRING (C1 control)
	{0x009B, " "},   // CONTROL SEQUENCE INTRODUCER (C1 control)
	{0x0010, ""},    // DATA LINK ESCAPE
	{0x0009, " "},   // CHARACTER TABULATION
	{0x0000, ""},    // NULL
	{0x0003, ""},    // END OF TEXT
	{0x0004, ""},    // END OF TRANSMISSION
	{0x0017, ""},    // END OF TRANSMISSION BLOCK
	{0x0019, ""},    // END OF MEDIUM
	{0x0011, ""},    // DEVICE CONTROL ONE
	{0x0012, ""},    // DEVICE CONTROL TWO
	{0x0013, ""},    // DEVICE CONTROL THREE
	{0x0014, ""},    // DEVICE CONTROL FOUR
	{0x2060, ""},    // WORD JOINER
	{0x2017, "_"},   // DOUBLE LOW LINE
	{0x2014, "-"},   // EM DASH
	{0x2013, "-"},   // EN DASH
	{0x2039, "<"},   // SINGLE LEFT-POINTING ANGLE QUOTATION MARK
	{0x203A, ">"},   // SINGLE RIGHT-POINTING ANGLE QUOTATION MARK
	{0x203C, "!!"},  // DOUBLE EXCLAMATION MARK
	{0x2028, " "},   // LINE SEPARATOR
	{0x2029, " "},   // PARAGRAPH SEPARATOR
	{0x2026, "..."}, // HORIZONTAL ELLIPSIS
	{0x2001, " "},   // EM QUAD
	{0x200B, ""},    // ZERO WIDTH SPACE
	{0x3001, ","},   // IDEOGRAPHIC COMMA
	{0xFEFF, ""},    // ZERO WIDTH NO-BREAK SPACE
	{0x2022, "-"},   // BULLET
}

// smartEncodings is smartEncodingTable by character.
var smartEncodings = func() map[rune]string {
	m := make(map[rune]string, len(smartEncodingTable))
	for _, e := range smartEncodingTable {
		m[e.r] = e.to
	}
	return m
}()

// SmartEncode returns body with every look-alike character of Twilio's
// smart-encoding list replaced by the GSM-7 text it looks like (curly
// quotes by straight ones, dashes by "-", "…" by "...", Unicode spaces by a
// space; see smartEncodingTable), but only when that makes the whole body
// GSM-7, keeps it within MaxBodyChars characters and leaves something to
// send. Otherwise, and for a body that already is GSM-7, it returns body
// itself. It allocates only
// the body it returns.
func SmartEncode(body string) string {
	if !NeedsUCS2(body) {
		return body
	}
	// First pass: can every character be sent as GSM-7, and how long is
	// the result?
	chars, size := 0, 0
	for _, r := range body {
		if gsmRuneCost(r) != 0 {
			chars++
			size += utf8.RuneLen(r)
			continue
		}
		to, ok := smartEncodings[r]
		if !ok {
			return body
		}
		chars += len(to) // replacements are ASCII
		size += len(to)
	}
	if chars == 0 || chars > MaxBodyChars {
		// Nothing but invisible characters would be left, or too much.
		return body
	}
	var b strings.Builder
	b.Grow(size)
	for _, r := range body {
		if gsmRuneCost(r) != 0 {
			b.WriteRune(r)
			continue
		}
		b.WriteString(smartEncodings[r])
	}
	return b.String()
}
