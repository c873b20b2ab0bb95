"""The usage examples in stratum's docstrings run, as stratum-mcp's do.

Every module is searched, private ones included: most public names are
defined in a private module and re-exported by a face. An example that
names something moved or renamed, or forgets an import, fails here.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import stratum


def test_the_usage_examples_in_docstrings_run() -> None:
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    names = ["stratum", *(info.name for info in pkgutil.walk_packages(stratum.__path__, "stratum."))]
    attempted, failed = 0, []
    for name in names:
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            result = runner.run(test, out=lambda _text: None)
            attempted += result.attempted
            if result.failed:
                failed.append(test.name)
    assert failed == []
    assert attempted >= 30  # budget, config, parallel, race, review, the clients... (35 when written)
