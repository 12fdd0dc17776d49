from aceserve.cli.main import cli

cli()
