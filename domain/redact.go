package domain

import (
	"bytes"
	"encoding/json"
)

// What no view shows. Events keep what authenticating needs (one-way
// hashes of secrets, codes, cookies and tokens; the PKCE challenge) and the
// read models keep it under Go names (SecretHash, RefreshHash), but no API
// response, audit entry, replay line or rebuild report shows it. One rule
// decides, by the field's name, at any depth; each view applies it:
// RedactSecrets to decoded JSON, AppendRedactedJSON to stored JSON bytes.

// secretParts: a name that holds any of these is secret.
var secretParts = [][]byte{[]byte("hash"), []byte("secret"), []byte("password"), []byte("private"), []byte("credential")}

// IsSecretField reports whether a field may hold a secret, a one-way hash
// of one, a token, a code or private key material. Names compare without
// case, '_' or '-': "secret_hash", "SecretHash" and "secret-hash" are one
// field.
func IsSecretField(name string) bool { return isSecretName(name) }

func isSecretName[T string | []byte](name T) bool {
	var buf [64]byte
	norm := buf[:0]
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '_' || c == '-':
		case c >= 'A' && c <= 'Z':
			norm = append(norm, c+'a'-'A')
		default:
			norm = append(norm, c)
		}
	}
	for _, part := range secretParts {
		if bytes.Contains(norm, part) {
			return true
		}
	}
	switch string(norm) {
	case "token", "accesstoken", "refreshtoken", "idtoken", // tokens
		"code", "codeverifier", "codechallenge", // authorization codes and PKCE
		"d", "p", "q", "dp", "dq", "qi", "k": // private members of a JWK (RFC 7518 §6)
		return true
	}
	return false
}

// RedactSecrets removes the secret fields from a decoded JSON value
// (objects as map[string]any, arrays as []any), at any depth, in place, and
// returns it.
func RedactSecrets(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if IsSecretField(k) {
				delete(x, k)
				continue
			}
			x[k] = RedactSecrets(val)
		}
	case []any:
		for i := range x {
			x[i] = RedactSecrets(x[i])
		}
	}
	return v
}

// maxRedactDepth bounds the nesting AppendRedactedJSON follows.
const maxRedactDepth = 256

// AppendRedactedJSON appends the JSON text src to dst without its secret
// fields, at any depth, and without whitespace between tokens: everything
// else is kept byte for byte (member order, numbers, string escapes), so a
// compact text without secrets comes out unchanged. ok is false, and dst
// is returned as given, when src is not one JSON value whose strings and
// brackets balance (numbers and literals are copied, not checked
// beyond their first byte).
func AppendRedactedJSON(dst, src []byte) ([]byte, bool) {
	out, i, ok := appendRedactedValue(dst, src, 0, 0)
	if !ok || skipSpace(src, i) != len(src) {
		return dst, false
	}
	return out, true
}

// appendRedactedValue copies the value at src[i:] and returns the index
// after it.
func appendRedactedValue(dst, src []byte, i, depth int) ([]byte, int, bool) {
	i = skipSpace(src, i)
	if i >= len(src) || depth > maxRedactDepth {
		return dst, i, false
	}
	switch src[i] {
	case '{':
		return appendRedactedObject(dst, src, i+1, depth)
	case '[':
		dst = append(dst, '[')
		i = skipSpace(src, i+1)
		if i < len(src) && src[i] == ']' {
			return append(dst, ']'), i + 1, true
		}
		for n := 0; ; n++ {
			if n > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, i, ok = appendRedactedValue(dst, src, i, depth+1); !ok {
				return dst, i, false
			}
			switch i = skipSpace(src, i); {
			case i < len(src) && src[i] == ',':
				i++
			case i < len(src) && src[i] == ']':
				return append(dst, ']'), i + 1, true
			default:
				return dst, i, false
			}
		}
	case '"':
		end, ok := stringEnd(src, i)
		return append(dst, src[i:end]...), end, ok
	case ',', ':', '}', ']':
		return dst, i, false
	}
	// A number or a literal (true, false, null): up to the next delimiter.
	if c := src[i]; c != '-' && (c < '0' || c > '9') && c != 't' && c != 'f' && c != 'n' {
		return dst, i, false
	}
	start := i
	for i < len(src) && !isDelimiter(src[i]) {
		i++
	}
	return append(dst, src[start:i]...), i, true
}

// appendRedactedObject copies an object whose '{' is before src[i],
// leaving out its secret members.
func appendRedactedObject(dst, src []byte, i, depth int) ([]byte, int, bool) {
	dst = append(dst, '{')
	i = skipSpace(src, i)
	if i < len(src) && src[i] == '}' {
		return append(dst, '}'), i + 1, true
	}
	kept := 0
	for {
		i = skipSpace(src, i)
		if i >= len(src) || src[i] != '"' {
			return dst, i, false
		}
		end, ok := stringEnd(src, i)
		if !ok {
			return dst, i, false
		}
		name := src[i:end]
		if i = skipSpace(src, end); i >= len(src) || src[i] != ':' {
			return dst, i, false
		}
		mark := len(dst)
		if kept > 0 {
			dst = append(dst, ',')
		}
		dst = append(append(dst, name...), ':')
		if dst, i, ok = appendRedactedValue(dst, src, i+1, depth+1); !ok {
			return dst, i, false
		}
		if memberIsSecret(name) {
			dst = dst[:mark]
		} else {
			kept++
		}
		switch i = skipSpace(src, i); {
		case i < len(src) && src[i] == ',':
			i++
		case i < len(src) && src[i] == '}':
			return append(dst, '}'), i + 1, true
		default:
			return dst, i, false
		}
	}
}

// memberIsSecret applies the rule to a member name as it is written
// (quoted, perhaps with escapes).
func memberIsSecret(quoted []byte) bool {
	if bytes.IndexByte(quoted, '\\') < 0 {
		return isSecretName(quoted[1 : len(quoted)-1])
	}
	var name string
	if json.Unmarshal(quoted, &name) != nil {
		return true // unreadable: not shown
	}
	return IsSecretField(name)
}

// stringEnd returns the index after the string that starts at src[i]: at
// the first quote not escaped by an odd run of backslashes.
func stringEnd(src []byte, i int) (int, bool) {
	for j := i + 1; j < len(src); j++ {
		k := bytes.IndexByte(src[j:], '"')
		if k < 0 {
			break
		}
		j += k
		escapes := 0
		for b := j - 1; src[b] == '\\'; b-- {
			escapes++
		}
		if escapes%2 == 0 {
			return j + 1, true
		}
	}
	return len(src), false
}

func skipSpace(src []byte, i int) int {
	for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
		i++
	}
	return i
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', ':', '{', '}', '[', ']', '"', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}
