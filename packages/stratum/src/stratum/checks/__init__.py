"""Check a program's Stratum declarations before any model is called.

Every ``@contract``, ``@infer``, ``@flow`` and ``@refine`` checks itself
where it is decorated (docs/checks.md lists the rules). ``check`` imports a
program's modules with those checks collecting instead of raising, so one
run reports every mistake, with its file and line; ``stratum check`` (or
``python -m stratum check``) prints them::

    from stratum.checks import check

    report = check("src/myapp")           # files, directories or module names
    for finding in report.errors:
        print(finding)                    # src/myapp/calls.py:12: error: @infer classify: ... [ensure-field]
"""

from .._core.analysis.findings import Finding
from ._collect import Report, check

__all__ = ["Finding", "Report", "check"]
