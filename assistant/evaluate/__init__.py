"""The eval harness: a YAML suite of jsonl gold sets → metrics, gates, JSON / Markdown / JUnit reports.

A suite names its datasets (with a field mapping, so any gold set fits), the tasks to run on
them and the gates CI enforces. LLM calls go through the replay cache in the suite's cache dir:
``--record`` fills it with the real model, ``--replay`` runs from it alone (a miss is an error),
so CI needs no model and scores the same run after run. Only latency differs between runs, and
it is kept apart from the metrics.

Modules: ``suite`` (the file), ``datasets``, ``metrics`` (every score's definition), ``tasks/``
(one per task, each returning a typed result), ``gates``, ``baseline`` (the diff),
``results`` (the typed ``RunResult``), ``run`` (``run_suite``), ``report/`` (markdown, junit,
plot) and ``calibration`` (how well the consistency threshold generalises).

Nothing is imported here: ``import assistant.evaluate.run`` etc. loads only what it names, so the
library's lower layers never pay for (or depend on) the harness.
"""
