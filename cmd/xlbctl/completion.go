package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// bashCompletion hooks bash into urfave/cli's --generate-bash-completion.
const bashCompletion = `_xlbctl_complete() {
  local cur words
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=$("${COMP_WORDS[0]}" "${COMP_WORDS[@]:1:COMP_CWORD-1}" --generate-bash-completion 2>/dev/null)
  COMPREPLY=($(compgen -W "${words}" -- "${cur}"))
}
complete -o default -F _xlbctl_complete xlbctl
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:        "completion",
		Usage:       "print a bash completion script",
		Description: "Load it with: source <(xlbctl completion bash)",
		ArgsUsage:   "bash",
		Action: func(c *cli.Context) error {
			if sh := c.Args().First(); sh != "bash" && sh != "" {
				return fmt.Errorf("completion for %q is not available: only bash", sh)
			}
			_, err := fmt.Fprint(c.App.Writer, bashCompletion)
			return err
		},
	}
}
