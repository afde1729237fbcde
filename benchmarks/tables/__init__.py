"""``sgvb table``: run folders -> long-form tidy tables, comparisons with intervals, text/Markdown/LaTeX, plots."""
