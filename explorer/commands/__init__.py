"""Commands of `python -m explorer` that run jobs through the services (explorer/app); explorer/cli.py registers
them. One module per command, each with `add_parser(sub)`."""
