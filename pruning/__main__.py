from pruning.cli.main import entry

raise SystemExit(entry())
