package domain

import "testing"

func TestRevocationRuleCovers(t *testing.T) {
	byJTI := RevocationRule{JTI: "j1", ForgetAfter: 100}
	byClient := RevocationRule{ClientID: "svc", IssuedBefore: 50, ForgetAfter: 150}
	bySubject := RevocationRule{Subject: "u1", IssuedBefore: 50, ForgetAfter: 150}
	for _, tc := range []struct {
		name                 string
		rule                 RevocationRule
		jti, client, subject string
		iat                  int64
		want                 bool
	}{
		{"its token", byJTI, "j1", "svc", "u1", 10, true},
		{"another token", byJTI, "j2", "svc", "u1", 10, false},
		{"the client's token issued before", byClient, "j", "svc", "u1", 49, true},
		{"the client's token issued at the cut-off", byClient, "j", "svc", "u1", 50, false},
		{"another client's token", byClient, "j", "app", "u1", 10, false},
		{"the user's token issued before", bySubject, "j", "app", "u1", 49, true},
		{"the user's token issued at the cut-off", bySubject, "j", "app", "u1", 50, false},
		{"another user's token", bySubject, "j", "app", "u2", 10, false},
		{"an empty rule covers nothing", RevocationRule{ForgetAfter: 1}, "", "", "", 0, false},
	} {
		if got := tc.rule.Covers(tc.jti, tc.client, tc.subject, tc.iat); got != tc.want {
			t.Errorf("Covers(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestRevokeToken(t *testing.T) {
	for _, tc := range []struct {
		name          string
		owner, caller string
		code          string
	}{
		{"the owner revokes its token", "svc", "svc", ""},
		{"an administrator (no calling client) revokes any token", "svc", "", ""},
		{"another client", "svc", "app", ErrUnauthorizedClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, rule, oerr := RevokeToken(tc.owner, tc.caller, "j1", 500, "leaked")
			if tc.code != "" {
				wantOAuth(t, oerr, tc.code, "the token was issued to another client")
				if e != (TokenRevoked{}) || rule != (RevocationRule{}) {
					t.Errorf("a refused revocation decided %+v, %+v", e, rule)
				}
				return
			}
			wantOAuth(t, oerr, "", "")
			if e != (TokenRevoked{JTI: "j1", ExpiresAt: 500, Reason: "leaked"}) || rule != (RevocationRule{JTI: "j1", ForgetAfter: 500}) {
				t.Errorf("RevokeToken = %+v, %+v", e, rule)
			}
		})
	}
}

func TestRevokeClientTokens(t *testing.T) {
	c := clientOf("svc", serviceSettings())
	e, rule := RevokeClientTokens(c, t0, "rotation")
	cutoff := t0.Unix() + 1
	if e != (ClientTokensRevoked{IssuedBefore: cutoff, ForgetAfter: cutoff + MaxAccessTokenLifetime, Reason: "rotation"}) {
		t.Errorf("event = %+v", e)
	}
	if rule != (RevocationRule{ClientID: "svc", IssuedBefore: cutoff, ForgetAfter: cutoff + MaxAccessTokenLifetime}) {
		t.Errorf("rule = %+v", rule)
	}
	// A token issued in the second of the revocation is covered.
	if !rule.Covers("j", "svc", "", t0.Unix()) || rule.Covers("j", "svc", "", cutoff) {
		t.Error("the cut-off does not cover exactly the tokens issued up to now")
	}
}

func TestTokenHashes(t *testing.T) {
	// base64url of the first 16 bytes of SHA-256("abc").
	if got := TokenHash("abc"); got != "ungWv48Bz-pBQUDeXa4iIw" {
		t.Errorf("TokenHash(abc) = %s", got)
	}
	if got := AtHash("abc"); got != "ungWv48Bz-pBQUDeXa4iIw" {
		t.Errorf("AtHash(abc) = %s", got)
	}
	if TokenHash("abd") == TokenHash("abc") {
		t.Error("two tokens share a hash")
	}
}
