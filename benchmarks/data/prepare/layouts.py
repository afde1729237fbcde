"""What each benchmark's published raw download looks like, and which output videos a split makes of it.

A preparer (contract: ``registry.interfaces.DatasetPreparer``, registered in ``PREPARERS`` under the name
``sgvb prepare`` takes; plugins add more through the ``sgvb.preparers`` entry-point group) turns ``RAW``
(the unpacked download) and a split into a list of ``VideoJob``, failing with one line that names the
missing or unexpected path and the layout it expected. It also states the frame-rate rule and the
preprocessing recorded in the manifest. Choices the official code does not document are listed in the
README's "Preparing the benchmarks" section with the reason for each.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.data.base import DatasetError
from benchmarks.data.frames import IMAGE_EXTENSIONS
from benchmarks.data.prepare.render import frame_files
from benchmarks.data.video_files import VIDEO_EXTENSIONS, count_frames, find_videos
from registry import PREPARERS
from registry.interfaces import DatasetPreparer, VideoJob


class PrepareError(DatasetError):
    """Raw input that does not match the dataset's published layout; the message names the path."""


def _dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise PrepareError(f"'{path}' not found: expected {what}")
    return path


def _unique(jobs: list[VideoJob]) -> list[VideoJob]:
    seen: dict[str, str] = {}
    for job in jobs:
        if job.name in seen:
            raise PrepareError(
                f"two sources make the same video name '{job.name}': '{seen[job.name]}' and '{job.source}'"
            )
        seen[job.name] = job.source
    return sorted(jobs, key=lambda j: j.name)


def split_folders(raw: Path, split: str, names: dict[str, str], what: str) -> list[tuple[str, Path]]:
    """``[(split, folder)]`` for ``split``: its folder, required; ``all``: every split folder present (at least one)."""
    if split == "all":
        found = [(s, raw / f) for s, f in names.items() if (raw / f).is_dir()]
        if not found:
            folders = ", ".join(repr(str(raw / f)) for f in names.values())
            raise PrepareError(f"none of {folders} found: expected {what.format(split='<split>')}")
        return found
    return [(split, _require_dir(raw / names[split], what.format(split=names[split])))]


@PREPARERS.register("sky_timelapse")
class SkyTimelapse(DatasetPreparer):
    layout = (
        "RAW/sky_train/<video>/<clip>/<frame>.jpg and RAW/sky_test/... (the published SkyTimelapse frames, 640x360)"
    )
    frame_rate = "the published frames as they are (they have no timestamps; StyleGAN-V's config plays them at 25 fps)"
    resamplable = False

    def jobs(self, raw, split, options):
        jobs = []
        what = f"'{{split}}/' with {self.layout}"
        for s, folder in split_folders(raw, split, {"train": "sky_train", "test": "sky_test"}, what):
            for video in _dirs(folder):
                clips = _dirs(video)
                if not clips:
                    raise PrepareError(f"'{video}' has no clip folders: expected {self.layout}")
                for clip in clips:
                    jobs.append(VideoJob(name=clip.name, source=str(clip), kind="frames", info={"split": s}))
        if not jobs:
            raise PrepareError(f"no clip folders in '{raw}': expected {self.layout}")
        return _unique(jobs)


@PREPARERS.register("ffs")
class FaceForensics(DatasetPreparer):
    splits = ("train", "val", "test", "all")
    fps = 30.0
    layout = (
        "RAW/<split>/original/<id>.avi and RAW/<split>/mask/<id>.avi for split in train, val, test "
        "(FaceForensics, as TGAN2 and StyleGAN-V read it)"
    )
    preprocessing = (
        "square face box from the mask video (pixels above 5), centred on the mask's bounding box; cropped from "
        "the original and resized with LANCZOS (StyleGAN-V's preprocess_ffs: per-frame box, i.e. 'ffs_unstable'; "
        "--crop per_video: one union box per video)"
    )
    options = {"crop": "per_frame"}

    def jobs(self, raw, split, options):
        crop = options["crop"]
        if crop not in ("per_frame", "per_video"):
            raise PrepareError(f"ffs: --crop must be per_frame or per_video, got '{crop}'")
        jobs = []
        what = f"'{{split}}/' with {self.layout}"
        for s, folder in split_folders(raw, split, {"train": "train", "val": "val", "test": "test"}, what):
            originals = _require_dir(folder / "original", f"the original videos of {self.layout}")
            masks = _require_dir(folder / "mask", f"the mask videos of {self.layout}")
            by_stem = {p.stem: p for p in find_videos(masks)}
            videos = find_videos(originals)
            if not videos:
                raise PrepareError(
                    f"no video files ({', '.join(VIDEO_EXTENSIONS)}) in '{originals}': expected {self.layout}"
                )
            for video in videos:
                mask = by_stem.get(video.stem)
                if mask is None:
                    raise PrepareError(f"no mask video for '{video}': expected '{masks / video.name}' ({self.layout})")
                jobs.append(
                    VideoJob(
                        name=video.stem,
                        source=str(video),
                        kind="video",
                        crop=f"mask_{crop}",
                        mask=str(mask),
                        info={"split": s},
                    )
                )
        return _unique(jobs)


@PREPARERS.register("ucf101")
class UCF101(DatasetPreparer):
    default_split = "all"  # StyleGAN-V (maintainer, issue #30) trains and computes FVD on train+test
    layout = "RAW/UCF-101/<Class>/v_<Class>_gNN_cNN.avi and RAW/ucfTrainTestlist/{classInd,trainlist0F,testlist0F}.txt"
    frame_rate = "every decoded frame at the native 25 fps (a few clips are 29.97 fps and stay so unless --fps 25)"
    options = {"fold": 1}

    def _list(self, folder: Path, name: str) -> list[str]:
        path = folder / name
        if not path.is_file():
            raise PrepareError(
                f"split list '{path}' not found: expected the official UCF101 split files ({self.layout})"
            )
        return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]

    def jobs(self, raw, split, options):
        fold = int(options["fold"])
        if fold not in (1, 2, 3):
            raise PrepareError(f"ucf101: --fold must be 1, 2 or 3 (the three official splits), got {fold}")
        videos = _require_dir(raw / "UCF-101", f"the video folder of {self.layout}")
        lists = _require_dir(raw / "ucfTrainTestlist", f"the split lists of {self.layout}")
        class_file = lists / "classInd.txt"
        if not class_file.is_file():
            raise PrepareError(
                f"class list '{class_file}' not found: expected the official UCF101 split files ({self.layout})"
            )
        classes = {}
        for line in class_file.read_text().splitlines():
            if line.strip():
                index, name = line.split()
                classes[name.lower()] = (name, int(index) - 1)
        files = {
            p.relative_to(videos).as_posix().lower(): p for p in find_videos(videos)
        }  # the lists' case differs (HandStandPushups)
        jobs = []
        for s in ("train", "test"):
            if split not in (s, "all"):
                continue
            list_name = f"{s}list0{fold}.txt"
            for entry in self._list(lists, list_name):
                path = files.get(entry.lower())
                if path is None:
                    raise PrepareError(
                        f"'{videos / entry}' listed in '{lists / list_name}' not found: expected {self.layout}"
                    )
                cls = entry.split("/")[0].lower()
                if cls not in classes:
                    raise PrepareError(
                        f"class '{entry.split('/')[0]}' of '{entry}' is not in '{lists / 'classInd.txt'}'"
                    )
                name, label = classes[cls]
                jobs.append(
                    VideoJob(
                        name=path.stem, source=str(path), kind="video", info={"split": s, "class": name, "label": label}
                    )
                )
        return _unique(jobs)


@PREPARERS.register("taichi")
class TaichiHD(DatasetPreparer):
    fps = 25.0
    layout = (
        "RAW/train/<video>.mp4 (or <video>/<frame>.png) and RAW/test/... "
        "(Taichi-HD as the first-order-motion-model scripts write it)"
    )

    def jobs(self, raw, split, options):
        jobs = []
        what = f"'{{split}}/' with {self.layout}"
        for s, folder in split_folders(raw, split, {"train": "train", "test": "test"}, what):
            for video in find_videos(folder):
                if video.parent != folder:
                    raise PrepareError(f"unexpected nested video '{video}': expected {self.layout}")
                jobs.append(VideoJob(name=video.stem, source=str(video), kind="video", info={"split": s}))
            for sub in _dirs(folder):
                if not frame_files(sub):
                    raise PrepareError(
                        f"'{sub}' holds no frame images ({', '.join(IMAGE_EXTENSIONS)}): expected {self.layout}"
                    )
                jobs.append(VideoJob(name=sub.name, source=str(sub), kind="frames", info={"split": s}))
            if not any(j.info["split"] == s for j in jobs):
                raise PrepareError(f"no videos in '{folder}': expected {self.layout}")
        return _unique(jobs)


@PREPARERS.register("rainbow_jelly")
class RainbowJelly(DatasetPreparer):
    splits = ("all",)
    default_split = "all"  # one video, no split
    fps = 30.0
    layout = "RAW = the single RainbowJelly video file (or a folder holding exactly one video file)"
    frame_rate = (
        "every frame from --start-frame on (150), cut into clips of --clip-length (512) frames; "
        "the incomplete tail is dropped"
    )
    preprocessing = "centre square crop, then LANCZOS resize (StyleGAN-V's convert_video_to_dataset: -sf 150 -cs 512)"
    options = {"start_frame": 150, "clip_length": 512}
    resamplable = False

    def jobs(self, raw, split, options):
        start, length = int(options["start_frame"]), int(options["clip_length"])
        if start < 0 or length < 1:
            raise PrepareError(
                f"rainbow_jelly: --start-frame must be >= 0 and --clip-length >= 1, got {start} and {length}"
            )
        if raw.is_dir():
            found = find_videos(raw)
            if len(found) != 1:
                raise PrepareError(f"'{raw}' holds {len(found)} video files: expected {self.layout}")
            raw = found[0]
        elif raw.suffix.lower() not in VIDEO_EXTENSIONS:
            raise PrepareError(f"'{raw}' is not a video file ({', '.join(VIDEO_EXTENSIONS)}): expected {self.layout}")
        total = count_frames(raw)
        clips = (total - start) // length
        if clips < 1:
            raise PrepareError(f"'{raw}' has {total} frames: too few for one {length}-frame clip after frame {start}")
        return [
            VideoJob(
                name=f"{raw.stem}_{k:05d}",
                source=str(raw),
                kind="video",
                crop="crop_resize",
                start=start + k * length,
                count=length,
                info={"first_frame": start + k * length},
            )
            for k in range(clips)
        ]


@PREPARERS.register("mead")
class MEAD(DatasetPreparer):
    splits = ("all",)
    default_split = "all"  # MEAD has no official split; StyleGAN-V trains on the front-view videos
    resolution = 1024
    fps = 30.0
    layout = (
        "RAW/<actor>/video/<view>/<emotion>/<level>/<NNN>.mp4 "
        "(the MEAD release, e.g. M003/video/front/angry/level_1/001.mp4)"
    )
    options = {"view": "front"}

    def jobs(self, raw, split, options):
        view = str(options["view"])
        actors = [a for a in _dirs(raw) if (a / "video").is_dir()]
        if not actors:
            raise PrepareError(f"no '<actor>/video/' folders in '{raw}': expected {self.layout}")
        jobs = []
        for actor in actors:
            folder = actor / "video" / view
            if not folder.is_dir():
                raise PrepareError(f"'{folder}' not found: expected {self.layout} with view '{view}'")
            for video in find_videos(folder):
                parts = video.relative_to(folder).with_suffix("").parts
                if len(parts) != 3:
                    raise PrepareError(f"unexpected path '{video}': expected {self.layout}")
                emotion, level, clip = parts
                jobs.append(
                    VideoJob(
                        name=f"{actor.name}_{emotion}_{level}_{clip}",
                        source=str(video),
                        kind="video",
                        info={"actor": actor.name, "emotion": emotion, "level": level},
                    )
                )
        if not jobs:
            raise PrepareError(f"no '{view}' videos under '{raw}': expected {self.layout}")
        return _unique(jobs)
