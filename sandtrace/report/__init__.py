"""The findings report: was Windows Sandbox used, how, and what ran inside (docs/report.md).

``model`` collects the records that can support a finding while events
stream by; ``verdict`` computes the findings with their evidence, one
section per module of ``findings``; the renderers ``markdown``, ``html`` and
``json`` write them.
"""
