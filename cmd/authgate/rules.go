package main

import (
	"log/slog"

	"github.com/authgate/authgate/verify/rules"
)

// openRulesFile puts AUTHGATE_RULES_FILE in force (rules.File keeps it so
// while the gate runs); the error names the variable, the file, and for
// a bad rule the line and the rule.
func openRulesFile(path string, log *slog.Logger) (*rules.File, error) {
	f, err := rules.OpenFile(path, log)
	if err != nil {
		return nil, badVar("RULES_FILE", "%v", err)
	}
	return f, nil
}
