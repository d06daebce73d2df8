package main

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// exampleRules is a file an operator might write: a health check open to
// all, an admin area for one group, the office network let through, a
// private area refused, and a rule the health check shadows.
const exampleRules = `default: authenticated
rules:
  - name: health
    paths: [/healthz]
    action: allow
  - name: admin
    hosts: [app.example.com]
    paths: [/admin/*]
    groups: [admins]
    action: authenticated
  - name: office
    networks: [10.0.0.0/8]
    action: allow
  - name: private
    paths: [/private/*]
    action: deny
`

func TestRulesCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	writeFile(t, good, exampleRules)
	shadowed := filepath.Join(dir, "shadowed.yaml")
	writeFile(t, shadowed, exampleRules+"  - name: health-deny\n    paths: [/healthz]\n    action: deny\n")
	one := filepath.Join(dir, "one.yaml")
	writeFile(t, one, allowOnly("/a"))
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, strings.Replace(exampleRules, "10.0.0.0/8", "10.0.0.0/33", 1))

	cases := []struct {
		name    string
		args    []string
		wantOut string // all of stdout
		wantErr []string
	}{
		{"good file: one line", []string{"rules", "check", good}, good + ": 4 rules, default authenticated\n", nil},
		{"one rule", []string{"rules", "check", one}, one + ": 1 rule, default authenticated\n", nil},
		{"warnings on further lines", []string{"rules", "check", shadowed}, shadowed + ": 5 rules, default authenticated\n" +
			`warning: rule "health-deny" (position 5, line 17) can never match: rule "health" (position 1, line 3) before it matches every request it would` + "\n", nil},
		{"bad file", []string{"rules", "check", bad}, "", []string{bad + ":11:", `rule "office"`, `network "10.0.0.0/33"`}},
		{"missing file", []string{"rules", "check", filepath.Join(dir, "nope.yaml")}, "", []string{"nope.yaml", "no such file"}},
		{"no file", []string{"rules", "check"}, "", []string{"takes 1 argument"}},
		{"unknown command", []string{"rules", "lint", good}, "", []string{`unknown rules command "lint"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCLI(t, "", nil, tc.args...)
			if tc.wantErr == nil {
				if err != nil || out != tc.wantOut {
					t.Fatalf("got %q, %v; want %q", out, err, tc.wantOut)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; output %q", out)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

func TestRulesExplain(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, file, exampleRules)
	cases := []struct {
		name    string
		args    []string // after "rules explain"
		wantOut string   // all of stdout
		wantErr string
	}{
		{"deciding rule and the skipped ones",
			[]string{file, "--url", "https://app.example.com/private/notes?x=1", "--ip", "192.0.2.1"},
			"decision: deny\nrule: private (position 4, line 14)\n" +
				"skipped: health (position 1): paths: /private/notes is not covered\n" +
				"skipped: admin (position 2): paths: /private/notes is not covered\n" +
				"skipped: office (position 3): networks: 192.0.2.1 is not in them\n", ""},
		{"flags before the file", []string{"-url", "https://app.example.com/healthz", file},
			"decision: allow\nrule: health (position 1, line 3)\n", ""},
		{"default", []string{file, "--url", "https://other.example.com/admin/x", "--method", "post"},
			"decision: authenticated\nrule: default\n" +
				"skipped: health (position 1): paths: /admin/x is not covered\n" +
				"skipped: admin (position 2): hosts: other.example.com is not listed\n" +
				"skipped: office (position 3): networks: an unknown address is not in them\n" +
				"skipped: private (position 4): paths: /admin/x is not covered\n", ""},
		{"member of the rule's group: allowed", []string{file, "--url", "https://app.example.com/admin/users", "--user", "alice", "--groups", "dev, Admins"},
			"decision: allowed\nrule: admin (position 2, line 6)\nskipped: health (position 1): paths: /admin/users is not covered\n", ""},
		{"not a member: forbidden", []string{file, "--url", "https://app.example.com/admin/users", "--user", "bob", "--groups", "dev"},
			"decision: forbidden\nrule: admin (position 2, line 6)\nskipped: health (position 1): paths: /admin/users is not covered\n", ""},
		{"no groups: forbidden", []string{file, "--url", "https://app.example.com/admin/users", "--user", "bob"},
			"decision: forbidden\nrule: admin (position 2, line 6)\nskipped: health (position 1): paths: /admin/users is not covered\n", ""},
		{"a user on the default: allowed", []string{file, "--url", "https://app.example.com/reports", "--user", "bob", "--ip", "192.0.2.1"},
			"decision: allowed\nrule: default\n" +
				"skipped: health (position 1): paths: /reports is not covered\n" +
				"skipped: admin (position 2): paths: /reports is not covered\n" +
				"skipped: office (position 3): networks: 192.0.2.1 is not in them\n" +
				"skipped: private (position 4): paths: /reports is not covered\n", ""},
		{"relative URL: the original request is unknown", []string{file, "--url", "/healthz", "--ip", "10.1.2.3"},
			"decision: allow\nrule: office (position 3, line 11)\n" +
				"skipped: health (position 1): paths: the original request is unknown\n" +
				"skipped: admin (position 2): hosts: the original request is unknown\n", ""},
		{"bad ip", []string{file, "--url", "https://app.example.com/", "--ip", "10.1.2"}, "", "-ip"},
		{"no url", []string{file}, "", "-url is required"},
		{"groups without user", []string{file, "--url", "https://app.example.com/", "--groups", "a"}, "", "-groups needs -user"},
		{"unknown flag", []string{file, "--url", "https://app.example.com/", "--group", "a"}, "", "flag provided but not defined: -group"},
		{"bad file", []string{filepath.Join(filepath.Dir(file), "nope.yaml"), "--url", "https://app.example.com/"}, "", "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCLI(t, "", nil, append([]string{"rules", "explain"}, tc.args...)...)
			if tc.wantErr == "" {
				if err != nil || out != tc.wantOut {
					t.Fatalf("got %q, %v\nwant %q", out, err, tc.wantOut)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q (output %q)", err, tc.wantErr, out)
			}
		})
	}
}

func TestRulesExplainJSON(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, file, exampleRules)
	type skip struct {
		Rule     string `json:"rule"`
		Position int    `json:"position"`
		Mismatch string `json:"mismatch"`
	}
	type answer struct {
		Decision string `json:"decision"`
		Rule     string `json:"rule"`
		Position int    `json:"position"`
		Skipped  []skip `json:"skipped"`
	}
	cases := []struct {
		name string
		args []string
		want answer
		raw  string // a substring of the raw output, where the encoding matters
	}{
		{"deciding rule", []string{"--url", "https://app.example.com/admin/x", "--user", "alice", "--groups", "admins"},
			answer{"allowed", "admin", 2, []skip{{"health", 1, "paths: /admin/x is not covered"}}}, ""},
		{"first rule: skipped is [] not null", []string{"--url", "https://app.example.com/healthz"},
			answer{"allow", "health", 1, []skip{}}, `"skipped":[]`},
		{"default: position 0", []string{"--url", "https://app.example.com/reports", "--ip", "192.0.2.1"},
			answer{"authenticated", "default", 0, []skip{
				{"health", 1, "paths: /reports is not covered"},
				{"admin", 2, "paths: /reports is not covered"},
				{"office", 3, "networks: 192.0.2.1 is not in them"},
				{"private", 4, "paths: /reports is not covered"},
			}}, `"rule":"default","position":0`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCLI(t, "", nil, append([]string{"rules", "explain", "--json", file}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Count(out, "\n") != 1 || !strings.Contains(out, tc.raw) {
				t.Fatalf("output %q: want one line with %q", out, tc.raw)
			}
			var got answer
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestRulesExplainMFA: explain shows a rule's second-factor requirement,
// in text and in JSON.
func TestRulesExplainMFA(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules.yaml")
	writeFile(t, file, "default: authenticated\nrules:\n  - name: admin\n    paths: [/admin/*]\n    action: authenticated\n    mfa: true\n")
	out, err := runCLI(t, "", nil, "rules", "explain", file, "--url", "https://app.example.com/admin/x")
	if err != nil {
		t.Fatal(err)
	}
	if want := "decision: authenticated\nrule: admin (position 1, line 3)\nmfa: required"; !strings.HasPrefix(out, want) {
		t.Fatalf("output %q, want it to start with %q", out, want)
	}
	out, _ = runCLI(t, "", nil, "rules", "explain", "--json", file, "--url", "https://app.example.com/admin/x")
	if !strings.Contains(out, `"mfa":true`) {
		t.Fatalf("JSON %q lacks \"mfa\":true", out)
	}
	out, _ = runCLI(t, "", nil, "rules", "explain", "--json", file, "--url", "https://app.example.com/other")
	if !strings.Contains(out, `"mfa":false`) {
		t.Fatalf("JSON %q lacks \"mfa\":false for the default", out)
	}
	out, _ = runCLI(t, "", nil, "rules", "explain", file, "--url", "https://app.example.com/other")
	if strings.Contains(out, "mfa") {
		t.Fatalf("output %q names mfa for a rule without it", out)
	}
}
