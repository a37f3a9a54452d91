package handlers

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.yaml.in/yaml/v4"
)

// openAPIYAML is the OpenAPI 3.1 description of the admin API, written as
// YAML for the people who keep it and served as JSON. openapi_test.go holds
// it to echo's route table and to the domain's names, enums and limits.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// openAPIJSON is the document served at GET /admin/openapi.json. A document
// that does not convert is a build defect: every test of this package
// fails at once.
var openAPIJSON = mustYAMLToJSON(openAPIYAML)

func mustYAMLToJSON(src []byte) []byte {
	var doc any
	if err := yaml.Load(src, &doc); err != nil {
		panic(fmt.Sprintf("handlers/openapi.yaml: %v", err))
	}
	out, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("handlers/openapi.yaml: not representable as JSON: %v", err))
	}
	return out
}

// openAPIDocument is GET /admin/openapi.json: public, like a realm's
// discovery document; it holds no secret and nothing of any realm.
func openAPIDocument(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIJSON)
}
