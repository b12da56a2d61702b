"""The applications, the top floor: the ``charm-build`` app (``build``, with ``core_commands``), the
``charm-train`` app (``train``) and the demo (``demo``). They call the stages' library functions and
command functions; no stage imports them.
"""
