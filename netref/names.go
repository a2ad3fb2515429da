package netref

import (
	"strings"
	"unicode"
)

// SnakeCase converts a Go identifier to the Python name it is exposed under:
// IncrBy → incr_by, ID → id, HTTPServer → http_server, GetURLPath →
// get_url_path, Base64Encode → base64_encode, ToUTF8 → to_utf8. A word
// boundary is an upper-case letter after a lower-case letter or a digit, or
// the last capital of an acronym followed by a lower-case letter.
func SnakeCase(name string) string {
	if name == "" {
		return ""
	}
	rs := []rune(name)
	var b strings.Builder
	b.Grow(len(name) + 4)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 {
				prev := rs[i-1]
				nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
				if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
					b.WriteByte('_')
				}
			}
			b.WriteRune(unicode.ToLower(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
