package domain

import "testing"

func TestHashSecret(t *testing.T) {
	// SHA-256 test vector (FIPS 180-2, "abc"), lower-case hex.
	if got := HashSecret("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("HashSecret(abc) = %s", got)
	}
}

func TestSecretMatches(t *testing.T) {
	// A client rotated from "old" to "new" with the old secret valid
	// until 1000.
	rotated := &Client{}
	rotated.Apply(1, ClientCreated{ClientID: "svc", ClientSettings: serviceSettings(), SecretHash: HashSecret("old")})
	rotated.Apply(2, ClientSecretRotated{SecretHash: HashSecret("new"), PreviousExpiresAt: 1000})
	// Rotated again without overlap: "old" ends at once, "new" too.
	again := *rotated
	again.Apply(3, ClientSecretRotated{SecretHash: HashSecret("newer")})
	public := clientOf("cli", publicSettings())
	public.SecretHash = ""

	for _, tc := range []struct {
		name      string
		client    *Client
		presented string
		now       int64
		want      bool
	}{
		{"the current secret", rotated, "new", 0, true},
		{"the current secret long after the overlap", rotated, "new", 1 << 40, true},
		{"the previous secret during the overlap", rotated, "old", 999, true},
		{"the previous secret when the overlap ends", rotated, "old", 1000, false},
		{"the previous secret after the overlap", rotated, "old", 1001, false},
		{"a wrong secret", rotated, "guess", 0, false},
		{"an empty secret", rotated, "", 0, false},
		{"rotated again without overlap: the newest", &again, "newer", 0, true},
		{"rotated again without overlap: the one before", &again, "new", 0, false},
		{"rotated again without overlap: the first", &again, "old", 0, false},
		{"no client", nil, "anything", 0, false},
		{"no client, presenting the stand-in's secret", nil, "latchkey: no such client", 0, false},
		{"a public client has no secret", public, "", 0, false},
		{"a public client and the stand-in's secret", public, "latchkey: no such client", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SecretMatches(tc.client, tc.presented, tc.now); got != tc.want {
				t.Errorf("SecretMatches(%q at %d) = %v, want %v", tc.presented, tc.now, got, tc.want)
			}
		})
	}
}
