package main

import (
	"io"
	"os"
	"strings"

	"github.com/fxmesh/fxmesh/client"
	"github.com/fxmesh/fxmesh/fault"
	"github.com/spf13/cobra"
)

// flagText is the text a flag names: @FILE is the file's contents, - is
// standard input (once per command: stdin names the flag that took it).
func flagText(cmd *cobra.Command, flag, value string, stdin *string) ([]byte, string, error) {
	switch {
	case value == "-":
		if *stdin != "" {
			return nil, "", fault.E(fault.Invalid, "", "%s - and %s - both read standard input; give one of them @FILE", *stdin, flag)
		}
		*stdin = flag
		b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), client.MaxInputLine+1))
		if err != nil {
			return nil, "", fault.E(fault.Invalid, "", "%s -: read standard input: %v", flag, err)
		}
		return b, flag + " (standard input)", nil
	case strings.HasPrefix(value, "@"):
		path := value[1:]
		if path == "" {
			return nil, "", fault.E(fault.Invalid, "", "%s @ needs a file name: %s @FILE", flag, flag)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, "", fault.E(fault.Invalid, "", "%s: %v", flag, err)
		}
		return b, flag + " (" + path + ")", nil
	}
	return []byte(value), flag, nil
}

// oneInput is the one input of --args and --kwargs, each JSON, @FILE or -.
func (f *runFlags) oneInput(cmd *cobra.Command) (client.Input, error) {
	var in client.Input
	var stdin string
	for _, a := range []struct {
		flag, value string
		open        byte
		to          *[]byte
	}{{"--args", f.args, '[', &in.Args}, {"--kwargs", f.kwargs, '{', &in.Kwargs}} {
		if a.value == "" {
			continue
		}
		text, name, err := flagText(cmd, a.flag, a.value, &stdin)
		if err != nil {
			return in, err
		}
		if *a.to, err = client.ArgsJSON(name, text, a.open); err != nil {
			return in, err
		}
	}
	return in, nil
}

// batchInputs reads --input: a file of JSON lines, or - for standard input.
func (f *runFlags) batchInputs(cmd *cobra.Command) ([]client.Input, error) {
	if f.input == "" {
		return nil, fault.E(fault.Invalid, "", "--input is required: a file of JSON lines, each {\"args\": [...], \"kwargs\": {...}}, or - for standard input")
	}
	if f.input == "-" {
		return client.ReadInputs(cmd.InOrStdin(), "standard input")
	}
	file, err := os.Open(f.input)
	if err != nil {
		return nil, fault.E(fault.Invalid, "", "--input: %v", err)
	}
	defer file.Close()
	return client.ReadInputs(file, f.input)
}
