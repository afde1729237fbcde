"""benchmarks.errors: known failures are one line plus where the details are; SGVB_TRACEBACK=1 shows the traceback."""
import pytest

from benchmarks.errors import one_line_errors


def _fail():
    raise ValueError("bad value for trainer.batch_size: 'abc'\n  a second line that stays in the log")


def test_known_errors_are_one_line_with_the_details_in_the_log(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SGVB_TRACEBACK", raising=False)
    with pytest.raises(SystemExit) as info, one_line_errors("eval", known=(ValueError,), log_dir=tmp_path):
        _fail()
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sgvb eval: error: bad value for trainer.batch_size: 'abc' (details: ")
    log = (tmp_path / "log.txt").read_text()
    assert "Traceback" in log and "a second line" in log and str(tmp_path / "log.txt") in err[0]


def test_tracebacks_on_request_and_unknown_errors_untouched(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SGVB_TRACEBACK", "1")
    with pytest.raises(SystemExit), one_line_errors("eval", known=(ValueError,), log_dir=tmp_path):
        _fail()
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "in _fail" in err and "a second line" in err
    monkeypatch.delenv("SGVB_TRACEBACK")
    with pytest.raises(KeyError), one_line_errors("eval", known=(ValueError,), log_dir=lambda: tmp_path):
        raise KeyError("a bug keeps its traceback")
    assert not (tmp_path / "log.txt").exists()
