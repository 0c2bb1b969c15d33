// Command cmconfig prints Gatekeeper's configuration file out of rendered
// Helm manifests (stdin): the config.yaml of the chart's ConfigMap, so CI can
// run `gatekeeper config check` on exactly what a release would run with.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cmconfig:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	b, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("reading the manifests: %w", err)
	}
	var found []string
	for _, doc := range strings.Split(string(b), "\n---") {
		var obj struct {
			Kind string            `json:"kind"`
			Data map[string]string `json:"data"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return fmt.Errorf("decoding a manifest: %w", err)
		}
		if c, ok := obj.Data["config.yaml"]; ok && obj.Kind == "ConfigMap" {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		return errors.New("want exactly one ConfigMap with config.yaml, found " + fmt.Sprint(len(found)))
	}
	_, err = io.WriteString(out, found[0])
	return err
}
