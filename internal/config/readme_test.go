package config

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeListsEverySetting keeps the README's configuration table in step
// with the code.
func TestReadmeListsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, v := range Vars {
		def := "—"
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		row := "| `" + v.Name + "` | " + def + " | " + v.Doc + " |"
		if !strings.Contains(readme, row) {
			t.Errorf("README lacks the row:\n%s", row)
		}
	}
}
