"""Fashion-MNIST from the standard IDX ``.gz`` files.

Nothing is downloaded. The files are looked up, in order, in the folder given
by the caller (``--data``), in ``$HWGEN_FASHION_MNIST``, and where Debian's
``dataset-fashion-mnist`` package installs them
(``/usr/share/datasets/fashion-mnist``).

IDX format: a big-endian header ``0x00 0x00 <dtype=0x08> <ndim>``, then
``ndim`` uint32 sizes, then the uint8 data in C order.
"""
from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError

ENV_VAR = "HWGEN_FASHION_MNIST"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
HOW_TO_GET = (f"install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist), "
              f"or point --data / ${ENV_VAR} at a folder with the four IDX .gz files")


@dataclass(frozen=True)
class Split:
    """One split: ``images`` uint8 ``[N, 1, 28, 28]``, ``labels`` int64 ``[N]``."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int | None) -> "Split":
        """The first ``n`` samples (all when ``n`` is None)."""
        return self if n is None else Split(self.images[:n], self.labels[:n])


def read_idx(path: Path) -> np.ndarray:
    """Read one gzipped IDX file of unsigned bytes into an array."""
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise DataError(f"{path}: not a readable gzip file ({err})") from None
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise DataError(f"{path}: not an IDX file of unsigned bytes")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path}: truncated ({data.size} bytes of data, header says {list(shape)})")
    return data.reshape(shape)


def find_folder(folder: str | os.PathLike | None = None) -> Path:
    """The first folder holding all four Fashion-MNIST files."""
    candidates = [Path(folder)] if folder else []
    if not folder and os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]))
    if not folder:
        candidates.append(DEBIAN_DIR)
    needed = [name for pair in FILES.values() for name in pair]
    for candidate in candidates:
        if all((candidate / name).is_file() for name in needed):
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise DataError(f"Fashion-MNIST not found (looked in {looked}): {HOW_TO_GET}")


def load_split(split: str, folder: str | os.PathLike | None = None) -> Split:
    """Load ``"train"`` (60 000) or ``"test"`` (10 000) images and labels."""
    if split not in FILES:
        raise DataError(f"split must be one of {sorted(FILES)}, got {split!r}")
    root = find_folder(folder)
    image_name, label_name = FILES[split]
    images, labels = read_idx(root / image_name), read_idx(root / label_name)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{root}: {split} images {list(images.shape)} and labels "
                        f"{list(labels.shape)} do not match")
    return Split(images[:, None, :, :].copy(), labels.astype(np.int64))


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 pixels to float32 in [0, 1] (what the ANN sees; SPEC §3)."""
    return images.astype(np.float32) / 255.0
