"""Find, download and verify detector weight files.

Lookup order (first hit wins): an explicit path; ``$SGVB_WEIGHTS_DIR/<file>``; ``~/.cache/sgvb/<file>``
(or ``$SGVB_CACHE_DIR/<file>``); otherwise one download from the published URL, checksum-verified and
written atomically into the user cache. Offline with no copy, the error says in one line (the console shows one
line per error) what the file is, its URL, file name and checksums, and the folder to put it in.
``SGVB_OFFLINE=1`` skips the download attempt.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import sys
from pathlib import Path

from registry.files import atomic_path, user_cache_dir


class WeightsError(RuntimeError):
    """A detector's weight file is missing, unreadable or not the expected file."""


class MissingWeightsError(WeightsError, FileNotFoundError):
    pass


class ChecksumError(WeightsError):
    pass


@dataclasses.dataclass(frozen=True)
class WeightsFile:
    """A published weight file: its canonical name, where it is downloaded from and its sha256 (None: unpublished).

    ``git_blob_sha1``: the file's git object id where a public repository commits it (``git hash-object``), a
    second pin that is checked too (the only one for files whose sha256 nobody published).
    """

    file_name: str
    url: str
    sha256: str | None = None
    git_blob_sha1: str | None = None


def weights_dirs() -> list[Path]:
    """Folders searched for weight files, in order."""
    dirs = []
    if os.environ.get("SGVB_WEIGHTS_DIR"):
        dirs.append(Path(os.environ["SGVB_WEIGHTS_DIR"]).expanduser())
    dirs.append(user_cache_dir())
    return dirs


def sha256_of(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def cached_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, memoised on (path, size, mtime) so repeated evaluations do not re-hash 100 MB."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        _SHA_CACHE[key] = sha256_of(path)
    return _SHA_CACHE[key]


def git_blob_sha1(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """``git hash-object``: sha1 of ``b"blob <size>\\0"`` + the content."""
    digest = hashlib.sha1(f"blob {os.path.getsize(path)}\0".encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected_sha256: str | None, expected_git_sha1: str | None = None) -> str:
    """Return the file's sha256; refuse it (both checksums shown) when it is not the expected file."""
    actual = cached_sha256(path)
    if expected_sha256 and actual != expected_sha256.lower():
        raise ChecksumError(
            f"weight file {path} has sha256 {actual}, expected {expected_sha256}. "
            "It is corrupt, truncated or a different file: delete it and download it again."
        )
    if expected_git_sha1:
        key = (str(Path(path).resolve()), "git", os.stat(path).st_mtime_ns)
        if key not in _SHA_CACHE:
            _SHA_CACHE[key] = git_blob_sha1(path)  # type: ignore[index]
        blob = _SHA_CACHE[key]  # type: ignore[index]
        if blob != expected_git_sha1.lower():
            raise ChecksumError(
                f"weight file {path} has git blob id {blob}, expected {expected_git_sha1} "
                "(as committed in the public repositories). "
                "It is corrupt, truncated or a different file: delete it and download it again."
            )
    return actual


def download(url: str, dest: Path, *, expected_sha256: str | None = None, progress: bool = True) -> None:
    """Download ``url`` to ``dest`` with ``torch.hub.download_url_to_file`` (temp file, progress bar), then
    verify and rename.

    torch.hub checks only a hash *prefix*; the full sha256 is compared here before the file is put in place.
    """
    from torch.hub import download_url_to_file

    with atomic_path(dest) as tmp:
        download_url_to_file(url, str(tmp), progress=progress and sys.stderr.isatty())
        actual = sha256_of(tmp)
        if expected_sha256 and actual != expected_sha256.lower():
            raise ChecksumError(f"download of {url} has sha256 {actual}, expected {expected_sha256}; not saved")


def _download(url: str, dest: Path, expected_sha256: str | None) -> None:
    """Indirection so tests can make the network fail without touching urllib."""
    download(url, dest, expected_sha256=expected_sha256)


def resolve(
    spec: WeightsFile, path: str | os.PathLike | None = None, *, allow_download: bool = True
) -> tuple[Path, str]:
    """Local path and sha256 of ``spec``'s file, downloading it once if needed (see module docstring)."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise MissingWeightsError(
                f"detector weight file '{p}' does not exist "
                f"(expected {spec.file_name}, sha256 {spec.sha256 or 'unpublished'})"
            )
        return p, verify(p, spec.sha256, spec.git_blob_sha1)
    for folder in weights_dirs():
        candidate = folder / spec.file_name
        if candidate.is_file():
            return candidate, verify(candidate, spec.sha256, spec.git_blob_sha1)
    dest = user_cache_dir() / spec.file_name
    where = " or ".join(str(d / spec.file_name) for d in weights_dirs())
    if not allow_download or os.environ.get("SGVB_OFFLINE", "").strip() not in ("", "0", "false", "no"):
        raise MissingWeightsError(_missing_message(spec, where, reason="downloads are disabled (SGVB_OFFLINE)"))
    try:
        _download(spec.url, dest, spec.sha256)
    except ChecksumError:
        raise
    except Exception as exc:  # noqa: BLE001 - any network failure becomes one clear message
        raise MissingWeightsError(
            _missing_message(spec, where, reason=f"download failed: {type(exc).__name__}: {exc}")
        ) from None
    return dest, verify(dest, spec.sha256, spec.git_blob_sha1)


# What each published file is, for the message that asks a user to fetch it by hand (file name -> description).
DESCRIPTIONS = {
    "i3d_torchscript.pt": "the I3D video network of FVD, StyleGAN-V's TorchScript export",
    "i3d_pretrained_400.pt": "the I3D video network of FVD as a PyTorch state dict (TATS)",
    "inception-2015-12-05.pt": "the Inception-v3 image network of FID, KID and IS, StyleGAN2-ADA's TorchScript export",
    "vit_g_hybrid_pt_1200e_ssv2_ft.pth": "the VideoMAE-v2 ViT-g video network of the content-debiased FVD",
    "c3d_ucf101.pt": "the C3D video network of the video Inception Score, trained on UCF101",
    "vit_small_patch16_224.dino.safetensors": "the DINO ViT-S/16 image network of the consistency score",
    "pips2_weights.pth": "the PIPs++ point tracker of FVMD, as the fvmd package downloads it",
    "vith16.pth.tar": "the V-JEPA ViT-H/16 video network of JEDi",
    "ssv2-probe.pth.tar": "the SSv2 attentive probe over V-JEPA ViT-H/16 whose pooled token JEDi compares",
}


def describe(spec: WeightsFile) -> str:
    """``'i3d_torchscript.pt' (the I3D video network of FVD, ...)``: the file and what it is."""
    what = DESCRIPTIONS.get(spec.file_name)
    return f"'{spec.file_name}'" + (f" ({what})" if what else "")


def _missing_message(spec: WeightsFile, where: str, *, reason: str) -> str:
    """One line (the console shows one line per error): what the file is, where it comes from, its checksums, and
    the folder to put it in."""
    checksums = f"sha256 {spec.sha256}" if spec.sha256 else "sha256 unpublished (recorded with each result)"
    if spec.git_blob_sha1:
        checksums += f", git blob {spec.git_blob_sha1}"
    folder = weights_dirs()[0]
    searched = f"; searched {where}" if " or " in where else ""
    return (
        f"detector weights {describe(spec)} not found locally and {reason}. "
        f"Download {spec.url} ({checksums}) and put it in {folder}/ as {spec.file_name} "
        f"(that folder is $SGVB_WEIGHTS_DIR if set, else $SGVB_CACHE_DIR, else ~/.cache/sgvb{searched}), "
        "or pass detector_path=<file>. For smoke tests only: allow_stand_in_detectors=true uses an untrained "
        "network (results marked stand_in)."
    )


def copy_into_cache(src: str | os.PathLike, spec: WeightsFile) -> Path:
    """Install a manually downloaded file into the user cache after verifying it."""
    src = Path(src)
    verify(src, spec.sha256, spec.git_blob_sha1)
    dest = user_cache_dir() / spec.file_name
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return dest
