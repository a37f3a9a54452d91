package handlers

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

func TestReadClientAuth(t *testing.T) {
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	}
	for _, tc := range []struct {
		name          string
		authorization string
		form          form
		public        bool
		want          realms.ClientAuth
		code          string // the OAuth error, if refused
	}{
		{name: "basic", authorization: basic("c1", "s%2F1"), want: realms.ClientAuth{Method: domain.AuthSecretBasic, ClientID: "c1", Secret: "s/1"}},
		{name: "basic with the same client_id", authorization: basic("c1", "s"), form: form{"client_id": "c1"},
			want: realms.ClientAuth{Method: domain.AuthSecretBasic, ClientID: "c1", Secret: "s"}},
		{name: "basic and post", authorization: basic("c1", "s"), form: form{"client_secret": "s"}, code: domain.ErrInvalidRequest},
		{name: "basic naming another client_id", authorization: basic("c1", "s"), form: form{"client_id": "c2"}, code: domain.ErrInvalidRequest},
		{name: "malformed basic", authorization: "Basic !!!", code: domain.ErrInvalidClient},
		{name: "basic without a colon", authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte("c1")), code: domain.ErrInvalidClient},
		{name: "another scheme", authorization: "Bearer x", code: domain.ErrInvalidClient},
		{name: "post", form: form{"client_id": "c1", "client_secret": "s"}, want: realms.ClientAuth{Method: domain.AuthSecretPost, ClientID: "c1", Secret: "s"}},
		{name: "post without client_id", form: form{"client_secret": "s"}, code: domain.ErrInvalidClient},
		{name: "client_id alone, public allowed", form: form{"client_id": "c1"}, public: true,
			want: realms.ClientAuth{Method: domain.AuthNone, ClientID: "c1", PublicAllowed: true}},
		{name: "client_id alone, confidential only", form: form{"client_id": "c1"}, code: domain.ErrInvalidClient},
		{name: "nothing", form: form{}, public: true, code: domain.ErrInvalidClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readClientAuth(tc.authorization, tc.form, tc.public)
			var oerr *domain.OAuthError
			switch {
			case tc.code != "":
				if !errors.As(err, &oerr) || oerr.Code != tc.code {
					t.Fatalf("got %+v, %v; want OAuth error %s", got, err, tc.code)
				}
			case err != nil:
				t.Fatalf("refused: %v", err)
			default:
				if got != tc.want {
					t.Fatalf("got %+v, want %+v", got, tc.want)
				}
			}
		})
	}
}
