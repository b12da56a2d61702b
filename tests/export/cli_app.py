"""`python -m tests.export.cli_app`: the real charm-build app with the export commands mounted
exactly as the lead will mount them (the shared CLI module is not edited on this branch)."""

from charm_builder.cli import app, main
from charm_builder.export import cli as export_cli

app.command("export")(export_cli.export)
app.command("translate")(export_cli.translate)

if __name__ == "__main__":
    main()
