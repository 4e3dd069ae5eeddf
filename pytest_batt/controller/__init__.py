"""The controller: the process that runs the session, gathers every sample's record and writes the results.

``session`` holds its hooks (records, verdicts, results, summary), ``xdist_hooks`` what exists
only with pytest-xdist, and ``scheduling`` which worker runs which sample. Loaded with ``--batt``
only; workers never register any of it.
"""
