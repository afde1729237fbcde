"""The offline weights error, as the console shows it (one line per error): what the file is, where it comes from,
its checksums and exactly which folder to put it in."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.errors import one_line_errors
from metrics import detectors, weights


@pytest.mark.parametrize("weights_dir", [None, "mine"])
def test_the_console_line_says_what_where_from_checksum_and_folder(tmp_path: Path, monkeypatch, capsys, weights_dir):
    monkeypatch.setenv("SGVB_OFFLINE", "1")
    monkeypatch.setenv("SGVB_CACHE_DIR", str(tmp_path / "cache"))
    if weights_dir is None:
        monkeypatch.delenv("SGVB_WEIGHTS_DIR", raising=False)
        folder = tmp_path / "cache"
    else:
        folder = tmp_path / weights_dir
        monkeypatch.setenv("SGVB_WEIGHTS_DIR", str(folder))
    spec = detectors.I3D_TORCHSCRIPT
    with one_line_errors("eval", known=(weights.WeightsError,), exit_on_error=False, log_dir=tmp_path):
        weights.resolve(spec)
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    for expected in (
        "sgvb eval: error: detector weights 'i3d_torchscript.pt' (the I3D video network of FVD",
        spec.url,
        spec.sha256,
        spec.git_blob_sha1,
        f"put it in {folder}/ as i3d_torchscript.pt",
        "$SGVB_WEIGHTS_DIR",
        "$SGVB_CACHE_DIR",
        "allow_stand_in_detectors=true",
    ):
        assert expected in line, expected


def test_every_published_file_is_described():
    published = [v for v in vars(detectors).values() if isinstance(v, weights.WeightsFile)]
    assert len(published) >= 5
    assert {f.file_name for f in published} <= set(weights.DESCRIPTIONS)
