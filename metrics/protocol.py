"""Protocol ids: a short readable name and a hash of everything that defines a metric's number.

Two records with the same ``protocol_hash`` were measured the same way (same metric definition and
code version, counts, frames, offset rule, covariance, quantisation, resolution, detector weights,
mode and number of runs) and may be compared or averaged; the seed and the data are not part of it.
``PROTOCOL_VERSION`` on a metric class is bumped whenever its definition in code changes
(``tests/test_protocol.py`` pins a fingerprint of the defining code to catch a change without a bump).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from .sources import OFFSET_RULES, QUANTISATION

# protocol fields that do not define the number (how it was run, not what was measured)
NOT_DEFINING = frozenset(
    {"seed", "real_cache_hit", "world_size", "fake_source", "num_real", "num_fake", "allow_fewer", "fewer_than_name"}
)


def protocol_definition(metric: Any, protocol: dict[str, Any]) -> dict[str, Any]:
    """The fields the hash covers: the metric's own settings, its version and the defining protocol fields."""
    from .base import metric_definition

    mode = protocol.get("mode", "default")
    return {
        "metric": metric.name,
        "protocol_version": int(getattr(metric, "PROTOCOL_VERSION", 1)),
        "definition": metric_definition(metric),
        "offset_rule": OFFSET_RULES.get(mode),
        "quantisation": QUANTISATION,
        **{k: v for k, v in protocol.items() if k not in NOT_DEFINING and not k.startswith("protocol_")},
    }


def protocol_identity(metric: Any, protocol: dict[str, Any]) -> dict[str, Any]:
    """``protocol_id`` (readable), ``protocol_hash`` (sha256 prefix of the definition) and ``protocol_version``."""
    definition = protocol_definition(metric, protocol)
    digest = hashlib.sha256(json.dumps(definition, sort_keys=True, default=str).encode()).hexdigest()[:16]
    detector = str(protocol.get("detector", "?")).replace("[stand-in]", "")
    weights = "stand-in" if protocol.get("stand_in") else (protocol.get("detector_sha256") or "unpinned")[:8]
    parts = [
        metric.name,
        f"v{definition['protocol_version']}",
        protocol.get("mode", "default"),
        f"{detector}-{weights}",
        f"{protocol.get('resolution', '?')}px",
    ]
    if int(protocol.get("num_runs", 1)) > 1:
        parts.append(f"runs{protocol['num_runs']}")
    if protocol.get("fewer_than_name"):
        parts.append("fewer")
    return {"protocol_id": "/".join(parts), "protocol_hash": digest, "protocol_version": definition["protocol_version"]}


def definition_fingerprint(metric_cls: type) -> str:
    """sha256 prefix of the code that defines a metric's number: the module defining the class (its helper
    functions define the number too), ``metrics.samples`` where that module uses it to pick its items, and the
    shared selection/statistics functions.

    Compared as ASTs without docstrings, so comments, docstrings and formatting do not count; any other
    change does, and must come with a ``PROTOCOL_VERSION`` bump (``tests/test_protocol.py`` holds the pins).
    """
    import inspect
    import textwrap

    from . import kvd, samples, sources, stats

    module = inspect.getmodule(metric_cls)
    parts = [module] + (
        [samples] if getattr(module, "samples", None) is samples else []
    )  # IS and KID pick their items there
    borrowed = [f for f in vars(module).values() if inspect.isfunction(f) and f.__module__ == kvd.__name__]
    if module is not kvd and borrowed:  # JEDi and PRDC pick their clips with KVD's functions
        parts += [kvd.clip_feature_sets, kvd.select_real, kvd.clip_rows, kvd.fake_clip_features]
    parts += [
        sources.select_real_clips,
        sources.select_folder_clips,
        sources.select_all_frames,
        sources.quantize,
        sources.iter_generated,
        stats.FeatureStats.update,
        stats.FeatureStats.mean_cov,
        stats.frechet_distance,
        stats.trace_sqrt_product,
    ]
    digest = hashlib.sha256()
    for obj in parts:
        digest.update(code_without_docstrings(textwrap.dedent(inspect.getsource(obj))).encode())
    return digest.hexdigest()[:16]


NOT_DEFINING_CLASS_ATTRIBUTES = frozenset({"value_range"})  # what tables read about a metric, not how it is computed


def code_without_docstrings(source: str) -> str:
    """The AST of ``source`` as text, docstrings and class-level assignments of ``NOT_DEFINING_CLASS_ATTRIBUTES``
    (a metric's declared ``value_range``) dropped (comments and layout never reach the AST)."""
    import ast

    def not_defining(statement: ast.stmt) -> bool:
        targets = statement.targets if isinstance(statement, ast.Assign) else [getattr(statement, "target", None)]
        return isinstance(statement, (ast.Assign, ast.AnnAssign)) and all(
            isinstance(t, ast.Name) and t.id in NOT_DEFINING_CLASS_ATTRIBUTES for t in targets
        )

    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            node.body = [s for s in node.body if not not_defining(s)] or [ast.Pass()]
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(getattr(body[0], "value", None), ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, annotate_fields=False)
