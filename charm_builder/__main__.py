"""``python -m charm_builder``: the ``charm-build`` app, as before the apps moved to ``charm_apps``.

An entry point like ``[project.scripts]``, not a module anything imports, so it is the one place in
this package that names the app floor (tests/test_layers.py exempts it).
"""

from charm_apps.build import main

main()
