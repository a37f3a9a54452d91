package domain_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/latchkeyhq/latchkey/domain"
)

func TestIsSecretField(t *testing.T) {
	for name, secret := range map[string]bool{
		// hashes, as events store them and read models keep them
		"hash": true, "secret_hash": true, "refresh_hash": true, "code_hash": true, "cookie_hash": true,
		"SecretHash": true, "PreviousSecretHash": true, "RefreshHash": true, "hashes": true, "rehash": true,
		// secrets, passwords, private keys, credentials, in any case or spelling
		"client_secret": true, "PreviousSecretExpires": true, "password": true, "password_hash": true,
		"HasPassword": true, "private_key": true, "PRIVATE": true, "credentials": true, "secret-hash": true,
		// tokens, codes and PKCE
		"token": true, "access_token": true, "AccessToken": true, "refresh_token": true, "id_token": true,
		"code": true, "code_verifier": true, "code_challenge": true, "CodeChallenge": true,
		// a JWK's private members
		"d": true, "p": true, "q": true, "dp": true, "dq": true, "qi": true, "k": true, "D": true,
		// what views show
		"jti": false, "sub": false, "scope": false, "client_id": false, "kid": false, "x": false, "y": false,
		"crv": false, "kty": false, "e": false, "n": false, "name": false, "previous_expires_at": false,
		"token_endpoint_auth_method": false, "issue_refresh_tokens": false, "refresh_token_lifetime": false,
		"id_token_signed_response_alg": false, "code_challenge_method": false, "grant_id": false, "": false,
		"tokens_revoked_before": false, "username": false, "redirect_uris": false, "ip": false,
	} {
		if got := domain.IsSecretField(name); got != secret {
			t.Errorf("IsSecretField(%q) = %v, want %v", name, got, secret)
		}
	}
}

func TestRedactSecrets(t *testing.T) {
	for in, want := range map[string]string{
		`{"jti":"j","hash":"h"}`:                           `{"jti":"j"}`,
		`{"after":{"name":"n","secret_hash":"s"}}`:         `{"after":{"name":"n"}}`,
		`[{"d":"private","x":"public"},{"code":"c"}]`:      `[{"x":"public"},{}]`,
		`{"jwk":{"kty":"EC","x":"1","y":"2","d":"3"}}`:     `{"jwk":{"kty":"EC","x":"1","y":"2"}}`,
		`{"list":[[{"password":"p","ok":true}]],"n":null}`: `{"list":[[{"ok":true}]],"n":null}`,
		`"just a string"`:                                  `"just a string"`,
	} {
		var v any
		if err := json.Unmarshal([]byte(in), &v); err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(domain.RedactSecrets(v))
		if !jsonEqual(t, got, []byte(want)) {
			t.Errorf("RedactSecrets(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestAppendRedactedJSON(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"hash":"abc","jti":"x"}`, `{"jti":"x"}`},
		{`{"jti":"x","hash":"abc"}`, `{"jti":"x"}`},
		{`{"a":{"secret_hash":"00ff","name":"n"},"b":1}`, `{"a":{"name":"n"},"b":1}`},
		{`{"refresh_hash":"r","code_hash":"c"}`, `{}`},
		{`{"name":"say \"hash\":\"x\"","n":1}`, `{"name":"say \"hash\":\"x\"","n":1}`},
		{`{"hashes":"gone","rehash":"gone","x_hash":"gone","keep":1}`, `{"keep":1}`},
		{`{"data":{"hash":"h"}}`, `{"data":{}}`},
		// any value, at any depth, in arrays too
		{`{"private_key":{"d":"x","n":[1,2]},"kid":"k1"}`, `{"kid":"k1"}`},
		{`{"list":[{"token":"t","jti":"j"},{"code":["c"]}],"x":-1.5e3}`, `{"list":[{"jti":"j"},{}],"x":-1.5e3}`},
		{`{"a":null,"password":true,"b":false}`, `{"a":null,"b":false}`},
		// escapes are kept as written; an escaped name is read before the rule
		{`{"s":"\u003cb\u003e \\ \" \/","secret\u005fhash":"x"}`, `{"s":"\u003cb\u003e \\ \" \/"}`},
		{`{"k\\":"v"}`, `{"k\\":"v"}`},
		{`{"a\\\"x\"":"v","b":"\\\\","token":"t"}`, `{"a\\\"x\"":"v","b":"\\\\"}`},
		// whitespace goes
		{" { \"hash\" : \"h\" ,\n\t\"jti\" : [ 1 , 2 ] } ", `{"jti":[1,2]}`},
		{`[]`, `[]`}, {`{}`, `{}`}, {`"s"`, `"s"`}, {`12`, `12`},
	} {
		got, ok := domain.AppendRedactedJSON([]byte("prefix:"), []byte(c.in))
		if !ok || string(got) != "prefix:"+c.want {
			t.Errorf("AppendRedactedJSON(%s) = %s, %v; want %s", c.in, got, ok, c.want)
			continue
		}
		// The same as the rule applied to the decoded value.
		viaValue, _ := json.Marshal(domain.RedactSecrets(decodeJSON(t, []byte(c.in))))
		if !jsonEqual(t, got[len("prefix:"):], viaValue) {
			t.Errorf("AppendRedactedJSON(%s) = %s; RedactSecrets gives %s", c.in, got, viaValue)
		}
	}
}

func TestAppendRedactedJSONRefusesWhatIsNotJSON(t *testing.T) {
	deep := bytes.Repeat([]byte("["), 1000)
	for _, in := range []string{
		``, ` `, `json`, `{"a":json}`, `{`, `{"a"`, `{"a":`, `{"a":1`, `{"a":1,}`, `{"a" 1}`, `{a:1}`, `[1,]`, `[1`,
		`"unterminated`, `"escape at end\`, `{"a":1}}`, `{"a":1} x`, `{,}`, `}`, `[}`, string(deep),
	} {
		got, ok := domain.AppendRedactedJSON([]byte("keep"), []byte(in))
		if ok || string(got) != "keep" {
			t.Errorf("AppendRedactedJSON(%q) = %q, %v; want it refused and dst as given", in, got, ok)
		}
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	return reflect.DeepEqual(decodeJSON(t, a), decodeJSON(t, b))
}

// decodeJSON decodes with numbers as written: well-formed JSON may hold a
// number no float64 holds (1E700), which the redaction keeps as it is.
func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}

// FuzzAppendRedactedJSON: any well-formed JSON comes out as the rule
// applied to its decoded value; anything else is refused, never a panic.
func FuzzAppendRedactedJSON(f *testing.F) {
	for _, seed := range []string{
		`{"id":"1","type":"token.issued","data":{"jti":"j","hash":"h","scope":"a b"}}`,
		`{"before":{"secret_hash":"s","name":"n"},"after":{"name":"m"}}`, `[{"d":1},{"x":[true,null,-0.5e-3]}]`,
		`{"s":"\"\\\u00e9","Token":{"k":"v"}}`, ` {"a" : [ ] , "b" : { } } `, `{"a":1,"a":2,"hash":3}`, `{"a":`, `"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, ok := domain.AppendRedactedJSON(nil, in)
		if !json.Valid(in) {
			return // refused or not, it must not panic
		}
		if !ok {
			if bytes.Count(in, []byte("["))+bytes.Count(in, []byte("{")) > 256 {
				return // deeper than the redaction follows: refused
			}
			t.Fatalf("well-formed %q refused", in)
		}
		want, _ := json.Marshal(domain.RedactSecrets(decodeJSON(t, in)))
		if !jsonEqual(t, got, want) {
			t.Fatalf("AppendRedactedJSON(%q) = %s; RedactSecrets gives %s", in, got, want)
		}
	})
}
