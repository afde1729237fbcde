"""Detectors: loading TorchScript files with the official interface, weight lookup, offline errors,
checksums, stand-ins."""

import hashlib
import warnings

import pytest
import torch

from metrics import detectors, weights
from metrics.detectors import load_detector
from metrics.i3d import InceptionI3d, init_stand_in_
from metrics.testing import save_tiny_torchscript_detector

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")


@pytest.fixture(autouse=True)
def isolated_weights(tmp_path, monkeypatch):
    """No real cache, no network: every download fails like an offline machine."""
    monkeypatch.setenv("SGVB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SGVB_WEIGHTS_DIR", raising=False)

    def offline(url, dest, sha):
        raise OSError("network is unreachable")

    monkeypatch.setattr(weights, "_download", offline)
    detectors._LOADED.clear()
    yield
    detectors._LOADED.clear()


def test_torchscript_with_official_interface_is_called_like_the_official_code(tmp_path):
    path = save_tiny_torchscript_detector(tmp_path / "my_i3d.pt", video=True)
    det = load_detector("i3d", path=path)
    assert det.name == "torchscript:my_i3d" and det.video and not det.stand_in
    assert det.sha256 == hashlib.sha256(open(path, "rb").read()).hexdigest()
    x = torch.randint(0, 256, (2, 3, 16, 24, 24), dtype=torch.uint8)
    feats = det(x)
    assert feats.shape == (2, det.feature_dim) and feats.dtype == torch.float32
    # the same call made by hand: uint8 in, rescale/resize/return_features inside
    module = torch.jit.load(path)
    torch.testing.assert_close(feats, module(x, rescale=True, resize=True, return_features=True))
    with pytest.raises(ValueError, match="expects uint8"):
        det(x.float())


def test_canonical_file_in_weights_dir_is_checksum_verified(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    save_tiny_torchscript_detector(folder / "i3d_torchscript.pt")
    monkeypatch.setenv("SGVB_WEIGHTS_DIR", str(folder))
    with pytest.raises(weights.ChecksumError) as info:
        load_detector("i3d")
    message = str(info.value)
    assert detectors.I3D_TORCHSCRIPT.sha256 in message  # expected
    assert hashlib.sha256((folder / "i3d_torchscript.pt").read_bytes()).hexdigest() in message  # actual


def test_offline_without_a_copy_names_url_file_checksum_and_place():
    with pytest.raises(weights.MissingWeightsError) as info:
        load_detector("i3d")
    message = str(info.value)
    for expected in (
        "i3d_torchscript.pt",
        detectors.I3D_TORCHSCRIPT.url,
        detectors.I3D_TORCHSCRIPT.sha256,
        "SGVB_WEIGHTS_DIR",
        "network is unreachable",
    ):
        assert expected in message


def test_download_is_verified_and_atomic(tmp_path, monkeypatch):
    src = tmp_path / "published.bin"
    src.write_bytes(b"detector bytes")
    good = hashlib.sha256(b"detector bytes").hexdigest()
    spec = weights.WeightsFile("det.bin", src.as_uri(), good)
    monkeypatch.setattr(
        weights, "_download", lambda url, dest, sha: weights.download(url, dest, expected_sha256=sha, progress=False)
    )
    path, sha = weights.resolve(spec)
    assert path.read_bytes() == b"detector bytes" and sha == good
    bad = weights.WeightsFile("other.bin", src.as_uri(), "0" * 64)
    with pytest.raises(weights.ChecksumError, match=good):
        weights.resolve(bad)
    assert not (weights.user_cache_dir() / "other.bin").exists()
    assert not [p for p in weights.user_cache_dir().iterdir() if p.name.startswith(".")]  # no temp files left


def test_stand_in_is_deterministic_marked_and_loud():
    with pytest.warns(RuntimeWarning, match="STAND-IN"):
        det = load_detector("i3d", allow_stand_in=True, stand_in_resolution=32)
    assert det.stand_in and det.name == "i3d[stand-in]" and det.sha256 is None and det.input_resolution == 32
    assert "res32" in det.identity and "seed0" in det.identity
    x = torch.randint(0, 256, (1, 3, 16, 32, 32), dtype=torch.uint8)
    a = det(x)
    assert a.shape == (1, 400) and torch.isfinite(a).all() and a.std() > 0
    again = init_stand_in_(InceptionI3d(400), 0).state_dict()  # the same seeded construction gives the same network
    assert all(torch.equal(value, again[key]) for key, value in det.model.state_dict().items())
    assert load_detector("i3d", allow_stand_in=True, stand_in_resolution=32) is det  # loaded once per process


def test_image_stand_ins_give_documented_feature_sizes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dino = load_detector("dino_vits16", allow_stand_in=True, stand_in_resolution=32)
    frames = torch.randint(0, 256, (3, 3, 40, 40), dtype=torch.uint8)
    assert dino(frames).shape == (3, 384) and dino.name == "dino_vits16[stand-in]" and not dino.video


def test_inception_i3d_loads_the_videogpt_tats_state_dict_layout(tmp_path):
    """The TATS converter writes conv3d/bn names per Unit3D, b0/b1a/b1b/b2a/b2b/b3b per block,
    no num_batches_tracked."""
    model = InceptionI3d(400)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    for key in (
        "Conv3d_1a_7x7.conv3d.weight",
        "Conv3d_1a_7x7.bn.running_var",
        "Mixed_5b.b2a.conv3d.weight",
        "Mixed_4f.b3b.bn.bias",
        "logits.conv3d.weight",
        "logits.conv3d.bias",
    ):
        assert key in state
    assert state["Conv3d_1a_7x7.conv3d.weight"].shape == (64, 3, 7, 7, 7)
    assert state["logits.conv3d.weight"].shape == (400, 1024, 1, 1, 1)
    torch.save(state, tmp_path / "my_i3d_400.pt")  # another name: a custom file (sha256 recorded, not checked)
    det = load_detector("i3d_pytorch", path=tmp_path / "my_i3d_400.pt")
    assert det.name == "i3d_pytorch" and det.input_resolution == 224 and det.sha256
    torch.save({"nope": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(weights.WeightsError, match="not an InceptionI3d state dict"):
        load_detector("i3d_pytorch", path=tmp_path / "bad.pt")


def test_canonical_state_dict_is_checked_against_its_published_git_blob_id(tmp_path):
    """No sha256 of i3d_pretrained_400.pt is published; the git object id that TATS commits is checked instead."""
    (tmp_path / "i3d_pretrained_400.pt").write_bytes(b"not the published file")
    with pytest.raises(weights.ChecksumError, match=detectors.I3D_STATE_DICT.git_blob_sha1):
        load_detector("i3d_videogpt", path=tmp_path / "i3d_pretrained_400.pt")
    # git hash-object of a known content (git's own empty-blob id and a one-line file)
    (tmp_path / "empty").write_bytes(b"")
    (tmp_path / "hello").write_bytes(b"hello\n")
    assert weights.git_blob_sha1(tmp_path / "empty") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert weights.git_blob_sha1(tmp_path / "hello") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_inception_i3d_same_padding_shapes():
    """TF 'SAME' arithmetic: H/32, W/32 and T/8 at the last block (7x7 at 224); smaller inputs still run."""
    model = InceptionI3d(400).eval()
    x = torch.randn(1, 3, 16, 32, 32)
    with torch.no_grad():
        trunk = model.trunk(x)
        assert trunk.shape == (1, 1024, 2, 1, 1)
        logits = model.logits(model._pool(trunk)).mean(dim=(2, 3, 4))
        torch.testing.assert_close(model(x), logits)
    assert logits.shape == (1, 400)
    with pytest.raises(ValueError, match=r"\[B, 3, T, H, W\]"):
        model.trunk(torch.zeros(1, 16, 3, 32, 32))


def test_a_folder_as_detector_path_is_searched_for_the_canonical_file(tmp_path):
    with pytest.raises(weights.MissingWeightsError, match="i3d_torchscript.pt"):
        load_detector("i3d", path=tmp_path)  # folder without the file: the normal lookup, offline -> clear error
    save_tiny_torchscript_detector(tmp_path / "i3d_torchscript.pt")
    with pytest.raises(weights.ChecksumError):  # found in the folder, and verified
        load_detector("i3d", path=tmp_path)


def test_sgvb_offline_skips_the_download(monkeypatch):
    def must_not_download(url, dest, sha):
        raise AssertionError("download attempted")

    monkeypatch.setattr(weights, "_download", must_not_download)
    monkeypatch.setenv("SGVB_OFFLINE", "1")
    with pytest.raises(weights.MissingWeightsError, match="SGVB_OFFLINE"):
        weights.resolve(detectors.INCEPTION_TORCHSCRIPT)
