package sms

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// kept in the smart-encoding table test marks a character of Twilio's list
// that SmartEncode deliberately leaves as it is.
const kept = "(kept)"

// twilioSmartEncoding is Twilio's published smart-encoding list, character
// by character: what the list replaces each character with, and what
// SmartEncode does. Where they differ, the comment says why: a look-alike
// must become what it looks like.
var twilioSmartEncoding = []struct {
	r      rune
	name   string
	twilio string
	want   string
}{
	{0x00AB, "LEFT-POINTING DOUBLE ANGLE QUOTATION MARK", `"`, `"`},
	{0x00BB, "RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK", `"`, `"`},
	{0x201C, "LEFT DOUBLE QUOTATION MARK", `"`, `"`},
	{0x201D, "RIGHT DOUBLE QUOTATION MARK", `"`, `"`},
	{0x02BA, "MODIFIER LETTER DOUBLE PRIME", `"`, `"`},
	{0x02EE, "MODIFIER LETTER DOUBLE APOSTROPHE", `"`, `"`},
	{0x201F, "DOUBLE HIGH-REVERSED-9 QUOTATION MARK", `"`, `"`},
	{0x201E, "DOUBLE LOW-9 QUOTATION MARK", `"`, `"`},
	{0x275D, "HEAVY DOUBLE TURNED COMMA QUOTATION MARK ORNAMENT", `"`, `"`},
	{0x275E, "HEAVY DOUBLE COMMA QUOTATION MARK ORNAMENT", `"`, `"`},
	{0x301D, "REVERSED DOUBLE PRIME QUOTATION MARK", `"`, `"`},
	{0x301E, "DOUBLE PRIME QUOTATION MARK", `"`, `"`},
	{0xFF02, "FULLWIDTH QUOTATION MARK", `"`, `"`},
	{0x2018, "LEFT SINGLE QUOTATION MARK", "'", "'"},
	{0x2019, "RIGHT SINGLE QUOTATION MARK", "'", "'"},
	{0x02BB, "MODIFIER LETTER TURNED COMMA", "'", "'"},
	{0x02C8, "MODIFIER LETTER VERTICAL LINE", "'", "'"},
	{0x02BC, "MODIFIER LETTER APOSTROPHE", "'", "'"},
	{0x02BD, "MODIFIER LETTER REVERSED COMMA", "'", "'"},
	{0x02B9, "MODIFIER LETTER PRIME", "'", "'"},
	{0x201B, "SINGLE HIGH-REVERSED-9 QUOTATION MARK", "'", "'"},
	{0xFF07, "FULLWIDTH APOSTROPHE", "'", "'"},
	{0x00B4, "ACUTE ACCENT", "'", "'"},
	{0x02CA, "MODIFIER LETTER ACUTE ACCENT", "'", "'"},
	{0x0060, "GRAVE ACCENT", "'", "'"},
	{0x02CB, "MODIFIER LETTER GRAVE ACCENT", "'", "'"},
	{0x275B, "HEAVY SINGLE TURNED COMMA QUOTATION MARK ORNAMENT", "'", "'"},
	{0x275C, "HEAVY SINGLE COMMA QUOTATION MARK ORNAMENT", "'", "'"},
	{0x0313, "COMBINING COMMA ABOVE", "'", kept},          // combining mark: modifies the letter before it
	{0x0314, "COMBINING REVERSED COMMA ABOVE", "'", kept}, // combining mark: modifies the letter before it
	{0xFE10, "PRESENTATION FORM FOR VERTICAL COMMA", "'", "'"},
	{0xFE11, "PRESENTATION FORM FOR VERTICAL IDEOGRAPHIC COMMA", "'", "'"},
	{0x00F7, "DIVISION SIGN", "/", "/"},
	{0x00BC, "VULGAR FRACTION ONE QUARTER", "1/4", "1/4"},
	{0x00BD, "VULGAR FRACTION ONE HALF", "1/2", "1/2"},
	{0x00BE, "VULGAR FRACTION THREE QUARTERS", "3/4", "3/4"},
	{0x29F8, "BIG SOLIDUS", "/", "/"},
	{0x0337, "COMBINING SHORT SOLIDUS OVERLAY", "/", kept}, // combining mark: modifies the letter before it
	{0x0338, "COMBINING LONG SOLIDUS OVERLAY", "/", kept},  // combining mark: modifies the letter before it
	{0x2044, "FRACTION SLASH", "/", "/"},
	{0x2215, "DIVISION SLASH", "/", "/"},
	{0xFF0F, "FULLWIDTH SOLIDUS", "/", "/"},
	{0x29F9, "BIG REVERSE SOLIDUS", "\\", "\\"},
	{0x29F5, "REVERSE SOLIDUS OPERATOR", "\\", "\\"},
	{0x20E5, "COMBINING REVERSE SOLIDUS OVERLAY", "\\", kept}, // combining mark: modifies the letter before it
	{0xFE68, "SMALL REVERSE SOLIDUS", "\\", "\\"},
	{0xFF3C, "FULLWIDTH REVERSE SOLIDUS", "\\", "\\"},
	{0x0332, "COMBINING LOW LINE", "_", kept}, // combining mark: modifies the letter before it
	{0xFF3F, "FULLWIDTH LOW LINE", "_", "_"},
	{0x20D2, "COMBINING LONG VERTICAL LINE OVERLAY", "|", kept},  // combining mark: modifies the letter before it
	{0x20D3, "COMBINING SHORT VERTICAL LINE OVERLAY", "|", kept}, // combining mark: modifies the letter before it
	{0x2223, "DIVIDES", "|", "|"},
	{0xFF5C, "FULLWIDTH VERTICAL LINE", "|", "|"},
	{0x23B8, "LEFT VERTICAL BOX LINE", "|", "|"},
	{0x23B9, "RIGHT VERTICAL BOX LINE", "|", "|"},
	{0x23D0, "VERTICAL LINE EXTENSION", "|", "|"},
	{0x239C, "LEFT PARENTHESIS EXTENSION", "|", "|"},
	{0x239F, "RIGHT PARENTHESIS EXTENSION", "|", "|"},
	{0x23BC, "HORIZONTAL SCAN LINE-7", "-", "-"},
	{0x23BD, "HORIZONTAL SCAN LINE-9", "-", "-"},
	{0x2015, "HORIZONTAL BAR", "-", "-"},
	{0xFE63, "SMALL HYPHEN-MINUS", "-", "-"},
	{0xFF0D, "FULLWIDTH HYPHEN-MINUS", "-", "-"},
	{0x2010, "HYPHEN", "-", "-"},
	{0x2043, "HYPHEN BULLET", "-", "-"},
	{0xFE6B, "SMALL COMMERCIAL AT", "@", "@"},
	{0xFF20, "FULLWIDTH COMMERCIAL AT", "@", "@"},
	{0xFE69, "SMALL DOLLAR SIGN", "$", "$"},
	{0xFF04, "FULLWIDTH DOLLAR SIGN", "$", "$"},
	{0x01C3, "LATIN LETTER RETROFLEX CLICK", "!", "!"},
	{0xFE15, "PRESENTATION FORM FOR VERTICAL EXCLAMATION MARK", "!", "!"},
	{0xFE57, "SMALL EXCLAMATION MARK", "!", "!"},
	{0xFF01, "FULLWIDTH EXCLAMATION MARK", "!", "!"},
	{0xFE5F, "SMALL NUMBER SIGN", "#", "#"},
	{0xFF03, "FULLWIDTH NUMBER SIGN", "#", "#"},
	{0xFE6A, "SMALL PERCENT SIGN", "%", "%"},
	{0xFF05, "FULLWIDTH PERCENT SIGN", "%", "%"},
	{0xFE60, "SMALL AMPERSAND", "&", "&"},
	{0xFF06, "FULLWIDTH AMPERSAND", "&", "&"},
	{0x201A, "SINGLE LOW-9 QUOTATION MARK", ",", ","},
	{0x0326, "COMBINING COMMA BELOW", ",", kept}, // combining mark: modifies the letter before it
	{0xFE50, "SMALL COMMA", ",", ","},
	{0xFE51, "SMALL IDEOGRAPHIC COMMA", ",", ","},
	{0xFF0C, "FULLWIDTH COMMA", ",", ","},
	{0xFF64, "HALFWIDTH IDEOGRAPHIC COMMA", ",", ","},
	{0x2768, "MEDIUM LEFT PARENTHESIS ORNAMENT", "(", "("},
	{0x276A, "MEDIUM FLATTENED LEFT PARENTHESIS ORNAMENT", "(", "("},
	{0xFE59, "SMALL LEFT PARENTHESIS", "(", "("},
	{0xFF08, "FULLWIDTH LEFT PARENTHESIS", "(", "("},
	{0x27EE, "MATHEMATICAL LEFT FLATTENED PARENTHESIS", "(", "("},
	{0x2985, "LEFT WHITE PARENTHESIS", "(", "("},
	{0x2769, "MEDIUM RIGHT PARENTHESIS ORNAMENT", ")", ")"},
	{0x276B, "MEDIUM FLATTENED RIGHT PARENTHESIS ORNAMENT", ")", ")"},
	{0xFE5A, "SMALL RIGHT PARENTHESIS", ")", ")"},
	{0xFF09, "FULLWIDTH RIGHT PARENTHESIS", ")", ")"},
	{0x27EF, "MATHEMATICAL RIGHT FLATTENED PARENTHESIS", ")", ")"},
	{0x2986, "RIGHT WHITE PARENTHESIS", ")", ")"},
	{0x204E, "LOW ASTERISK", "*", "*"},
	{0x2217, "ASTERISK OPERATOR", "*", "*"},
	{0x229B, "CIRCLED ASTERISK OPERATOR", "*", "*"},
	{0x2722, "FOUR TEARDROP-SPOKED ASTERISK", "*", "*"},
	{0x2723, "FOUR BALLOON-SPOKED ASTERISK", "*", "*"},
	{0x2724, "HEAVY FOUR BALLOON-SPOKED ASTERISK", "*", "*"},
	{0x2725, "FOUR CLUB-SPOKED ASTERISK", "*", "*"},
	{0x2731, "HEAVY ASTERISK", "*", "*"},
	{0x2732, "OPEN CENTRE ASTERISK", "*", "*"},
	{0x2733, "EIGHT SPOKED ASTERISK", "*", "*"},
	{0x273A, "SIXTEEN POINTED ASTERISK", "*", "*"},
	{0x273B, "TEARDROP-SPOKED ASTERISK", "*", "*"},
	{0x273C, "OPEN CENTRE TEARDROP-SPOKED ASTERISK", "*", "*"},
	{0x273D, "HEAVY TEARDROP-SPOKED ASTERISK", "*", "*"},
	{0x2743, "HEAVY TEARDROP-SPOKED PINWHEEL ASTERISK", "*", "*"},
	{0x2749, "BALLOON-SPOKED ASTERISK", "*", "*"},
	{0x274A, "EIGHT TEARDROP-SPOKED PROPELLER ASTERISK", "*", "*"},
	{0x274B, "HEAVY EIGHT TEARDROP-SPOKED PROPELLER ASTERISK", "*", "*"},
	{0x29C6, "SQUARED ASTERISK", "*", "*"},
	{0xFE61, "SMALL ASTERISK", "*", "*"},
	{0xFF0A, "FULLWIDTH ASTERISK", "*", "*"},
	{0x02D6, "MODIFIER LETTER PLUS SIGN", "+", "+"},
	{0xFE62, "SMALL PLUS SIGN", "+", "+"},
	{0xFF0B, "FULLWIDTH PLUS SIGN", "+", "+"},
	{0x3002, "IDEOGRAPHIC FULL STOP", ".", "."},
	{0xFE52, "SMALL FULL STOP", ".", "."},
	{0xFF0E, "FULLWIDTH FULL STOP", ".", "."},
	{0xFF61, "HALFWIDTH IDEOGRAPHIC FULL STOP", ".", "."},
	{0xFF10, "FULLWIDTH DIGIT ZERO", "0", "0"},
	{0xFF11, "FULLWIDTH DIGIT ONE", "1", "1"},
	{0xFF12, "FULLWIDTH DIGIT TWO", "2", "2"},
	{0xFF13, "FULLWIDTH DIGIT THREE", "3", "3"},
	{0xFF14, "FULLWIDTH DIGIT FOUR", "4", "4"},
	{0xFF15, "FULLWIDTH DIGIT FIVE", "5", "5"},
	{0xFF16, "FULLWIDTH DIGIT SIX", "6", "6"},
	{0xFF17, "FULLWIDTH DIGIT SEVEN", "7", "7"},
	{0xFF18, "FULLWIDTH DIGIT EIGHT", "8", "8"},
	{0xFF19, "FULLWIDTH DIGIT NINE", "9", "9"},
	{0x02D0, "MODIFIER LETTER TRIANGULAR COLON", ":", ":"},
	{0x02F8, "MODIFIER LETTER RAISED COLON", ":", ":"},
	{0x2982, "Z NOTATION TYPE COLON", ":", ":"},
	{0xA789, "MODIFIER LETTER COLON", ":", ":"},
	{0xFE13, "PRESENTATION FORM FOR VERTICAL COLON", ":", ":"},
	{0xFF1A, "FULLWIDTH COLON", ":", ":"},
	{0x204F, "REVERSED SEMICOLON", ";", ";"},
	{0xFE14, "PRESENTATION FORM FOR VERTICAL SEMICOLON", ";", ";"},
	{0xFE54, "SMALL SEMICOLON", ";", ";"},
	{0xFF1B, "FULLWIDTH SEMICOLON", ";", ";"},
	{0xFE64, "SMALL LESS-THAN SIGN", "<", "<"},
	{0xFF1C, "FULLWIDTH LESS-THAN SIGN", "<", "<"},
	{0x0347, "COMBINING EQUALS SIGN BELOW", "=", kept}, // combining mark: modifies the letter before it
	{0xA78A, "MODIFIER LETTER SHORT EQUALS SIGN", "=", "="},
	{0xFE66, "SMALL EQUALS SIGN", "=", "="},
	{0xFF1D, "FULLWIDTH EQUALS SIGN", "=", "="},
	{0xFE65, "SMALL GREATER-THAN SIGN", ">", ">"},
	{0xFF1E, "FULLWIDTH GREATER-THAN SIGN", ">", ">"},
	{0xFE16, "PRESENTATION FORM FOR VERTICAL QUESTION MARK", "?", "?"},
	{0xFE56, "SMALL QUESTION MARK", "?", "?"},
	{0xFF1F, "FULLWIDTH QUESTION MARK", "?", "?"},
	{0xFF21, "FULLWIDTH LATIN CAPITAL LETTER A", "A", "A"},
	{0x1D00, "LATIN LETTER SMALL CAPITAL A", "A", "A"},
	{0xFF22, "FULLWIDTH LATIN CAPITAL LETTER B", "B", "B"},
	{0x0299, "LATIN LETTER SMALL CAPITAL B", "B", "B"},
	{0xFF23, "FULLWIDTH LATIN CAPITAL LETTER C", "C", "C"},
	{0x1D04, "LATIN LETTER SMALL CAPITAL C", "C", "C"},
	{0xFF24, "FULLWIDTH LATIN CAPITAL LETTER D", "D", "D"},
	{0x1D05, "LATIN LETTER SMALL CAPITAL D", "D", "D"},
	{0xFF25, "FULLWIDTH LATIN CAPITAL LETTER E", "E", "E"},
	{0x1D07, "LATIN LETTER SMALL CAPITAL E", "E", "E"},
	{0xFF26, "FULLWIDTH LATIN CAPITAL LETTER F", "F", "F"},
	{0xA730, "LATIN LETTER SMALL CAPITAL F", "F", "F"},
	{0xFF27, "FULLWIDTH LATIN CAPITAL LETTER G", "G", "G"},
	{0x0262, "LATIN LETTER SMALL CAPITAL G", "G", "G"},
	{0xFF28, "FULLWIDTH LATIN CAPITAL LETTER H", "H", "H"},
	{0x029C, "LATIN LETTER SMALL CAPITAL H", "H", "H"},
	{0xFF29, "FULLWIDTH LATIN CAPITAL LETTER I", "I", "I"},
	{0x026A, "LATIN LETTER SMALL CAPITAL I", "I", "I"},
	{0xFF2A, "FULLWIDTH LATIN CAPITAL LETTER J", "J", "J"},
	{0x1D0A, "LATIN LETTER SMALL CAPITAL J", "J", "J"},
	{0xFF2B, "FULLWIDTH LATIN CAPITAL LETTER K", "K", "K"},
	{0x1D0B, "LATIN LETTER SMALL CAPITAL K", "K", "K"},
	{0xFF2C, "FULLWIDTH LATIN CAPITAL LETTER L", "L", "L"},
	{0x029F, "LATIN LETTER SMALL CAPITAL L", "L", "L"},
	{0xFF2D, "FULLWIDTH LATIN CAPITAL LETTER M", "M", "M"},
	{0x1D0D, "LATIN LETTER SMALL CAPITAL M", "M", "M"},
	{0xFF2E, "FULLWIDTH LATIN CAPITAL LETTER N", "N", "N"},
	{0x0274, "LATIN LETTER SMALL CAPITAL N", "N", "N"},
	{0xFF2F, "FULLWIDTH LATIN CAPITAL LETTER O", "O", "O"},
	{0x1D0F, "LATIN LETTER SMALL CAPITAL O", "O", "O"},
	{0xFF30, "FULLWIDTH LATIN CAPITAL LETTER P", "P", "P"},
	{0x1D18, "LATIN LETTER SMALL CAPITAL P", "P", "P"},
	{0xFF31, "FULLWIDTH LATIN CAPITAL LETTER Q", "Q", "Q"},
	{0xFF32, "FULLWIDTH LATIN CAPITAL LETTER R", "R", "R"},
	{0x0280, "LATIN LETTER SMALL CAPITAL R", "R", "R"},
	{0xFF33, "FULLWIDTH LATIN CAPITAL LETTER S", "S", "S"},
	{0xA731, "LATIN LETTER SMALL CAPITAL S", "S", "S"},
	{0xFF34, "FULLWIDTH LATIN CAPITAL LETTER T", "T", "T"},
	{0x1D1B, "LATIN LETTER SMALL CAPITAL T", "T", "T"},
	{0xFF35, "FULLWIDTH LATIN CAPITAL LETTER U", "U", "U"},
	{0x1D1C, "LATIN LETTER SMALL CAPITAL U", "U", "U"},
	{0xFF36, "FULLWIDTH LATIN CAPITAL LETTER V", "V", "V"},
	{0x1D20, "LATIN LETTER SMALL CAPITAL V", "V", "V"},
	{0xFF37, "FULLWIDTH LATIN CAPITAL LETTER W", "W", "W"},
	{0x1D21, "LATIN LETTER SMALL CAPITAL W", "W", "W"},
	{0xFF38, "FULLWIDTH LATIN CAPITAL LETTER X", "X", "X"},
	{0xFF39, "FULLWIDTH LATIN CAPITAL LETTER Y", "Y", "Y"},
	{0x028F, "LATIN LETTER SMALL CAPITAL Y", "Y", "Y"},
	{0xFF3A, "FULLWIDTH LATIN CAPITAL LETTER Z", "Z", "Z"},
	{0x1D22, "LATIN LETTER SMALL CAPITAL Z", "Z", "Z"},
	{0x02C6, "MODIFIER LETTER CIRCUMFLEX ACCENT", "^", "^"},
	{0x0302, "COMBINING CIRCUMFLEX ACCENT", "^", kept}, // combining mark: modifies the letter before it
	{0xFF3E, "FULLWIDTH CIRCUMFLEX ACCENT", "^", "^"},
	{0x1DCD, "COMBINING DOUBLE CIRCUMFLEX ABOVE", "^", kept}, // combining mark: modifies the letter before it
	{0x2774, "MEDIUM LEFT CURLY BRACKET ORNAMENT", "{", "{"},
	{0xFE5B, "SMALL LEFT CURLY BRACKET", "{", "{"},
	{0xFF5B, "FULLWIDTH LEFT CURLY BRACKET", "{", "{"},
	{0x2775, "MEDIUM RIGHT CURLY BRACKET ORNAMENT", "}", "}"},
	{0xFE5C, "SMALL RIGHT CURLY BRACKET", "}", "}"},
	{0xFF5D, "FULLWIDTH RIGHT CURLY BRACKET", "}", "}"},
	{0xFF3B, "FULLWIDTH LEFT SQUARE BRACKET", "[", "["},
	{0xFF3D, "FULLWIDTH RIGHT SQUARE BRACKET", "]", "]"},
	{0x02DC, "SMALL TILDE", "~", "~"},
	{0x02F7, "MODIFIER LETTER LOW TILDE", "~", "~"},
	{0x0303, "COMBINING TILDE", "~", kept},         // combining mark: modifies the letter before it
	{0x0330, "COMBINING TILDE BELOW", "~", kept},   // combining mark: modifies the letter before it
	{0x0334, "COMBINING TILDE OVERLAY", "~", kept}, // combining mark: modifies the letter before it
	{0x223C, "TILDE OPERATOR", "~", "~"},
	{0xFF5E, "FULLWIDTH TILDE", "~", "~"},
	{0x00A0, "NO-BREAK SPACE", "  ", " "},                           // Twilio's list says 2 spaces
	{0x2000, "EN QUAD", "  ", " "},                                  // Twilio's list says 2 spaces
	{0x2002, "EN SPACE", "  ", " "},                                 // Twilio's list says 2 spaces
	{0x2003, "EM SPACE", "  ", " "},                                 // Twilio's list says 2 spaces
	{0x2004, "THREE-PER-EM SPACE", "  ", " "},                       // Twilio's list says 2 spaces
	{0x2005, "FOUR-PER-EM SPACE", "  ", " "},                        // Twilio's list says 2 spaces
	{0x2006, "SIX-PER-EM SPACE", "  ", " "},                         // Twilio's list says 2 spaces
	{0x2007, "FIGURE SPACE", "  ", " "},                             // Twilio's list says 2 spaces
	{0x2008, "PUNCTUATION SPACE", "  ", " "},                        // Twilio's list says 2 spaces
	{0x2009, "THIN SPACE", "  ", " "},                               // Twilio's list says 2 spaces
	{0x200A, "HAIR SPACE", "  ", " "},                               // Twilio's list says 2 spaces
	{0x202F, "NARROW NO-BREAK SPACE", "  ", " "},                    // Twilio's list says 2 spaces
	{0x205F, "MEDIUM MATHEMATICAL SPACE", "  ", " "},                // Twilio's list says 2 spaces
	{0x3000, "IDEOGRAPHIC SPACE", "  ", " "},                        // Twilio's list says 2 spaces
	{0x008D, "REVERSE LINE FEED (C1 control)", "  ", " "},           // Twilio's list says 2 spaces
	{0x009F, "APPLICATION PROGRAM COMMAND (C1 control)", "  ", " "}, // Twilio's list says 2 spaces
	{0x0080, "PADDING CHARACTER (C1 control)", "  ", " "},           // Twilio's list says 2 spaces
	{0x0090, "DEVICE CONTROL STRING (C1 control)", "  ", " "},       // Twilio's list says 2 spaces
	{0x009B, "CONTROL SEQUENCE INTRODUCER (C1 control)", "  ", " "}, // Twilio's list says 2 spaces
	{0x0010, "DATA LINK ESCAPE", "", ""},
	{0x0009, "CHARACTER TABULATION", "       ", " "}, // Twilio's list says 7 spaces
	{0x0000, "NULL", "", ""},
	{0x0003, "END OF TEXT", "", ""},
	{0x0004, "END OF TRANSMISSION", "", ""},
	{0x0017, "END OF TRANSMISSION BLOCK", "", ""},
	{0x0019, "END OF MEDIUM", "", ""},
	{0x0011, "DEVICE CONTROL ONE", "", ""},
	{0x0012, "DEVICE CONTROL TWO", "", ""},
	{0x0013, "DEVICE CONTROL THREE", "", ""},
	{0x0014, "DEVICE CONTROL FOUR", "", ""},
	{0x2060, "WORD JOINER", "", ""},
	{0x2017, "DOUBLE LOW LINE", "_", "_"},
	{0x2014, "EM DASH", "-", "-"},
	{0x2013, "EN DASH", "-", "-"},
	{0x2039, "SINGLE LEFT-POINTING ANGLE QUOTATION MARK", ">", "<"},  // Twilio's list says ">": reversed
	{0x203A, "SINGLE RIGHT-POINTING ANGLE QUOTATION MARK", "<", ">"}, // Twilio's list says "<": reversed
	{0x203C, "DOUBLE EXCLAMATION MARK", "!!", "!!"},
	{0x2028, "LINE SEPARATOR", " ", " "},
	{0x2029, "PARAGRAPH SEPARATOR", " ", " "},
	{0x2026, "HORIZONTAL ELLIPSIS", "...", "..."},
	{0x2001, "EM QUAD", " ", " "},
	{0x200B, "ZERO WIDTH SPACE", "", ""},
	{0x3001, "IDEOGRAPHIC COMMA", ",", ","},
	{0xFEFF, "ZERO WIDTH NO-BREAK SPACE", "", ""},
	{0x2022, "BULLET", "-", "-"},
}

func TestSmartEncodingTable(t *testing.T) {
	seen := map[rune]bool{}
	for _, c := range twilioSmartEncoding {
		t.Run(runeID(c.r)+" "+c.name, func(t *testing.T) {
			if seen[c.r] {
				t.Fatalf("listed twice")
			}
			seen[c.r] = true
			if gsmRuneCost(c.r) != 0 {
				t.Fatalf("is already GSM-7: smart encoding never sees it")
			}
			body := "a" + string(c.r) + "b"
			got := SmartEncode(body)
			if c.want == kept {
				if got != body {
					t.Errorf("SmartEncode(%q) = %q, want it kept", body, got)
				}
				if _, listed := smartEncodings[c.r]; listed {
					t.Errorf("in the table, but kept on purpose")
				}
				return
			}
			if want := "a" + c.want + "b"; got != want {
				t.Errorf("SmartEncode(%q) = %q, want %q", body, got, want)
			}
			if NeedsUCS2(got) {
				t.Errorf("SmartEncode(%q) = %q is not GSM-7", body, got)
			}
		})
	}
	// The table holds nothing that is not on Twilio's list.
	for _, e := range smartEncodingTable {
		if !seen[e.r] {
			t.Errorf("%s is replaced by %q but is not on Twilio's list", runeID(e.r), e.to)
		}
	}
	if got, want := len(twilioSmartEncoding), 270; got != want {
		t.Errorf("Twilio's list has %d characters here, want %d", got, want)
	}
}

// runeID names r as U+XXXX.
func runeID(r rune) string {
	const hex = "0123456789ABCDEF"
	return "U+" + string([]byte{hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15]})
}

func TestSmartEncode(t *testing.T) {
	long := strings.Repeat("a", MaxBodyChars-3)
	tests := []struct {
		name string
		body string
		want string
	}{
		{"GSM-7 stays", "Your code is 482901", "Your code is 482901"},
		{"curly quotes", "“Hello”, it’s me", `"Hello", it's me`},
		{"dashes and ellipsis", "Wait – no — yes…", "Wait - no - yes..."},
		{"no-break and thin spaces", "10\u00a0000\u2009kg", "10 000 kg"},
		{"angle quotes point as they look", "‹a› «b»", `<a> "b"`},
		{"fullwidth", "ＣＯＤＥ：１２３", "CODE:123"},
		{"extension-table result", "［x］｛y｝", "[x]{y}"},
		{"invisible characters removed", "co\u200bde\ufeff 1\u2060", "code 1"},
		{"GSM-7 letters kept around look-alikes", "Café “ouvert” à 9h", `Café "ouvert" à 9h`},
		{"emoji stays UCS-2: nothing replaced", "“Hi” 😀", "“Hi” 😀"},
		{"Cyrillic stays UCS-2: nothing replaced", "Код – 1", "Код – 1"},
		{"combining tilde is not a tilde", "Espan\u0303a – 1", "Espan\u0303a – 1"},
		{"only invisible characters: kept", "\u200b\u2060", "\u200b\u2060"},
		{"within 1600 characters", long + "…", long + "..."},
		{"beyond 1600 characters: kept", long + "a…", long + "a…"},
		{"invalid UTF-8 is not touched", "“a\xff", "“a\xff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SmartEncode(tt.body); got != tt.want {
				t.Errorf("SmartEncode(%q) = %q, want %q", tt.body, got, tt.want)
			}
		})
	}
}

// TestSmartEncodeSegments checks that the segments of a rewritten body
// describe what is sent: one GSM-7 part instead of three UCS-2 ones.
func TestSmartEncodeSegments(t *testing.T) {
	body := strings.Repeat("It’s “done” – ", 10) // 140 characters
	if s := CountSegments(body); s.Encoding != UCS2 || s.Count != 3 {
		t.Fatalf("CountSegments(original) = %+v, want 3 UCS-2 parts", s)
	}
	got := SmartEncode(body)
	if s := CountSegments(got); s.Encoding != GSM7 || s.Count != 1 {
		t.Errorf("CountSegments(SmartEncode()) = %+v, want 1 GSM-7 part", s)
	}
	if n := utf8.RuneCountInString(got); n != 140 {
		t.Errorf("rewritten body has %d characters, want 140", n)
	}
}

func TestSmartEncodeAllocations(t *testing.T) {
	gsm := "Your FluxKit code is 482901."
	smart := "Your FluxKit code is “482901”."
	ucs := "Dein Code: 482901 😀"
	for _, c := range []struct {
		name  string
		body  string
		allow float64
	}{{"GSM-7", gsm, 0}, {"rewritten", smart, 1}, {"UCS-2 kept", ucs, 0}} {
		if n := testing.AllocsPerRun(100, func() { _ = SmartEncode(c.body) }); n > c.allow {
			t.Errorf("SmartEncode(%s) allocates %v times, want at most %v", c.name, n, c.allow)
		}
	}
}

func BenchmarkSmartEncode(b *testing.B) {
	for name, body := range map[string]string{
		"30 GSM-7":     "Your FluxKit code is 482901.  ",
		"30 rewritten": "Your FluxKit code is “482901”.",
		"1600 emoji":   strings.Repeat("😀", 1600),
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = SmartEncode(body)
			}
		})
	}
}

// FuzzSmartEncode checks SmartEncode's promise on any input: the body
// comes back as it is, or rewritten into a non-empty GSM-7 body of at most
// MaxBodyChars characters; a GSM-7 body always comes back as it is.
func FuzzSmartEncode(f *testing.F) {
	for _, s := range []string{"", "plain", "“quoted” – text…", "Код", "\u200b", "a\xffb", strings.Repeat("…", 600)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		got := SmartEncode(body)
		if got == body {
			return
		}
		if !NeedsUCS2(body) {
			t.Fatalf("SmartEncode(%q) = %q: rewrote a GSM-7 body", body, got)
		}
		if got == "" || NeedsUCS2(got) || utf8.RuneCountInString(got) > MaxBodyChars {
			t.Fatalf("SmartEncode(%q) = %q: want a non-empty GSM-7 body of at most %d characters", body, got, MaxBodyChars)
		}
	})
}
