package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
)

//go:embed validate.html.tmpl
var validationTemplateText string

var validationTemplate = template.Must(template.New("validation.html").Funcs(template.FuncMap{
	"dur":   func(s float64) string { return shortDur(seconds(s)) },
	"stamp": stamp,
}).Parse(validationTemplateText))

// WriteValidationHTML writes validation.html: one self-contained page (no
// script, no external resource) with the one-minute summary at the top,
// the environment, a row per promise, each promise's evidence runs with
// links to their reports, its negative controls, and every run's replay
// command.
func WriteValidationHTML(w io.Writer, v Validation) error {
	if err := validationTemplate.Execute(w, struct{ V Validation }{v}); err != nil {
		return fmt.Errorf("render %s: %w", ValidationHTMLFile, err)
	}
	return nil
}
