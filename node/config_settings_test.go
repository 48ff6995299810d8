package node

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestConfigShowsEverySetting: the config.yaml fxnode init writes names
// every setting of Config, each with a one-line comment: the set ones as
// YAML, those at their defaults commented out. A new setting without a
// comment in fieldComments fails here.
func TestConfigShowsEverySetting(t *testing.T) {
	dir := t.TempDir()
	if err := SaveConfig(dir, &Config{Name: "x", Listen: DefaultListen, Workers: 3}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	text := "\n" + string(b)
	rt := reflect.TypeOf(Config{})
	for i := 0; i < rt.NumField(); i++ {
		key, _, _ := strings.Cut(rt.Field(i).Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		if fieldComments[key] == "" || strings.Contains(fieldComments[key], "\n") && key != "containers" {
			t.Errorf("setting %s has no one-line comment in fieldComments", key)
		}
		if !strings.Contains(text, "\n"+key+":") && !strings.Contains(text, "\n# "+key+":  # "+fieldComments[key]+"\n") {
			t.Errorf("config.yaml does not show %s", key)
		}
	}
	if !strings.Contains(text, "\nworkers: 3\n") || strings.Contains(text, "\n# workers:") {
		t.Errorf("a set value is not written as YAML:\n%s", b)
	}
	// What it wrote reads back as the same configuration.
	c, err := LoadConfig(dir)
	if err != nil || c.Workers != 3 || c.Name != "x" {
		t.Fatalf("LoadConfig: %+v, %v", c, err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil || m["max_queue"] != nil {
		t.Fatalf("a default is set in the YAML: %v %v", m["max_queue"], err)
	}
}
