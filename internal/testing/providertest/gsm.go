package providertest

import "unicode/utf16"

// The fakes count and split SMS parts with their own implementation of
// docs/providers.md#encoding-and-segments rather than the service's: a fake
// that shares the code under test could not catch a mistake in it.

// gsmBasic and gsmExtension are the GSM 03.38 tables: a basic character
// costs one septet, an extension character two (ESC + code).
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtension = "\f^{}\\[~]|€"
)

// septetCost maps every GSM-7 character to its cost in septets.
var septetCost = func() map[rune]int {
	m := make(map[rune]int, 140)
	for _, r := range gsmBasic {
		m[r] = 1
	}
	for _, r := range gsmExtension {
		m[r] = 2
	}
	return m
}()

// needsUCS2 reports whether body has a character outside both GSM-7 tables.
func needsUCS2(body string) bool {
	for _, r := range body {
		if septetCost[r] == 0 {
			return true
		}
	}
	return false
}

// Part capacities in units: septets for GSM-7, UTF-16 code units for UCS-2.
const (
	gsmSingle, gsmPerPart = 160, 153
	ucsSingle, ucsPerPart = 70, 67
)

// unitCost is what one character costs in the chosen encoding. A character
// that GSM-7 cannot carry, sent as GSM-7 anyway, is replaced by one septet.
func unitCost(r rune, ucs2 bool) int {
	if ucs2 {
		return utf16.RuneLen(r)
	}
	if c := septetCost[r]; c > 0 {
		return c
	}
	return 1
}

// units is the length of body in the encoding's units.
func units(body string, ucs2 bool) int {
	n := 0
	for _, r := range body {
		n += unitCost(r, ucs2)
	}
	return n
}

// splitParts cuts body into the parts a provider sends: the whole body when
// it fits in one SMS, otherwise parts filled up to 153 septets or 67 code
// units, never splitting a two-unit character (escape or surrogate pair).
func splitParts(body string, ucs2 bool) []string {
	single, per := gsmSingle, gsmPerPart
	if ucs2 {
		single, per = ucsSingle, ucsPerPart
	}
	if body == "" {
		return nil
	}
	if units(body, ucs2) <= single {
		return []string{body}
	}
	var parts []string
	start, used := 0, 0
	for i, r := range body {
		c := unitCost(r, ucs2)
		if used+c > per {
			parts = append(parts, body[start:i])
			start, used = i, 0
		}
		used += c
	}
	return append(parts, body[start:])
}
