"""Changing the code that defines a metric's number must bump its PROTOCOL_VERSION (so protocol ids change with it)."""

import textwrap

import pytest

from metrics.consistency import LongVideoConsistency
from metrics.fid import FID
from metrics.fvd import FVD
from metrics.fvmd import FVMD
from metrics.inception_score import InceptionScore, VideoInceptionScore
from metrics.jedi import JEDi
from metrics.kid import KID
from metrics.kvd import KVD
from metrics.prdc import PRDC
from metrics.protocol import code_without_docstrings, definition_fingerprint

# class -> (PROTOCOL_VERSION, fingerprint of its defining code). After a definitional change: bump the class's
# PROTOCOL_VERSION and put the new pair here (print it with
# `python -c "from metrics.protocol import code_without_docstrings, definition_fingerprint ..."`).
PINS = {  # protocol ids start with this release; v1 is the first published definition of each metric
    # v2 (issue 24): the I3D state-dict detectors' BatchNorm eps 1e-5 (FVD); every detector's input contiguous, as
    # the official code passes it (FVD, FID, KID, IS, video IS, LVC); official kid50k_full x1000 (StyleGAN-V's unit);
    # IS / video IS on fewer samples than the name states refused in official mode, flagged otherwise
    FVD: (2, "46ea801e80c2b1ab"),
    FID: (2, "75b51179de656ab1"),
    # v3 (issue 25, same numbers): LVC keeps its real windows' statistics per real side; KID and IS / video IS with
    # num_runs load the real side and embed a folder's samples once per evaluation
    LongVideoConsistency: (3, "cb289feca548d693"),  # v2: its DINO detector's input made contiguous (issue 24)
    KID: (3, "4a9b3ea0eb56aa0f"),
    InceptionScore: (3, "612ad3cf26dc4635"),
    VideoInceptionScore: (3, "612ad3cf26dc4635"),
    # re-pinned without a bump (same operations, so earlier records stay comparable): KVD's and JEDi's clip features
    # moved into kvd.clip_feature_sets, and the pins of JEDi and PRDC now cover the clip functions they borrow from KVD
    KVD: (1, "609dd6497b9750e2"),
    PRDC: (1, "4a40045134295e2e"),
    JEDi: (1, "2615646ba6d37a54"),  # issue 26: videojedi 1.1.0's estimator (100 x biased MMD², (x.y/d)^2)
    FVMD: (1, "6ec20a8a0ba55f0f"),  # issue 26: fvmd 1.0.0 (histograms of PIPs++ tracks, Fréchet with 1e-5 I)
}


@pytest.mark.parametrize("cls", list(PINS), ids=lambda c: c.__name__)
def test_definition_changes_come_with_a_version_bump(cls):
    version, fingerprint = PINS[cls]
    now = definition_fingerprint(cls)
    assert (cls.PROTOCOL_VERSION, now) == (version, fingerprint), (
        f"the code defining {cls.__name__}'s number changed (fingerprint {fingerprint} -> {now}): "
        f"bump {cls.__name__}.PROTOCOL_VERSION "
        f"(now {cls.PROTOCOL_VERSION}) and pin ({cls.PROTOCOL_VERSION + (cls.PROTOCOL_VERSION == version)}, '{now}') "
        "in tests/test_protocol.py"
    )


def test_the_fingerprint_sees_code_but_not_docstrings_or_comments():
    src = textwrap.dedent('''
        class M:
            """doc"""
            def compute(self):
                """doc"""
                return 1  # a comment
    ''')
    same = src.replace('"""doc"""', '"""other words"""').replace("# a comment", "")
    assert code_without_docstrings(same) == code_without_docstrings(src)
    assert code_without_docstrings(src.replace("return 1", "return 2")) != code_without_docstrings(src)


def test_the_fingerprint_covers_the_sample_selection_of_is_and_kid_only(monkeypatch):
    """IS, video IS and KID choose their items in ``metrics.samples``: a change there must show (it did not)."""
    import inspect

    from metrics import samples

    before = {cls: definition_fingerprint(cls) for cls in PINS}
    real_getsource = inspect.getsource
    monkeypatch.setattr(
        inspect, "getsource", lambda obj: real_getsource(obj) + ("\nchanged = 1\n" if obj is samples else "")
    )
    changed = {cls for cls in PINS if definition_fingerprint(cls) != before[cls]}
    assert changed >= {KID, InceptionScore, VideoInceptionScore, KVD, PRDC, JEDi}  # per-sample rows there
    assert not changed & {FVD, FID, LongVideoConsistency}
