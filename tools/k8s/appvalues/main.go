// Command appvalues prints the Helm values an Argo CD Application (stdin)
// gives Gatekeeper's chart, so that CI can render the chart with exactly
// those values: helm lint --strict (the chart's values.schema.json refuses
// a key the chart does not have), kubeconform and `gatekeeper config check`.
//
//	appvalues --path deploy/helm/gatekeeper <application.yaml >values.yaml
//
// The Application must take the chart from this repository's path and give
// its values inline (spec.source.helm.values or valuesObject). Parameters
// and value files are refused: they would reach the chart unchecked.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"sigs.k8s.io/yaml"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "appvalues:", err)
		os.Exit(1)
	}
}

type application struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		Source *struct {
			Path string `json:"path"`
			Helm *struct {
				Values       string         `json:"values"`
				ValuesObject map[string]any `json:"valuesObject"`
				ValueFiles   []string       `json:"valueFiles"`
				Parameters   []any          `json:"parameters"`
				FileParams   []any          `json:"fileParameters"`
			} `json:"helm"`
		} `json:"source"`
		Sources []any `json:"sources"`
	} `json:"spec"`
}

func run(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("appvalues", flag.ContinueOnError)
	path := fs.String("path", "", "the chart's path in the repository (spec.source.path)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" {
		return errors.New("usage: appvalues --path CHART_PATH <application.yaml")
	}
	b, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("reading the Application: %w", err)
	}
	var apps []application
	for i, doc := range strings.Split(string(b), "\n---") {
		var app application
		if err := yaml.Unmarshal([]byte(doc), &app); err != nil {
			return fmt.Errorf("decoding document %d: %w", i+1, err)
		}
		if app.APIVersion != "" || app.Kind != "" {
			apps = append(apps, app)
		}
	}
	if len(apps) != 1 {
		return fmt.Errorf("want exactly one manifest, found %d", len(apps))
	}
	app := apps[0]
	if app.APIVersion != "argoproj.io/v1alpha1" || app.Kind != "Application" {
		return fmt.Errorf("want an argoproj.io/v1alpha1 Application, found %s %s", app.APIVersion, app.Kind)
	}
	src := app.Spec.Source
	if src == nil || len(app.Spec.Sources) > 0 {
		return errors.New("want one spec.source (spec.sources is not checked)")
	}
	if src.Path != *path {
		return fmt.Errorf("spec.source.path is %q, want the chart at %q", src.Path, *path)
	}
	h := src.Helm
	if h == nil {
		return nil // the chart's defaults
	}
	if len(h.ValueFiles) > 0 || len(h.Parameters) > 0 || len(h.FileParams) > 0 {
		return errors.New("spec.source.helm: valueFiles, parameters and fileParameters are not checked; give the values in valuesObject")
	}
	if h.Values != "" && h.ValuesObject != nil {
		return errors.New("spec.source.helm: both values and valuesObject are set; Argo CD would use only valuesObject")
	}
	if h.ValuesObject != nil {
		b, err = yaml.Marshal(h.ValuesObject)
		if err != nil {
			return fmt.Errorf("encoding valuesObject: %w", err)
		}
		_, err = out.Write(b)
		return err
	}
	_, err = io.WriteString(out, h.Values)
	return err
}
