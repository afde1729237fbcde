"""A safe reader for StyleGAN2-ADA-format network pickles (StyleGAN-V, StyleGAN2-ADA, DIGAN snapshots).

Those files are plain pickles whose networks are "persistent" objects: each is stored as a call to
``torch_utils.persistence._reconstruct_persistent_obj(meta)``, and ``meta`` carries the whole source
text of the network's module, which the original loader *executes*. Opening them with ``pickle``
therefore needs the original source tree and runs code from the file.

``load_pickle(path)`` reads them without importing or running anything from the file:
  * the reconstruct hook returns a :class:`PersistentRecord` (class name, state, the source text as
    an inert string that is never executed);
  * the classes the official files reference by name (torch.nn containers and layers, Adam,
    omegaconf configs, EasyDict, StyleGAN-V's ``training.*`` classes) become :class:`ObjectRecord`
    instances holding their constructor args, state and items; nothing is imported;
  * tensors are rebuilt by torch's rebuild functions, and each storage's nested ``torch.save``
    bytes are read with ``torch.load(weights_only=True)`` (torch's own ``_load_from_bytes`` would
    unpickle them unrestricted);
  * any other global (``os.system``, ``builtins.eval``, ``subprocess``, ``importlib``, an unknown
    function) is refused with :class:`UnsafePickleError`, naming the global and the file.
"""

from __future__ import annotations

import _compat_pickle
import builtins
import collections
import io
import os
import pickle
import re
import struct
import warnings
import zipfile
from typing import Any

import numpy as np
import torch

__all__ = ["ObjectRecord", "PersistentRecord", "UnsafePickleError", "load_pickle", "plain"]

RECONSTRUCT_MODULES = ("torch_utils.persistence", "src.torch_utils.persistence")
# Modules whose classes the official files pickle by reference; they become inert records.
RECORD_MODULE_PREFIXES = ("torch.nn.modules.", "torch.optim.", "omegaconf.")
OFFICIAL_PACKAGES = ("training", "torch_utils", "dnnlib", "metrics")  # also under "src."
SAFE_BUILTINS = frozenset(
    {
        "dict",
        "list",
        "tuple",
        "set",
        "frozenset",
        "int",
        "float",
        "complex",
        "bool",
        "str",
        "bytes",
        "bytearray",
        "slice",
        "object",
    }
)
NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization's legacy-format magic number
_CLASS_NAME = re.compile(r"^[A-Z][A-Za-z0-9_]*$")


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle references a global that could run code; nothing from it was executed."""


class PersistentRecord:
    """A persistent network object as data: ``class_name``, ``state`` (its ``__dict__``), ``module_src`` (never run)."""

    def __init__(self, meta: Any):
        meta = dict(meta) if isinstance(meta, dict) else {}
        self.class_name = str(meta.get("class_name", "?"))
        self.version = meta.get("version")
        self.module_src = meta.get("module_src")
        self.state = meta.get("state") or {}

    def __repr__(self) -> str:
        return f"PersistentRecord({self.class_name})"


class ObjectRecord(dict):
    """An instance of a class referenced by name, as data: ``args`` (constructor), ``state``, dict items,
    ``listitems``."""

    global_name = "?"

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        obj.args, obj.state, obj.listitems = args, None, []
        return obj

    def __init__(self, *args, **kwargs):  # called by REDUCE: record, never forward to dict.__init__
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self.listitems.append(item)

    def extend(self, items: Any) -> None:
        self.listitems.extend(items)

    def __reduce__(self):  # records are never written back as the original classes
        raise TypeError(f"an inert record of {self.global_name} cannot be pickled")

    def __repr__(self) -> str:
        return f"ObjectRecord({self.global_name})"


_record_classes: dict[str, type] = {}


def _record_class(qualname: str) -> type:
    if qualname not in _record_classes:
        short = qualname.rsplit(".", 1)[-1]
        _record_classes[qualname] = type(short, (ObjectRecord,), {"global_name": qualname, "__module__": __name__})
    return _record_classes[qualname]


def _defaultdict(default_factory: Any = None, *args: Any) -> dict:
    """``collections.defaultdict`` as a plain dict: the factory is never called."""
    return {}


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    """Tensor from a storage; hooks and metadata from the file are dropped (they could hold callables)."""
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise UnsafePickleError(f"tensor rebuild got a {type(storage).__name__} instead of a storage")
    return torch._utils._rebuild_tensor_v2(
        storage, storage_offset, size, stride, requires_grad, collections.OrderedDict()
    )


def _rebuild_parameter(data, requires_grad=True, backward_hooks=None, *state):
    if not isinstance(data, torch.Tensor):
        raise UnsafePickleError(f"parameter rebuild got a {type(data).__name__} instead of a tensor")
    return torch.nn.Parameter(data, requires_grad=bool(requires_grad))


def _load_storage_bytes(data: bytes):
    """A nested ``torch.save`` archive holding one storage, onto the CPU, never unpickled unrestricted.

    The common case (one storage, zip or legacy format) becomes a storage *viewing* ``data``: no
    copy, so loading costs one pass over the file and about its size in memory. Anything else is
    read by ``torch.load(weights_only=True)``.
    """
    storage = _storage_view(data)
    if storage is None:
        storage = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return storage


class _StorageIdReader(pickle.Unpickler):
    """Reads only a storage's persistent id ``('storage', <torch.XStorage>, key, location, numel, ...)``."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name.endswith("Storage") and isinstance(getattr(torch, name, None), type):
            return getattr(torch, name)
        raise UnsafePickleError(f"nested storage archive refers to '{module}.{name}'")

    def persistent_load(self, pid: Any) -> Any:
        return pid


def _storage_id(raw: bytes | io.BytesIO) -> tuple[torch.dtype, int] | None:
    pid = _StorageIdReader(raw if isinstance(raw, io.BytesIO) else io.BytesIO(raw)).load()
    if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage deprecation: the classes are only read for their dtype
        dtype = getattr(pid[1], "dtype", None)
    return (dtype, int(pid[4])) if isinstance(dtype, torch.dtype) else None


def _view(data: bytes, offset: int, dtype: torch.dtype, numel: int) -> torch.TypedStorage | None:
    nbytes = numel * torch.empty((), dtype=dtype).element_size()
    if offset < 0 or offset + nbytes > len(data):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "non-writable buffer": the bytes object is ours alone from here on
        raw = (
            torch.frombuffer(data, dtype=torch.uint8, offset=offset, count=nbytes)
            if nbytes
            else torch.empty(0, dtype=torch.uint8)
        )
        return torch.TypedStorage(wrap_storage=raw.untyped_storage(), dtype=dtype, _internal=True)


def _storage_view(data: bytes) -> torch.TypedStorage | None:
    try:
        if data[:4] == b"PK\x03\x04":  # zip archive (torch >= 1.6 default)
            zf = zipfile.ZipFile(io.BytesIO(data))
            names = zf.namelist()
            pkl = next((n for n in names if n.endswith("/data.pkl")), None)
            members = [n for n in names if "/data/" in n]
            if pkl is None or len(members) != 1:
                return None
            found = _storage_id(zf.read(pkl))
            info = zf.getinfo(members[0])
            if found is None or info.compress_type != zipfile.ZIP_STORED:
                return None
            head = info.header_offset
            name_len, extra_len = struct.unpack("<HH", data[head + 26 : head + 30])
            return _view(data, head + 30 + name_len + extra_len, *found)
        # legacy format: magic, protocol, sys_info, the object, its storage keys, then per key int64 numel + bytes
        f = io.BytesIO(data)
        if _StorageIdReader(f).load() != LEGACY_MAGIC:
            return None
        _StorageIdReader(f).load(), _StorageIdReader(f).load()
        found = _storage_id(f)
        keys = _StorageIdReader(f).load()
        if found is None or not isinstance(keys, list) or len(keys) != 1:
            return None
        (numel,) = struct.unpack("<q", f.read(8))
        return _view(data, f.tell(), found[0], numel) if numel == found[1] else None
    except (
        UnsafePickleError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        struct.error,
        EOFError,
        KeyError,
        ValueError,
        TypeError,
    ):
        return None


def _latin1_bytes(text: Any, encoding: str = "latin1") -> bytes:
    """How protocol-2 pickles store ``bytes`` (``_codecs.encode(str, 'latin1')``); no other codec."""
    if not isinstance(text, str) or encoding.replace("-", "").lower() != "latin1":
        raise UnsafePickleError(f"_codecs.encode is only read for latin1 text, got encoding {encoding!r}")
    return text.encode("latin1")


_SAFE_FUNCTIONS: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): _latin1_bytes,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_bytes,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): _defaultdict,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
_np_multiarray = (getattr(np, "_core", None) or np.core).multiarray
for _m in NUMPY_MODULES:
    _SAFE_FUNCTIONS[(_m, "_reconstruct")] = _np_multiarray._reconstruct
    _SAFE_FUNCTIONS[(_m, "scalar")] = _np_multiarray.scalar


def _is_official_class(module: str, name: str) -> bool:
    root = module[4:] if module.startswith("src.") else module
    return root.split(".", 1)[0] in OFFICIAL_PACKAGES and bool(_CLASS_NAME.match(name))


class RestrictedUnpickler(pickle.Unpickler):
    """``find_class`` that only hands out data builders; see the module docstring."""

    def __init__(self, file, *, source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _compat_pickle.NAME_MAPPING:  # protocol-2 names (__builtin__.long, ...)
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if module in RECONSTRUCT_MODULES and name == "_reconstruct_persistent_obj":
            return PersistentRecord
        if (module, name) in _SAFE_FUNCTIONS:
            return _SAFE_FUNCTIONS[(module, name)]
        if module == "builtins" and name in SAFE_BUILTINS:
            return getattr(builtins, name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if module == "typing" and name == "Any":
            return _record_class("typing.Any")
        if (module.startswith(RECORD_MODULE_PREFIXES) and _CLASS_NAME.match(name)) or _is_official_class(module, name):
            return _record_class(f"{module}.{name}")
        raise UnsafePickleError(
            f"{self.source}: refused global '{module}.{name}': it could run code and is not a tensor, container or "
            "known network class (nothing from the file was executed)"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.source}: unexpected persistent id {pid!r} (not a StyleGAN2-ADA-format pickle)")


def load_pickle(path: str | os.PathLike) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler`; errors name the file."""
    source = str(path)
    try:
        with open(path, "rb") as f:
            return RestrictedUnpickler(f, source=source).load()
    except UnsafePickleError:
        raise
    except FileNotFoundError:
        raise FileNotFoundError(f"'{source}' does not exist") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, RuntimeError, AttributeError, KeyError) as exc:
        raise ValueError(f"'{source}' is not a readable network pickle ({type(exc).__name__}: {exc})") from None


def plain(obj: Any) -> Any:
    """Records of configs (EasyDict, omegaconf DictConfig/ListConfig and nodes) as plain dicts, lists and scalars."""
    if isinstance(obj, ObjectRecord):
        name = obj.global_name
        if name.endswith(".DictConfig"):
            content = (obj.state or {}).get("_content") if isinstance(obj.state, dict) else None
            return {k: plain(v) for k, v in (content or {}).items()}
        if name.endswith(".ListConfig"):
            content = (obj.state or {}).get("_content") if isinstance(obj.state, dict) else None
            return [plain(v) for v in (content or [])]
        if name.startswith("omegaconf.nodes."):
            return plain((obj.state or {}).get("_val")) if isinstance(obj.state, dict) else None
        if obj.listitems:
            return [plain(v) for v in obj.listitems]
        items = {k: plain(v) for k, v in obj.items()}
        if isinstance(obj.state, dict):
            items.update({k: plain(v) for k, v in obj.state.items() if not str(k).startswith("_")})
        return items
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj)
    return obj
