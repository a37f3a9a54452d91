package handlers_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The layers of DESIGN.md, held by the code: of our packages, domain
// imports none and handlers only domain and realms (whose vocabulary.go
// names what of the stores and read models it needs).
func TestPackagesImportOnlyTheLayersBelowThem(t *testing.T) {
	const mod = "github.com/latchkeyhq/latchkey/"
	for dir, allowed := range map[string][]string{
		"../domain": nil,
		".":         {"domain", "realms"},
	} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no Go files (%v)", dir, err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				ours, isOurs := strings.CutPrefix(path, mod)
				if !isOurs {
					continue
				}
				pkg, _, _ := strings.Cut(ours, "/")
				ok := false
				for _, a := range allowed {
					ok = ok || pkg == a
				}
				if !ok {
					t.Errorf("%s imports %s", file, path)
				}
			}
		}
	}
}
