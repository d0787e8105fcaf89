"""``flask --app webapp …`` commands, one module per concern."""
from flask import Flask


def register_cli(app: Flask) -> None:
    from . import demo, maintenance, notify, places, storage, users

    for module in (users, places, demo, notify, maintenance, storage):
        for command in module.COMMANDS:
            app.cli.add_command(command)

    from .workflow import COMMANDS as workflow_commands

    for command in workflow_commands:
        app.cli.add_command(command)

    from .backup import COMMANDS as backup_commands

    for command in backup_commands:
        app.cli.add_command(command)

    from .reports import COMMANDS as report_commands

    for command in report_commands:
        app.cli.add_command(command)
