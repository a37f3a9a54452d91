package verifier

import (
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/domain"
)

// A revoked token stays refused for as long as the verifier would still
// accept it: until its exp plus the leeway, not just until its exp.
func TestRulesOutliveTheirTokensByTheLeeway(t *testing.T) {
	const exp, iat = 1_800_000_000, 1_799_996_400
	rs := newRuleSet(30 * time.Second)
	rs.add(domain.RevocationRule{JTI: "j1", ForgetAfter: exp})
	rs.add(domain.RevocationRule{ClientID: "c1", IssuedBefore: iat + 1, ForgetAfter: exp})
	rs.add(domain.RevocationRule{Subject: "s1", IssuedBefore: iat + 1, ForgetAfter: exp})
	revokedAll := func() bool {
		return rs.revoked("j1", "", "", iat) && rs.revoked("j2", "c1", "", iat) && rs.revoked("j3", "", "s1", iat)
	}
	rs.forget(exp + 29)
	if !revokedAll() {
		t.Fatal("29 s after exp, within the 30 s leeway, a revocation rule was forgotten: the revoked token would be accepted again")
	}
	rs.forget(exp + 31)
	if rs.revoked("j1", "", "", iat) || rs.revoked("j2", "c1", "", iat) || rs.revoked("j3", "", "s1", iat) {
		t.Error("rules still held after exp plus the leeway: memory would grow with history")
	}
}
