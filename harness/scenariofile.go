package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bcdr-harness/bcdr/assertions"
	"github.com/bcdr-harness/bcdr/faults"
)

// A scenario file (YAML or JSON) describes a drill as data: a built-in
// scenario as the base, knobs by their CLI names, the faults, the checks and
// what each check is expected to conclude.
//
//	scenario: region-outage        # the base (bcdr scenarios lists them)
//	name: nightly-region           # optional: the run's name
//	description: region A lost at night
//	seed: 7
//	set:                           # every knob by its --set name
//	  rpo: 15m
//	  instances-per-region: 3
//	faults:                        # replaces the base's faults when given
//	  - name: region-outage
//	    params: {region: a}
//	    at: 0s                     # service time after the steady state
//	    duration: 0s               # 0: the fault's default hold
//	    after: failback-start      # optional: count at from this event
//	checks: [validity, rpo, rto, failback-loss]
//	expect: {rpo: pass}
//
// Every error names the file, the line and the field.

// ScenarioFileError is a bad scenario file; the CLI exits 254 on it.
type ScenarioFileError struct {
	File  string
	Line  int    // 1-based; 0 when the error is about the whole file
	Field string // dotted path, e.g. "set.rpo" or "faults[1].params.region"
	Err   error
}

func (e *ScenarioFileError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ScenarioFileError) Unwrap() error { return e.Err }

// scenarioFields are the top-level fields of a scenario file, in help order.
var scenarioFields = []string{"scenario", "name", "description", "seed", "set", "faults", "checks", "skip-checks", "expect"}

// faultFields are the fields of one entry of faults.
var faultFields = []string{"name", "params", "at", "duration", "after"}

// LoadScenarioFile reads a scenario file and returns the scenario it
// describes and the built-in scenario it starts from (for the replay
// command). Nothing is started; every fault is built and checked.
func LoadScenarioFile(path string) (sc Scenario, base Scenario, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return sc, base, &ScenarioFileError{File: path, Err: fmt.Errorf("read: %w", errors.Unwrap(err))}
	}
	return ParseScenarioFile(path, data)
}

// ParseScenarioFile parses the content of a scenario file; name is used in
// errors and decides the format (.json is JSON, anything else YAML).
func ParseScenarioFile(name string, data []byte) (sc Scenario, base Scenario, err error) {
	root, fields, err := fileFields(name, data)
	if err != nil {
		return sc, base, err
	}
	// The base comes first: every other field changes it.
	if base, err = fileBase(name, fields); err != nil {
		return sc, base, err
	}
	sc = base
	if err := fileHeader(name, fields, &sc); err != nil {
		return sc, base, err
	}
	if n, ok := fields["set"]; ok {
		if err := fileSets(name, n, &sc); err != nil {
			return sc, base, err
		}
	}
	if n, ok := fields["faults"]; ok {
		if sc.Faults, err = faultSteps(name, n); err != nil {
			return sc, base, err
		}
	}
	if n, ok := fields["checks"]; ok {
		// The file's checks add to those its faults call for
		// (DerivedChecks); they take the place of the base's own additions.
		if sc.Checks, err = checkList(name, n, "checks"); err != nil {
			return sc, base, err
		}
	}
	if n, ok := fields["skip-checks"]; ok {
		skip, err := checkList(name, n, "skip-checks")
		if err != nil {
			return sc, base, err
		}
		for _, v := range skip {
			if !slices.Contains(sc.SkipChecks, v) {
				sc.SkipChecks = append(sc.SkipChecks, v)
			}
		}
	}
	if n, ok := fields["expect"]; ok {
		if sc.Expect, err = fileExpect(name, n); err != nil {
			return sc, base, err
		}
	}
	// What only the whole scenario can tell (a knob combination); the line is
	// the file's first.
	if err := Validate(sc); err != nil {
		var ke *KnobError
		if errors.As(err, &ke) {
			return sc, base, &ScenarioFileError{File: name, Line: root.Line, Field: "set." + ke.Knob, Err: ke.Err}
		}
		return sc, base, &ScenarioFileError{File: name, Line: root.Line, Err: err}
	}
	return sc, base, nil
}

// fileError is an error at a line and field of a scenario file.
func fileError(file string, line int, field string, format string, args ...any) error {
	return &ScenarioFileError{File: file, Line: line, Field: field, Err: fmt.Errorf(format, args...)}
}

// fileFields parses a scenario file into its root mapping and its known
// fields (JSON is checked strictly first, for its own error positions).
func fileFields(name string, data []byte) (*yaml.Node, map[string]*yaml.Node, error) {
	if strings.EqualFold(filepath.Ext(name), ".json") {
		if err := checkJSON(data); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				return nil, nil, fileError(name, lineAt(data, se.Offset), "", "not valid JSON: %v", se)
			}
			return nil, nil, fileError(name, 0, "", "not valid JSON: %v", err)
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fileError(name, yamlErrorLine(err), "", "not valid YAML: %s", yamlErrorText(err))
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil, fileError(name, 0, "", "empty scenario file (want at least `scenario: NAME`)")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, nil, fileError(name, root.Line, "", "want a mapping of fields (%s), got %s", strings.Join(scenarioFields, ", "), kindName(root))
	}
	fields, err := mapping(name, root, "", scenarioFields)
	if err != nil {
		return nil, nil, err
	}
	return root, fields, nil
}

// fileBase is the built-in scenario the file names (region-outage when
// it names none).
func fileBase(name string, fields map[string]*yaml.Node) (Scenario, error) {
	baseName, line := "region-outage", 0
	if n, ok := fields["scenario"]; ok {
		if n.Kind != yaml.ScalarNode || n.Value == "" {
			return Scenario{}, fileError(name, n.Line, "scenario", "want the name of a built-in scenario")
		}
		baseName, line = n.Value, n.Line
	}
	b, ok := Builtin(baseName)
	if !ok {
		var names []string
		for _, s := range Builtins() {
			names = append(names, s.Name)
		}
		return Scenario{}, fileError(name, line, "scenario", "unknown built-in scenario %q (known: %s)", baseName, strings.Join(names, ", "))
	}
	return b, nil
}

// fileHeader reads the name, description and seed.
func fileHeader(name string, fields map[string]*yaml.Node, sc *Scenario) (err error) {
	if n, ok := fields["name"]; ok {
		if sc.Name, err = scalar(name, n, "name"); err != nil {
			return err
		}
		if sc.Name == "" || strings.ContainsAny(sc.Name, "/\\ \t") {
			return fileError(name, n.Line, "name", "want a non-empty name without spaces or slashes, got %q", sc.Name)
		}
	}
	if n, ok := fields["description"]; ok {
		if sc.Description, err = scalar(name, n, "description"); err != nil {
			return err
		}
	}
	if n, ok := fields["seed"]; ok {
		v, err := scalar(name, n, "seed")
		if err != nil {
			return err
		}
		if err := sc.Set("seed", v); err != nil {
			return knobFileError(name, n.Line, "seed", err)
		}
	}
	return nil
}

// fileSets applies the set mapping, knob by knob.
func fileSets(name string, n *yaml.Node, sc *Scenario) error {
	if n.Kind != yaml.MappingNode {
		return fileError(name, n.Line, "set", "want a mapping of knob: value, got %s", kindName(n))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if prev, dup := seen[k.Value]; dup {
			return fileError(name, k.Line, "set."+k.Value, "set twice (first on line %d)", prev)
		}
		seen[k.Value] = k.Line
		if _, known := sc.Get(k.Value); !known {
			return fileError(name, k.Line, "set."+k.Value, "unknown knob (bcdr drill --help lists them%s)", suggest(k.Value, knobNames()))
		}
		val, err := scalar(name, v, "set."+k.Value)
		if err != nil {
			return err
		}
		if err := sc.Set(k.Value, val); err != nil {
			return knobFileError(name, v.Line, "set."+k.Value, err)
		}
	}
	return nil
}

// checkList reads a list of check names (checks, skip-checks).
func checkList(name string, n *yaml.Node, field string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, fileError(name, n.Line, field, "want a list of check names, got %s", kindName(n))
	}
	var named []string
	for i, c := range n.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		v, err := scalar(name, c, f)
		if err != nil {
			return nil, err
		}
		if _, ok := assertions.Lookup(v); !ok {
			return nil, fileError(name, c.Line, f, "unknown check %q (known: %s)", v, strings.Join(assertions.Names(), ", "))
		}
		named = append(named, v)
	}
	return named, nil
}

// fileExpect reads the expect mapping of check: verdict.
func fileExpect(name string, n *yaml.Node) (map[string]assertions.Verdict, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fileError(name, n.Line, "expect", "want a mapping of check: verdict, got %s", kindName(n))
	}
	expect := map[string]assertions.Verdict{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := "expect." + k.Value
		if _, ok := assertions.Lookup(k.Value); !ok {
			return nil, fileError(name, k.Line, field, "unknown check (known: %s)", strings.Join(assertions.Names(), ", "))
		}
		val, err := scalar(name, v, field)
		if err != nil {
			return nil, err
		}
		switch assertions.Verdict(val) {
		case assertions.Pass, assertions.Fail, assertions.Unknown:
		default:
			return nil, fileError(name, v.Line, field, "want pass, fail or unknown, got %q", val)
		}
		expect[k.Value] = assertions.Verdict(val)
	}
	return expect, nil
}

// faultSteps reads the faults list.
func faultSteps(file string, n *yaml.Node) ([]FaultStep, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, &ScenarioFileError{File: file, Line: n.Line, Field: "faults", Err: fmt.Errorf("want a list of faults, got %s", kindName(n))}
	}
	steps := []FaultStep{}
	for i, item := range n.Content {
		st, err := faultStep(file, item, fmt.Sprintf("faults[%d]", i))
		if err != nil {
			return nil, err
		}
		steps = append(steps, st)
	}
	return steps, nil
}

// faultError is an error of file at line in field (an item of the faults
// list), or in its key sub when sub is not "".
func faultError(file string, line int, field, sub, format string, args ...any) error {
	f := field
	if sub != "" {
		f += "." + sub
	}
	return &ScenarioFileError{File: file, Line: line, Field: f, Err: fmt.Errorf(format, args...)}
}

// faultStep reads one item (field) of the faults list: a fault name, with
// its defaults, or a mapping of name, params, after, at and duration. The
// fault must build.
func faultStep(file string, item *yaml.Node, field string) (FaultStep, error) {
	var st FaultStep
	switch item.Kind {
	case yaml.ScalarNode: // "- wan-partition": a fault with its defaults
		st.Name = item.Value
	case yaml.MappingNode:
		if err := readFaultMapping(file, item, field, &st); err != nil {
			return FaultStep{}, err
		}
	default:
		return FaultStep{}, faultError(file, item.Line, field, "", "want a fault name or a mapping (name, params, at, duration), got %s", kindName(item))
	}
	if _, _, err := faults.New(st.Name, st.Params); err != nil {
		return FaultStep{}, faultBuildError(file, item, field, st.Name, err)
	}
	return st, nil
}

// readFaultMapping reads a fault given as a mapping (item, at field) into
// st.
func readFaultMapping(file string, item *yaml.Node, field string, st *FaultStep) error {
	fs, err := mapping(file, item, field, faultFields)
	if err != nil {
		return err
	}
	nm, ok := fs["name"]
	if !ok {
		return faultError(file, item.Line, field, "name", "missing (bcdr faults lists them)")
	}
	if st.Name, err = scalar(file, nm, field+".name"); err != nil {
		return err
	}
	if p, ok := fs["params"]; ok {
		if p.Kind != yaml.MappingNode {
			return faultError(file, p.Line, field, "params", "want a mapping of parameter: value, got %s", kindName(p))
		}
		st.Params = map[string]string{}
		for j := 0; j+1 < len(p.Content); j += 2 {
			k, v := p.Content[j], p.Content[j+1]
			val, err := scalar(file, v, field+".params."+k.Value)
			if err != nil {
				return err
			}
			st.Params[k.Value] = val
		}
	}
	if an, ok := fs["after"]; ok {
		if st.After, err = scalar(file, an, field+".after"); err != nil {
			return err
		}
	}
	for _, d := range []struct {
		key string
		to  *time.Duration
	}{{"at", &st.At}, {"duration", &st.Duration}} {
		dn, ok := fs[d.key]
		if !ok {
			continue
		}
		if *d.to, err = faultOffset(file, dn, field, d.key); err != nil {
			return err
		}
	}
	return nil
}

// faultOffset reads a fault's at or duration (key, node dn): a duration in
// 0s..MaxFaultOffset.
func faultOffset(file string, dn *yaml.Node, field, key string) (time.Duration, error) {
	v, err := scalar(file, dn, field+"."+key)
	if err != nil {
		return 0, err
	}
	dur, err := time.ParseDuration(v)
	if err != nil {
		if overflowsDuration(v) {
			return 0, faultError(file, dn.Line, field, key, "must be in 0s..%s, got %s", shortDur(MaxFaultOffset), v)
		}
		return 0, faultError(file, dn.Line, field, key, "not a duration (want e.g. 15m, 4h): %q", v)
	}
	if dur < 0 || dur > MaxFaultOffset {
		return 0, faultError(file, dn.Line, field, key, "must be in 0s..%s, got %s", shortDur(MaxFaultOffset), v)
	}
	return dur, nil
}

// faultBuildError places the error of a fault (item, at field) that does
// not build: at its name when the fault is unknown, else at its params,
// or at the parameter the message names.
func faultBuildError(file string, item *yaml.Node, field, name string, err error) error {
	line, sub := item.Line, "name"
	if _, known := faults.Lookup(name); known {
		sub = "params"
		if item.Kind == yaml.MappingNode {
			if fs, _ := mapping(file, item, field, faultFields); fs["params"] != nil {
				line = fs["params"].Line
				// Point at the offending parameter when the message names one.
				p := fs["params"]
				for j := 0; j+1 < len(p.Content); j += 2 {
					if strings.Contains(err.Error(), "\""+p.Content[j].Value+"\"") || strings.Contains(err.Error(), "parameter "+p.Content[j].Value+":") {
						line, sub = p.Content[j].Line, "params."+p.Content[j].Value
					}
				}
			}
		}
	} else if item.Kind == yaml.MappingNode {
		if fs, _ := mapping(file, item, field, faultFields); fs["name"] != nil {
			line = fs["name"].Line
		}
	}
	return faultError(file, line, field, sub, "%v", err)
}

// mapping reads a mapping node's keys, refusing unknown and repeated ones.
func mapping(file string, n *yaml.Node, prefix string, known []string) (map[string]*yaml.Node, error) {
	out := map[string]*yaml.Node{}
	lines := map[string]int{}
	candidates := known
	if prefix == "" {
		candidates = append(append([]string(nil), known...), knobNames()...)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := k.Value
		if prefix != "" {
			field = prefix + "." + k.Value
		}
		ok := false
		for _, f := range known {
			ok = ok || f == k.Value
		}
		if !ok {
			return nil, &ScenarioFileError{File: file, Line: k.Line, Field: field,
				Err: fmt.Errorf("unknown field (known: %s)%s", strings.Join(known, ", "), suggest(k.Value, candidates))}
		}
		if prev, dup := lines[k.Value]; dup {
			return nil, &ScenarioFileError{File: file, Line: k.Line, Field: field, Err: fmt.Errorf("given twice (first on line %d)", prev)}
		}
		lines[k.Value] = k.Line
		out[k.Value] = v
	}
	return out, nil
}

// scalar reads a node that must be a single value.
func scalar(file string, n *yaml.Node, field string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", &ScenarioFileError{File: file, Line: n.Line, Field: field, Err: fmt.Errorf("want a single value, got %s", kindName(n))}
	}
	return n.Value, nil
}

func knobFileError(file string, line int, field string, err error) error {
	var ke *KnobError
	if errors.As(err, &ke) {
		err = ke.Err
	}
	return &ScenarioFileError{File: file, Line: line, Field: field, Err: err}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

func knobNames() []string {
	var out []string
	for _, k := range Knobs() {
		out = append(out, k.Name)
	}
	return out
}

// suggest names a close known name: a knob placed at the top level instead
// of under set, or a small typo.
func suggest(got string, known []string) string {
	for _, k := range known {
		if k == got {
			if _, isField := indexOf(scenarioFields, got); !isField {
				return fmt.Sprintf("; %s is a knob: put it under set", got)
			}
		}
	}
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(got, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf("; did you mean %s?", best)
	}
	return ""
}

func indexOf(xs []string, x string) (int, bool) {
	for i, v := range xs {
		if v == x {
			return i, true
		}
	}
	return -1, false
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// checkJSON reports JSON syntax errors (with their offsets), which YAML would
// describe less precisely.
func checkJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	if dec.More() {
		return &json.SyntaxError{Offset: dec.InputOffset()}
	}
	return nil
}

func lineAt(data []byte, offset int64) int {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	return bytes.Count(data[:offset], []byte("\n")) + 1
}

// yamlErrorLine digs the line out of a yaml.v3 error ("yaml: line 3: ...").
func yamlErrorLine(err error) int {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	var line int
	if i := strings.Index(msg, "line "); i >= 0 {
		fmt.Sscanf(msg[i+len("line "):], "%d", &line)
	}
	return line
}

func yamlErrorText(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if i := strings.Index(msg, "line "); i == 0 {
		if j := strings.Index(msg, ": "); j > 0 {
			msg = msg[j+2:]
		}
	}
	return msg
}

// fileDoc is a scenario file as written by ScenarioFile.
type fileDoc struct {
	Scenario    string             `yaml:"scenario"`
	Name        string             `yaml:"name,omitempty"`
	Description *string            `yaml:"description,omitempty"` // nil: the base's; "" is written
	Seed        int64              `yaml:"seed"`
	Set         map[string]string  `yaml:"set,omitempty"`
	Faults      []fileFault        `yaml:"faults"`           // always written: none is not the base's
	Checks      *[]string          `yaml:"checks,omitempty"` // nil: the base's; an empty list is written
	SkipChecks  []string           `yaml:"skip-checks,omitempty"`
	Expect      *map[string]string `yaml:"expect,omitempty"` // nil: the base's; an empty map is written
}

type fileFault struct {
	Name     string            `yaml:"name"`
	Params   map[string]string `yaml:"params,omitempty"`
	At       string            `yaml:"at,omitempty"`
	Duration string            `yaml:"duration,omitempty"`
	After    string            `yaml:"after,omitempty"`
}

// ScenarioFile writes sc as a scenario file over the built-in base: the
// knobs that differ from the base, and the faults, checks and expectations.
// bcdr drill --file reads it back to the same scenario, so a suite row or a
// derived scenario that is not built in can be replayed from the CLI.
func ScenarioFile(sc, base Scenario) ([]byte, error) {
	doc := fileDoc{Scenario: base.Name, Seed: sc.Seed, SkipChecks: sc.SkipChecks, Faults: []fileFault{}}
	if sc.Name != base.Name {
		doc.Name = sc.Name
	}
	if sc.Description != base.Description {
		doc.Description = &sc.Description
	}
	// An empty list or map is written when the base has some: left out, the
	// file would get the base's.
	if len(sc.Checks) > 0 || len(base.Checks) > 0 {
		checks := append([]string{}, sc.Checks...)
		doc.Checks = &checks
	}
	if len(sc.Expect) > 0 || len(base.Expect) > 0 {
		expect := map[string]string{}
		doc.Expect = &expect
	}
	bv := base.KnobValues()
	for k, v := range sc.KnobValues() {
		if k != "seed" && k != "skip-checks" && bv[k] != v {
			if doc.Set == nil {
				doc.Set = map[string]string{}
			}
			doc.Set[k] = v
		}
	}
	for _, st := range sc.Faults {
		ff := fileFault{Name: st.Name, Params: st.Params, After: st.After}
		if st.At != 0 {
			ff.At = st.At.String()
		}
		if st.Duration != 0 {
			ff.Duration = st.Duration.String()
		}
		doc.Faults = append(doc.Faults, ff)
	}
	for k, v := range sc.Expect {
		(*doc.Expect)[k] = string(v)
	}
	return yaml.Marshal(doc)
}
