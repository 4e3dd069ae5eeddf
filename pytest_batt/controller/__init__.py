"""The controller: the process that runs the session, gathers every sample's record and writes the results.

``session`` holds its hooks (records, verdicts, results, summary), ``xdist_hooks`` what exists
only with pytest-xdist, ``scheduling`` which worker runs which sample, and ``sandboxing`` and
``devices`` what ``--batt-sandbox`` and ``--batt-gpus`` put into the workers' specs. Loaded with
``--batt`` only; workers never register any of it.
"""
