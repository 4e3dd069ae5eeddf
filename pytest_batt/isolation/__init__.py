"""Process isolation: what keeps one batt call from harming the calls, samples and run after it.

One room for the mechanism, whose parts only make sense together: the limits around each
call, what a batt may leave behind in its process (changed globals, threads, processes), the
watchdog that ends a worker whose call does not stop, and the notes that worker leaves for
the controller. Nothing here imports pytest.

- :mod:`.guard`: one batt call under its limits (:class:`~.guard.Guard`, :func:`~.guard.call_batt`);
- :mod:`.capabilities`: what this system offers for all of this, probed once per process;
- :mod:`.memory`: the memory limit of a call (``--batt-max-memory``, on by default): an
  address-space cap, or the watchdog's resident-memory limit where the system has none;
- :mod:`.peak_memory`: a sample's peak resident memory (``memory_mb``), reset per sample;
- :mod:`.peak_vram`: a sample's GPU memory through NVML (``vram_mb``, ``vram_peak_mb``), sampled by a thread;
- :mod:`.process_state`: process-wide state a call (or a library's program) may change, put back after it;
- :mod:`.threads`: threads a batt leaves running, asked to stop after each sample;
- :mod:`.processes`: processes a batt leaves running, found and ended after each sample;
- :mod:`.watchdog`: the hard stop, a separate process armed around each call, whose program
  is :mod:`.watchdog_process` (run as a script, not imported);
- :mod:`.slot`: the running slot, which sample, call and program a process runs, read by the
  watchdog, the backstop and (after a death) the controller;
- :mod:`.backstop`: a thread that stops a program or call whose SIGALRM timer was defeated;
- :mod:`.handoff`: what a dying worker leaves for the controller, and what that concludes.
"""
