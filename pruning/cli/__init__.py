"""The command line: arguments (options), what each command does (commands), exit codes
(main), and the MLproject file generated from the config (mlproject)."""
from pruning.cli.commands import EXIT_NOTHING_TO_SHOW
from pruning.cli.main import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_UNAVAILABLE, main
from pruning.cli.options import build_parser, config_from_args, dashes

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "EXIT_NOTHING_TO_SHOW", "EXIT_UNAVAILABLE",
           "build_parser", "config_from_args", "dashes", "main"]
