package domain

import (
	"strings"
	"testing"
)

func TestHashSecret(t *testing.T) {
	// SHA-256 test vector (FIPS 180-2, "abc"), lower-case hex.
	if got := HashSecret("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashSecret(abc) = %s", got)
	}
}

var testHasher = NewSecretHasher([]byte("a client secrets key of 32 bytes"))

func TestSecretHasherHash(t *testing.T) {
	// HMAC-SHA-256 test vector (RFC 4231, test case 2).
	h := NewSecretHasher([]byte("Jefe"))
	if got := h.Hash("what do ya want for nothing?"); got != "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" {
		t.Fatalf("Hash = %s", got)
	}
	if IsLegacySecretHash(h.Hash("x")) || !IsLegacySecretHash(HashSecret("x")) || IsLegacySecretHash("") {
		t.Fatal("IsLegacySecretHash does not tell the forms apart")
	}
	if NewSecretHasher([]byte("another key")).Hash("x") == h.Hash("x") {
		t.Fatal("two keys give one hash")
	}
	for name, hash := range map[string]func(){
		"an empty key":   func() { NewSecretHasher(nil) },
		"the zero value": func() { SecretHasher{}.Hash("x") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("a hasher with %s hashed", name)
				}
			}()
			hash()
		}()
	}
}

func TestSecretMatch(t *testing.T) {
	// A client rotated from "old" to "new" with the old secret valid
	// until 1000, stored in the current form.
	rotated := &Client{}
	rotated.Apply(1, ClientCreated{ClientID: "svc", ClientSettings: serviceSettings(), SecretHash: testHasher.Hash("old")})
	rotated.Apply(2, ClientSecretRotated{SecretHash: testHasher.Hash("new"), PreviousExpiresAt: 1000})
	// Rotated again without overlap: "old" ends at once, "new" too.
	again := *rotated
	again.Apply(3, ClientSecretRotated{SecretHash: testHasher.Hash("newer")})
	// The same, stored before secrets were HMAC'd.
	legacy := &Client{}
	legacy.Apply(1, ClientCreated{ClientID: "svc", ClientSettings: serviceSettings(), SecretHash: HashSecret("old")})
	legacy.Apply(2, ClientSecretRotated{SecretHash: HashSecret("new"), PreviousExpiresAt: 1000})
	public := clientOf("cli", publicSettings())
	public.SecretHash = ""

	for _, tc := range []struct {
		name      string
		client    *Client
		presented string
		now       int64
		want      bool
		stale     string
	}{
		{"the current secret", rotated, "new", 0, true, ""},
		{"the current secret long after the overlap", rotated, "new", 1 << 40, true, ""},
		{"the previous secret during the overlap", rotated, "old", 999, true, ""},
		{"the previous secret when the overlap ends", rotated, "old", 1000, false, ""},
		{"the previous secret after the overlap", rotated, "old", 1001, false, ""},
		{"a wrong secret", rotated, "guess", 0, false, ""},
		{"an empty secret", rotated, "", 0, false, ""},
		{"the current secret's legacy hash presented as the secret", rotated, testHasher.Hash("new"), 0, false, ""},
		{"rotated again without overlap: the newest", &again, "newer", 0, true, ""},
		{"rotated again without overlap: the one before", &again, "new", 0, false, ""},
		{"rotated again without overlap: the first", &again, "old", 0, false, ""},
		{"legacy: the current secret, to rehash", legacy, "new", 0, true, HashSecret("new")},
		{"legacy: the previous secret during the overlap, to rehash", legacy, "old", 999, true, HashSecret("old")},
		{"legacy: the previous secret after the overlap", legacy, "old", 1000, false, ""},
		{"legacy: a wrong secret", legacy, "guess", 0, false, ""},
		{"no client", nil, "anything", 0, false, ""},
		{"no client, presenting the stand-in's secret", nil, "latchkey: no such client", 0, false, ""},
		{"a public client has no secret", public, "", 0, false, ""},
		{"a public client and the stand-in's secret", public, "latchkey: no such client", 0, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := testHasher.Match(tc.client, tc.presented, tc.now)
			if got.OK != tc.want || got.Stale != tc.stale {
				t.Errorf("Match(%q at %d) = %+v, want ok %v, stale %q", tc.presented, tc.now, got, tc.want, tc.stale)
			}
		})
	}
	// Another key matches none of the current form.
	if NewSecretHasher([]byte("another key")).Match(rotated, "new", 0).OK {
		t.Error("a hasher with another key matched")
	}
}

func TestDecideRehashSecret(t *testing.T) {
	legacy := &Client{}
	legacy.Apply(1, ClientCreated{ClientID: "svc", ClientSettings: serviceSettings(), SecretHash: HashSecret("old")})
	legacy.Apply(2, ClientSecretRotated{SecretHash: HashSecret("new"), PreviousExpiresAt: 1000})
	rehashed := *legacy
	rehashed.Apply(3, ClientSecretRehashed{SecretHash: testHasher.Hash("new")})
	deleted := *legacy
	deleted.Deleted = true
	for _, tc := range []struct {
		name         string
		client       *Client
		stale, fresh string
		want         ClientSecretRehashed
		ok           bool
	}{
		{"the current secret", legacy, HashSecret("new"), testHasher.Hash("new"), ClientSecretRehashed{SecretHash: testHasher.Hash("new")}, true},
		{"the previous secret", legacy, HashSecret("old"), testHasher.Hash("old"), ClientSecretRehashed{PreviousSecretHash: testHasher.Hash("old")}, true},
		{"already rehashed by another request", &rehashed, HashSecret("new"), testHasher.Hash("new"), ClientSecretRehashed{}, false},
		{"rotated since", legacy, HashSecret("older"), testHasher.Hash("older"), ClientSecretRehashed{}, false},
		{"nothing stale", legacy, "", testHasher.Hash("new"), ClientSecretRehashed{}, false},
		{"a fresh hash of the old form", legacy, HashSecret("new"), HashSecret("new"), ClientSecretRehashed{}, false},
		{"a deleted client", &deleted, HashSecret("new"), testHasher.Hash("new"), ClientSecretRehashed{}, false},
		{"no client", nil, HashSecret("new"), testHasher.Hash("new"), ClientSecretRehashed{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := DecideRehashSecret(tc.client, tc.stale, tc.fresh)
			if got != tc.want || ok != tc.ok {
				t.Errorf("DecideRehashSecret = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
	// Applied, it changes the hash and nothing else: the secret verifies
	// in its new form, the previous one still during its overlap.
	both := *legacy
	both.Apply(3, ClientSecretRehashed{SecretHash: testHasher.Hash("new")})
	both.Apply(4, ClientSecretRehashed{PreviousSecretHash: testHasher.Hash("old")})
	if !strings.HasPrefix(both.SecretHash, secretHashPrefix) || !strings.HasPrefix(both.PreviousSecretHash, secretHashPrefix) || both.PreviousSecretExpires != 1000 {
		t.Fatalf("after rehashing: %+v", both)
	}
	for _, tc := range []struct {
		secret string
		now    int64
		want   SecretMatch
	}{{"new", 0, SecretMatch{OK: true}}, {"old", 999, SecretMatch{OK: true}}, {"old", 1000, SecretMatch{}}} {
		if got := testHasher.Match(&both, tc.secret, tc.now); got != tc.want {
			t.Errorf("after rehashing, Match(%q at %d) = %+v, want %+v", tc.secret, tc.now, got, tc.want)
		}
	}
}

// BenchmarkSecretMatch compares checking a client secret against a stored
// HMAC with checking it against an unsalted SHA-256, as before, in the
// same run.
func BenchmarkSecretMatch(b *testing.B) {
	const secret = "Jd0x2qv1Hc9N4mUeYk3sR7tP5wLaZbG6fXhE8oQyTiS"
	for _, tc := range []struct {
		name   string
		stored string
	}{{"sha256", HashSecret(secret)}, {"hmac", testHasher.Hash(secret)}} {
		c := &Client{ID: "svc", SecretHash: tc.stored}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !testHasher.Match(c, secret, 0).OK {
					b.Fatal("no match")
				}
			}
		})
	}
}
