from charm_apps.build import main

main()
