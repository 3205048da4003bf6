package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/chaosrun/chaosrun/scenario"
)

func newListCmd() *cobra.Command {
	var yamlOf string
	cmd := &cobra.Command{
		Use:   "list [--yaml NAME]",
		Short: "List the built-in scenarios, or print one as YAML to copy and edit",
		Long: `List the built-in scenarios, one line each.

With --yaml NAME, print that scenario as a YAML file with every default
filled in: save it, edit it, and run it with ` + "`chaosrun run FILE.yaml`" + `.
NAME may also be a scenario file, which is then printed as chaosrun reads it.

Exit status: 0, or 2 when NAME is neither a built-in nor a valid file.`,
		Example: `  chaosrun list
  chaosrun list --yaml owner-isolation > my-scenario.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if yamlOf != "" {
				s, err := scenario.Load(yamlOf)
				if err != nil {
					return &exitError{code: exitHarnessError, err: err}
				}
				text, err := s.YAML()
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "# Scenario %s, every default filled in. Edit it and run it with:\n#   chaosrun run FILE.yaml\n", s.Name)
				_, err = out.Write(text)
				return err
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tFENCING OFF\tDESCRIPTION")
			for _, s := range scenario.Builtins() {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, offText(s.Expect), s.Description)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&yamlOf, "yaml", "", "print this built-in scenario (or scenario file) as YAML")
	return cmd
}

// offText is the declared verdict with fencing off, one word, with the
// backends that differ: "fail", "either", "pass,toxiproxy:fail".
func offText(e scenario.Expect) string {
	t := e.Off
	for _, b := range e.Backends {
		if b.Off != e.Off {
			t += "," + b.Backend + ":" + b.Off
		}
	}
	return t
}
