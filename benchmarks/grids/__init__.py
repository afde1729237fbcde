"""``sgvb grid``: named ablation grids (``benchmarks/conf/grid``) run through Hydra's multirun, then tabulated."""
