from charm_builder.cli import main

main()
