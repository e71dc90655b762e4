"""The findings, one module per section of the report (docs/report.md says how each is computed).

``meanings`` says what a kind of record means and how sure that is;
``evidence`` turns a record into an evidence item and items into a
statement; ``kept`` is what every section reads (the builder's records)
and where it marks the chart's points. The sections: ``feature`` (feature
state and policy), ``configurations``, ``disks`` (and what is inside them),
``sessions`` with ``launch`` (how each was started), ``folders`` (mapped
folders and the host's writes to them), ``anomalies`` (and the context that
is not evidence of use), ``checked`` (what was looked for) and ``chart``.
``report.verdict`` runs them in order and sums them up.
"""
