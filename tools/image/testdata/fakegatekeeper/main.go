// Command fakegatekeeper stands in for the real binary in the image tests:
// a small static executable whose `version --json` the check compares with
// the image's labels.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "version" && os.Args[2] == "--json" {
		fmt.Println(`{"version": "v0.0.0-test", "revision": "0123abcd", "go_version": "go"}`)
		return
	}
	os.Exit(2)
}
