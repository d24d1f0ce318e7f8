package header

import (
	"errors"
	"strconv"
	"strings"
)

// This file parses and writes the small part of HTTP Structured Fields
// (RFC 9651) that the RateLimit and RateLimit-Policy headers use: a List of
// Items with Parameters. Inner lists are rejected; every bare item type is
// parsed so that unknown parameters can be skipped.

var errSyntax = errors.New("ratelimit/header: malformed structured field")

// sfKind is the type of a bare item.
type sfKind uint8

const (
	sfInteger sfKind = iota
	sfDecimal
	sfString
	sfToken
	sfBytes
	sfBool
	sfDate
	sfDisplay
)

// sfValue is a bare item. str holds the text of strings, tokens, byte
// sequences (still base64) and display strings.
type sfValue struct {
	kind sfKind
	num  int64 // integer, date, boolean (0/1)
	dec  float64
	str  string
}

type sfParam struct {
	key string
	val sfValue
}

type sfItem struct {
	val    sfValue
	params []sfParam
}

// parseSFList parses a List of Items.
func parseSFList(s string) ([]sfItem, error) {
	p := sfParser{s: s}
	p.skipSP()
	var items []sfItem
	if p.eof() {
		return nil, nil
	}
	for {
		it, err := p.item()
		if err != nil {
			return nil, err
		}
		items = append(items, it)
		p.skipOWS()
		if p.eof() {
			return items, nil
		}
		if p.s[p.i] != ',' {
			return nil, errSyntax
		}
		p.i++
		p.skipOWS()
		if p.eof() { // trailing comma
			return nil, errSyntax
		}
	}
}

type sfParser struct {
	s string
	i int
}

func (p *sfParser) eof() bool { return p.i >= len(p.s) }

func (p *sfParser) skipSP() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *sfParser) item() (sfItem, error) {
	v, err := p.bare()
	if err != nil {
		return sfItem{}, err
	}
	it := sfItem{val: v}
	for !p.eof() && p.s[p.i] == ';' {
		p.i++
		p.skipSP()
		k, err := p.key()
		if err != nil {
			return sfItem{}, err
		}
		pv := sfValue{kind: sfBool, num: 1}
		if !p.eof() && p.s[p.i] == '=' {
			p.i++
			if pv, err = p.bare(); err != nil {
				return sfItem{}, err
			}
		}
		replaced := false
		for j := range it.params { // a repeated key overrides the earlier one
			if it.params[j].key == k {
				it.params[j].val, replaced = pv, true
			}
		}
		if !replaced {
			it.params = append(it.params, sfParam{key: k, val: pv})
		}
	}
	return it, nil
}

func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool   { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// isTChar reports a token character of RFC 9110.
func isTChar(c byte) bool {
	if isAlpha(c) || isDigit(c) {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func (p *sfParser) key() (string, error) {
	if p.eof() || !(isLCAlpha(p.s[p.i]) || p.s[p.i] == '*') {
		return "", errSyntax
	}
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !(isLCAlpha(c) || isDigit(c) || c == '_' || c == '-' || c == '.' || c == '*') {
			break
		}
		p.i++
	}
	return p.s[start:p.i], nil
}

func (p *sfParser) bare() (sfValue, error) {
	if p.eof() {
		return sfValue{}, errSyntax
	}
	switch c := p.s[p.i]; {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		s, err := p.str()
		return sfValue{kind: sfString, str: s}, err
	case c == '*' || isAlpha(c):
		start := p.i
		p.i++
		for p.i < len(p.s) && (isTChar(p.s[p.i]) || p.s[p.i] == ':' || p.s[p.i] == '/') {
			p.i++
		}
		return sfValue{kind: sfToken, str: p.s[start:p.i]}, nil
	case c == ':':
		p.i++
		start := p.i
		for p.i < len(p.s) && p.s[p.i] != ':' {
			b := p.s[p.i]
			if !(isAlpha(b) || isDigit(b) || b == '+' || b == '/' || b == '=') {
				return sfValue{}, errSyntax
			}
			p.i++
		}
		if p.eof() {
			return sfValue{}, errSyntax
		}
		p.i++
		return sfValue{kind: sfBytes, str: p.s[start : p.i-1]}, nil
	case c == '?':
		if p.i+1 >= len(p.s) || p.s[p.i+1] != '0' && p.s[p.i+1] != '1' {
			return sfValue{}, errSyntax
		}
		v := sfValue{kind: sfBool, num: int64(p.s[p.i+1] - '0')}
		p.i += 2
		return v, nil
	case c == '@':
		p.i++
		v, err := p.number()
		if err != nil || v.kind != sfInteger {
			return sfValue{}, errSyntax
		}
		return sfValue{kind: sfDate, num: v.num}, nil
	case c == '%':
		p.i++
		if p.eof() || p.s[p.i] != '"' {
			return sfValue{}, errSyntax
		}
		s, err := p.str() // percent-encoded bytes are kept as they are
		return sfValue{kind: sfDisplay, str: s}, err
	}
	return sfValue{}, errSyntax
}

func (p *sfParser) number() (sfValue, error) {
	if p.eof() {
		return sfValue{}, errSyntax
	}
	start := p.i
	if p.s[p.i] == '-' {
		p.i++
	}
	digits, dot := 0, -1
	for p.i < len(p.s) {
		c := p.s[p.i]
		if isDigit(c) {
			digits++
		} else if c == '.' && dot < 0 {
			if digits > 12 {
				return sfValue{}, errSyntax
			}
			dot = digits
		} else {
			break
		}
		p.i++
		if digits > 15 {
			return sfValue{}, errSyntax
		}
	}
	text := p.s[start:p.i]
	if digits == 0 || dot == 0 {
		return sfValue{}, errSyntax
	}
	if dot < 0 {
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return sfValue{}, errSyntax
		}
		return sfValue{kind: sfInteger, num: n}, nil
	}
	if frac := digits - dot; frac < 1 || frac > 3 || text[len(text)-1] == '.' {
		return sfValue{}, errSyntax
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return sfValue{}, errSyntax
	}
	return sfValue{kind: sfDecimal, dec: f}, nil
}

func (p *sfParser) str() (string, error) {
	p.i++ // opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '\\':
			if p.eof() || p.s[p.i] != '"' && p.s[p.i] != '\\' {
				return "", errSyntax
			}
			b.WriteByte(p.s[p.i])
			p.i++
		case c == '"':
			return b.String(), nil
		case c < 0x20 || c > 0x7e:
			return "", errSyntax
		default:
			b.WriteByte(c)
		}
	}
	return "", errSyntax
}

// appendSFString appends s as a structured-field String. Characters a
// String cannot hold (controls, non-ASCII) become '?'.
func appendSFString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c > 0x7e:
			b = append(b, '?')
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
