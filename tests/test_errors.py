"""benchmarks.errors: known failures are one line plus where the details are; SGVB_TRACEBACK=1 shows the traceback."""

import pytest

from benchmarks.errors import first_line, one_line_errors


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


def test_a_multirun_job_reports_and_goes_on_with_the_failure_in_hand(tmp_path, capsys, monkeypatch):
    """``exit_on_error=False``: the same one line, then the block ends and the caller reads what happened."""
    monkeypatch.delenv("SGVB_TRACEBACK", raising=False)
    with one_line_errors(
        "train", known=(ValueError,), log_dir=tmp_path, label="configuration error", status=3, exit_on_error=False
    ) as failure:
        _fail()
    assert failure and failure.status == 3 and isinstance(failure.error, ValueError)
    assert failure.details == tmp_path / "log.txt" and "Traceback" in failure.details.read_text()
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("sgvb train: configuration error: bad value for trainer.batch_size: 'abc' (details: ")
    with one_line_errors("train", known=(ValueError,), exit_on_error=False) as nothing:
        pass
    assert not nothing and nothing.status == 0 and capsys.readouterr().err == ""


def test_first_line_unquotes_a_key_error_and_names_an_empty_message():
    assert first_line(KeyError("no key 'x' in the config")) == "no key 'x' in the config"
    assert first_line(RuntimeError("\n\n  first\nsecond")) == "first"
    assert first_line(FileNotFoundError()) == "FileNotFoundError"
