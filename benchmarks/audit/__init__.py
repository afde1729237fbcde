"""``sgvb audit``: what each metric responds to, measured with controlled distortions of the user's own videos.

``runner.run_audit`` splits a dataset into a reference and a test half, distorts the test half
(``metrics/distortions.py``, registry kind ``distortion``) at each strength and scores every metric
between the halves; ``summary`` turns the long-form table into Spearman correlations and the
spatial-vs-temporal sensitivity ratio; ``figures`` draws one response-curve figure per family;
``command`` is the Hydra front end (``benchmarks/conf/audit.yaml``, ``preset=quick``).
"""
