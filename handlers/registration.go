package handlers

import (
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

// Dynamic client registration (RFC 7591) and its management (RFC 7592),
// at Keycloak's paths.
const registrationPath = "/clients-registrations/openid-connect"

// maxRegistrationBody bounds a registration request (16 KiB).
const maxRegistrationBody = 16 << 10

// registrationResponse is RFC 7591 §3.2.1 (and RFC 7592 §3): the client's
// metadata, its id and, once, its secret and registration access token.
type registrationResponse struct {
	domain.ClientMetadata
	ClientSecret          string `json:"client_secret,omitempty"`
	ClientIDIssuedAt      int64  `json:"client_id_issued_at,omitempty"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationToken     string `json:"registration_access_token,omitempty"`
	RegistrationClientURI string `json:"registration_client_uri"`
}

func (a *api) registrationView(rl *realms.Realm, c *domain.Client) registrationResponse {
	out := registrationResponse{ClientMetadata: c.Metadata(), RegistrationClientURI: rl.Issuer() + registrationPath + "/" + c.ID}
	if c.HasSecret() {
		never := int64(0) // the secret does not expire
		out.ClientSecretExpiresAt = &never
	}
	return out
}

// readRegistrationBody reads an application/json body of at most 16 KiB.
func readRegistrationBody(c echo.Context) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationJSON {
		return nil, &statusError{status: http.StatusUnsupportedMediaType, code: errUnsupportedMedia, desc: "Content-Type must be application/json"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, maxRegistrationBody))
	if err != nil {
		if bodyTooLarge(err) {
			return nil, &statusError{status: http.StatusRequestEntityTooLarge, code: errTooLarge, desc: "a registration request is at most 16 KiB"}
		}
		return nil, badRequest("could not read the request body")
	}
	return body, nil
}

// bearerOf reads a request's bearer token ("" when none); another scheme
// is invalid_token.
func bearerOf(c echo.Context) (string, error) {
	h := c.Request().Header.Get(echo.HeaderAuthorization)
	if h == "" {
		return "", nil
	}
	scheme, token, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", &domain.OAuthError{Code: domain.ErrInvalidToken, Description: "use Authorization: Bearer"}
	}
	return strings.TrimSpace(token), nil
}

func (a *api) registrationMeta(c echo.Context) realms.Meta {
	return realms.Meta{Actor: realms.ActorSystem, RequestID: requestID(c), IP: c.RealIP(), Time: a.now()}
}

// register is POST /realms/{realm}/clients-registrations/openid-connect
// (RFC 7591): with an initial access token as a bearer token, or none where
// the realm allows open registration of public clients.
func (a *api) register(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	token, err := bearerOf(c)
	if err != nil {
		return err
	}
	body, err := readRegistrationBody(c)
	if err != nil {
		return err
	}
	reg, err := rl.Registration().Register(c.Request().Context(), body, token, a.registrationMeta(c))
	if err != nil {
		return err
	}
	out := a.registrationView(rl, reg.Client)
	out.ClientSecret, out.RegistrationToken = reg.Secret, reg.RegistrationToken
	out.ClientIDIssuedAt = a.now().Unix()
	noStore(c)
	c.Response().Header().Set(echo.HeaderLocation, out.RegistrationClientURI)
	return c.JSON(http.StatusCreated, out)
}

// registered serves GET, PUT and DELETE on
// /realms/{realm}/clients-registrations/openid-connect/{client_id} (RFC
// 7592), for the holder of the client's registration access token.
func (a *api) registered(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	token, err := bearerOf(c)
	if err != nil {
		return err
	}
	id, ctx, reg := c.Param("client_id"), c.Request().Context(), rl.Registration()
	noStore(c)
	switch c.Request().Method {
	case http.MethodGet:
		cl, err := reg.Registered(id, token)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, a.registrationView(rl, cl))
	case http.MethodPut:
		body, err := readRegistrationBody(c)
		if err != nil {
			return err
		}
		cl, err := reg.Reregister(ctx, id, token, body, a.registrationMeta(c))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, a.registrationView(rl, cl))
	default:
		if err := reg.Unregister(ctx, id, token, a.registrationMeta(c)); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}
