package handlers

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/latchkeyhq/latchkey/domain"
	"github.com/latchkeyhq/latchkey/realms"
)

type realmView struct {
	Name     string                `json:"name"`
	Issuer   string                `json:"issuer"`
	Keys     []keyView             `json:"keys,omitempty"`
	Settings *domain.RealmSettings `json:"settings,omitempty"`
}

type keyView struct {
	Kid         string `json:"kid"`
	Alg         string `json:"alg"`
	Active      bool   `json:"active"`
	VerifyUntil int64  `json:"verify_until,omitempty"`
}

func viewRealm(rl *realms.Realm, withKeys bool) realmView {
	v := realmView{Name: rl.Name, Issuer: rl.Issuer()}
	if withKeys {
		settings := rl.Settings()
		v.Settings = &settings
		for _, k := range rl.Keys().List() {
			v.Keys = append(v.Keys, keyView{Kid: k.Kid, Alg: k.Alg, Active: k.Active, VerifyUntil: k.VerifyUntil})
		}
	}
	return v
}

// createRealm is POST /admin/realms; only master's admins create realms.
func (a *api) createRealm(c echo.Context) error {
	p := callerOf(c)
	if p.Realm != domain.MasterRealm || !p.can(domain.MasterRealm, domain.AreaRealm) {
		return forbidden("only realm master's administrators may create realms")
	}
	var body struct {
		Name string `json:"name"`
	}
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	rl, err := a.reg.Create(c.Request().Context(), body.Name, p.meta(c, a))
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/admin/realms/"+rl.Name)
	return c.JSON(http.StatusCreated, viewRealm(rl, true))
}

// listRealms is GET /admin/realms: the realms the caller administers
// anything of (every realm for master's administrators, else one's own).
func (a *api) listRealms(c echo.Context) error {
	p := callerOf(c)
	out := []realmView{}
	for _, rl := range a.reg.List() {
		if p.may(rl.Name) {
			out = append(out, viewRealm(rl, false))
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"realms": out})
}

func (a *api) getRealm(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewRealm(rl, true))
}

// updateSettings is PUT /admin/realms/{realm}/settings (every setting;
// an absent one takes its default, except require_pkce, which keeps its
// value: on for new realms and off for older ones, it must not be turned
// off by a body written before it existed) and PATCH (a JSON merge patch,
// RFC 7396: only what it names changes; null resets).
func (a *api) updateSettings(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	s := domain.RealmSettings{RequirePKCE: rl.Settings().RequirePKCE}
	if c.Request().Method == http.MethodPatch {
		var patch map[string]any
		if err := bindJSONAs(c, &patch, echo.MIMEApplicationJSON, "application/merge-patch+json"); err != nil {
			return err
		}
		current, _ := json.Marshal(rl.Settings())
		var doc map[string]any
		_ = json.Unmarshal(current, &doc)
		merged, _ := json.Marshal(mergeJSON(doc, patch))
		if err := decodeStrict(merged, &s); err != nil {
			return badRequest("invalid settings: " + err.Error())
		}
	} else if err := bindJSON(c, &s); err != nil {
		return err
	}
	if err := rl.UpdateSettings(c.Request().Context(), s, callerOf(c).meta(c, a)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewRealm(rl, true))
}

// mergeJSON applies an RFC 7396 merge patch to a decoded JSON object: null
// removes a member, an object is merged into an object, anything else
// replaces.
func mergeJSON(target, patch map[string]any) map[string]any {
	if target == nil {
		target = map[string]any{}
	}
	for k, v := range patch {
		switch v := v.(type) {
		case nil:
			delete(target, k)
		case map[string]any:
			sub, _ := target[k].(map[string]any)
			target[k] = mergeJSON(sub, v)
		default:
			target[k] = v
		}
	}
	return target
}

// rotateKeys is POST /admin/realms/{realm}/keys/rotate.
func (a *api) rotateKeys(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	if err := rl.Keys().Rotate(c.Request().Context(), callerOf(c).meta(c, a)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewRealm(rl, true))
}

// strictQuery refuses an admin request whose query string is malformed or
// names a parameter twice: which of two filters or limits a list would
// apply is a guess, and a pair it cannot read is silently dropped.
func strictQuery(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		q, err := url.ParseQuery(c.Request().URL.RawQuery)
		if err != nil {
			return badRequest("the query string is malformed")
		}
		if _, repeated := singleValues(q); repeated != "" {
			return badRequest("parameter " + repeated + " is repeated")
		}
		return next(c)
	}
}

// Paging limits for lists.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// pageLimit reads a list's ?limit=: 1 to maxPageSize, defaultPageSize when
// absent.
func pageLimit(c echo.Context) (int, error) {
	n, ok := pageSize(c, defaultPageSize, maxPageSize)
	if !ok {
		return 0, badRequest("limit must be 1 to " + strconv.Itoa(maxPageSize))
	}
	return n, nil
}

// pageSize reads ?limit=, refusing anything but 1..max.
func pageSize(c echo.Context, def, most int) (int, bool) {
	s := c.QueryParam("limit")
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > most {
		return 0, false
	}
	return n, true
}

// eventView is a stored envelope as the events API shows it, without the
// secret fields of its data (domain.RedactSecrets).
type eventView struct {
	Seq       uint64         `json:"seq"`
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Aggregate string         `json:"aggregate"`
	Actor     string         `json:"actor"`
	ClientID  string         `json:"client_id"`
	RequestID string         `json:"request_id"`
	IP        string         `json:"ip"`
	Via       string         `json:"via,omitempty"`
	Time      string         `json:"time"`
	Data      map[string]any `json:"data"`
}

func viewEvent(env realms.Envelope) eventView {
	data := map[string]any{}
	_ = json.Unmarshal(env.Data, &data)
	domain.RedactSecrets(data)
	return eventView{
		Seq: env.Seq, ID: env.ID, Type: env.Type, Aggregate: env.Aggregate, Actor: env.Actor,
		ClientID: env.ClientID, RequestID: env.RequestID, IP: env.IP, Via: env.Via,
		Time: env.Time.Format("2006-01-02T15:04:05.999999999Z07:00"), Data: data,
	}
}

// listEvents is GET /admin/realms/{realm}/events?after_seq=&limit=: the
// realm's stream in order, paged by sequence.
func (a *api) listEvents(c echo.Context) error {
	rl, err := a.realmOf(c)
	if err != nil {
		return err
	}
	var after uint64
	if s := c.QueryParam("after_seq"); s != "" {
		if after, err = strconv.ParseUint(s, 10, 64); err != nil {
			return badRequest("after_seq must be a non-negative integer")
		}
	}
	limit, ok := pageSize(c, defaultPageSize, realms.MaxPage)
	if !ok {
		return badRequest("limit must be 1 to " + strconv.Itoa(realms.MaxPage))
	}
	envs, err := rl.History().Events(c.Request().Context(), after, limit)
	if err != nil {
		return err
	}
	out := struct {
		Events       []eventView `json:"events"`
		NextAfterSeq uint64      `json:"next_after_seq"`
	}{Events: make([]eventView, 0, len(envs)), NextAfterSeq: after}
	for _, env := range envs {
		out.Events = append(out.Events, viewEvent(env))
		out.NextAfterSeq = env.Seq
	}
	return c.JSON(http.StatusOK, out)
}
