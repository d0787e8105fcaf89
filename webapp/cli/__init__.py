"""``flask --app webapp …`` commands, one module per concern."""
from flask import Flask


def register_cli(app: Flask) -> None:
    from . import users

    for module in (users,):
        for command in module.COMMANDS:
            app.cli.add_command(command)
