package main

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rpycgo/rpycgo/codec"
)

// parseLiteral parses one command-line argument as a Python literal: ints
// of any size (decimal, 0x, 0o, 0b, underscores), floats (incl. inf, nan),
// str '...' or "..." and bytes b'...' with Python's escapes, None, True,
// False, tuples (a, b) / (a,) / (), and a leading minus or plus on numbers.
// Ints that fit in int64 are int64, larger ones *big.Int; tuples are
// codec.Tuple; bytes are []byte.
func parseLiteral(s string) (any, error) {
	p := &litParser{s: s}
	p.skipSpace()
	v, err := p.value()
	if err != nil {
		return nil, fmt.Errorf("invalid literal %q: %w", s, err)
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("invalid literal %q: unexpected %q at offset %d", s, p.s[p.i:], p.i)
	}
	return v, nil
}

type litParser struct {
	s string
	i int
}

func (p *litParser) skipSpace() {
	for p.i < len(p.s) && strings.ContainsRune(" \t\r\n", rune(p.s[p.i])) {
		p.i++
	}
}

func (p *litParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *litParser) value() (any, error) {
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("empty value")
	}
	c := p.s[p.i]
	switch {
	case c == '(':
		return p.tuple()
	case c == '\'' || c == '"':
		return p.str(false)
	case (c == 'b' || c == 'B') && p.i+1 < len(p.s) && (p.s[p.i+1] == '\'' || p.s[p.i+1] == '"'):
		p.i++
		return p.str(true)
	case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
		return p.number()
	}
	start := p.i
	for p.i < len(p.s) && (isIdent(p.s[p.i])) {
		p.i++
	}
	switch word := p.s[start:p.i]; word {
	case "None":
		return nil, nil
	case "True":
		return true, nil
	case "False":
		return false, nil
	case "inf":
		return math.Inf(1), nil
	case "nan":
		return math.NaN(), nil
	case "":
		return nil, fmt.Errorf("unexpected %q at offset %d", p.s[p.i:], p.i)
	default:
		return nil, fmt.Errorf("unknown name %q (strings need quotes: '%s')", word, word)
	}
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (p *litParser) tuple() (any, error) {
	p.i++ // (
	items := codec.Tuple{}
	sawComma := false
	for {
		p.skipSpace()
		if p.peek() == ')' {
			p.i++
			break
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.i++
			sawComma = true
			continue
		case ')':
			p.i++
		default:
			return nil, fmt.Errorf("expected ',' or ')' at offset %d", p.i)
		}
		break
	}
	if len(items) == 1 && !sawComma {
		return items[0], nil // a parenthesised value, not a tuple
	}
	return items, nil
}

func (p *litParser) number() (any, error) {
	start := p.i
	neg := false
	if c := p.peek(); c == '-' || c == '+' {
		neg = c == '-'
		p.i++
		p.skipSpace()
	}
	body := p.i
	for p.i < len(p.s) && (isIdent(p.s[p.i]) || p.s[p.i] == '.' ||
		((p.s[p.i] == '-' || p.s[p.i] == '+') && (p.s[p.i-1] == 'e' || p.s[p.i-1] == 'E') && !isHexBody(p.s[body:p.i]))) {
		p.i++
	}
	text := strings.ReplaceAll(p.s[body:p.i], "_", "")
	if text == "" {
		return nil, fmt.Errorf("bad number %q", p.s[start:p.i])
	}
	switch text {
	case "inf":
		return math.Copysign(math.Inf(1), sign(neg)), nil
	case "nan":
		return math.NaN(), nil
	}
	if !isHexBody(text) && strings.ContainsAny(text, ".eE") || strings.ContainsAny(text, "jJ") {
		if strings.ContainsAny(text, "jJ") {
			return nil, fmt.Errorf("complex numbers are not supported: %q", text)
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("bad float %q", p.s[start:p.i])
		}
		if neg {
			f = -f
		}
		return f, nil
	}
	n, ok := new(big.Int).SetString(text, 0)
	if !ok || (len(text) > 1 && text[0] == '0' && strings.Trim(text, "0") != "" && isDigit(text[1])) {
		return nil, fmt.Errorf("bad int %q", p.s[start:p.i])
	}
	if neg {
		n.Neg(n)
	}
	if n.IsInt64() {
		return n.Int64(), nil
	}
	return n, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isHexBody(s string) bool { return len(s) > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') }

func sign(neg bool) float64 {
	if neg {
		return -1
	}
	return 1
}

// str parses a quoted str (or bytes, after the b prefix) with Python's
// backslash escapes.
func (p *litParser) str(isBytes bool) (any, error) {
	q := p.s[p.i]
	p.i++
	var b []byte
	for {
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("unterminated string")
		}
		c := p.s[p.i]
		if c == q {
			p.i++
			break
		}
		if c != '\\' {
			if isBytes && c >= 0x80 {
				return nil, fmt.Errorf("bytes can only contain ASCII literal characters")
			}
			b = append(b, c)
			p.i++
			continue
		}
		p.i++
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("unterminated string")
		}
		e := p.s[p.i]
		p.i++
		switch e {
		case '\\', '\'', '"':
			b = append(b, e)
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case 'r':
			b = append(b, '\r')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := p.i - 1
			for p.i < len(p.s) && p.i-j < 3 && p.s[p.i] >= '0' && p.s[p.i] <= '7' {
				p.i++
			}
			n, _ := strconv.ParseUint(p.s[j:p.i], 8, 16)
			if isBytes {
				b = append(b, byte(n))
			} else {
				b = utf8.AppendRune(b, rune(n))
			}
		case 'a':
			b = append(b, 7)
		case 'b':
			b = append(b, 8)
		case 'f':
			b = append(b, 12)
		case 'v':
			b = append(b, 11)
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if !isBytes || e == 'x' {
				if p.i+n > len(p.s) {
					return nil, fmt.Errorf("truncated \\%c escape", e)
				}
				v, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
				if err != nil {
					return nil, fmt.Errorf("bad \\%c escape", e)
				}
				p.i += n
				if isBytes {
					b = append(b, byte(v))
				} else {
					if v > utf8.MaxRune {
						return nil, fmt.Errorf("illegal Unicode character")
					}
					b = utf8.AppendRune(b, rune(v))
				}
				continue
			}
			b = append(b, '\\', e)
		case '\n':
		default:
			b = append(b, '\\', e)
		}
	}
	if isBytes {
		if b == nil {
			b = []byte{}
		}
		return b, nil
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("str is not valid UTF-8")
	}
	return string(b), nil
}
