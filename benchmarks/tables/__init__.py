"""``sgvb table``: run folders -> long-form tidy tables, comparisons with intervals, text/Markdown/LaTeX, plots.

One job per module, data flowing one way: ``runs`` (read run folders) -> ``tidy`` (the long-form table)
-> ``selection`` (one checkpoint per run) -> ``comparison`` (configurations x keys, with ``stats``) ->
``export`` and ``plots``; ``labels`` holds the marks and cell text they share; ``table`` is the command.
"""


class TableError(ValueError):
    """Bad input for a table: no runs found, an unknown selection or baseline."""
