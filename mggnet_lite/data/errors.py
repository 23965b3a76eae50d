"""The two errors every data reader raises (ARCHITECTURE.md, "Rules": name the file, the line, the fix).

Both subclass a built-in so callers that catch ``FileNotFoundError`` / ``ValueError``
keep working.
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from .images import to_rgb


class DatasetNotFoundError(FileNotFoundError):
    """A dataset (or one of its files) is not where we looked. The message lists what was
    looked for, where, and where to get it."""


class DatasetFormatError(ValueError):
    """A dataset file exists but its content is wrong: the message names the file, the line
    (or entry) and the fix."""


def resolve_data_root(root: str | os.PathLike | None, what: str, help_text: str = "") -> Path:
    """``root`` or, when it is None, ``$MGGNET_DATA`` (ARCHITECTURE.md, "Users": real data come from a
    folder the user points to). Raises :class:`DatasetNotFoundError` when neither exists;
    ``help_text`` (what to fetch and where to put it) is appended to the message."""
    tail = f"\n{help_text}" if help_text else ""
    if root is None:
        env = os.environ.get("MGGNET_DATA")
        if not env:
            raise DatasetNotFoundError(
                f"no data folder given for {what}: pass root=... or set the environment "
                f"variable MGGNET_DATA to the folder that holds the data.{tail}"
            )
        root = env
        origin = " (from $MGGNET_DATA)"
    else:
        origin = ""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DatasetNotFoundError(
            f"{what}: data folder {path}{origin} does not exist or is not a folder. "
            f"Pass the folder that holds the data as root=..., or set MGGNET_DATA to it.{tail}"
        )
    return path.resolve()


def open_rgb(path: str | os.PathLike, listed_in: str = "") -> Image.Image:
    """Decode one image file to a PIL RGB image, turning every failure into one of our two
    errors with the file's name (ARCHITECTURE.md, "Rules"). ``listed_in`` says where the file was listed
    (e.g. ``"list_attr_celeba.txt line 7"``) so the message can point there too."""
    where = f" (listed in {listed_in})" if listed_in else ""
    try:
        with Image.open(path) as im:
            # to_rgb() decodes fully inside the try, so truncated files fail here
            return to_rgb(im)
    except FileNotFoundError:
        raise DatasetNotFoundError(
            f"image {path}{where} is missing. Re-extract the image archive into that folder "
            "(or remove the entry from the label file)."
        ) from None
    except Image.DecompressionBombError as exc:
        raise DatasetFormatError(
            f"image {path}{where} is refused: {exc} It claims more pixels than a face photo has; "
            "remove it or replace it with a smaller copy."
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetFormatError(
            f"image {path}{where} cannot be decoded ({type(exc).__name__}: {exc}). The file is "
            "corrupt or truncated: re-extract it from the archive; to build a cache without it, "
            "use skip_corrupt=True (python -m mggnet_lite cache --skip-corrupt)."
        ) from None
