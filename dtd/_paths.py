"""Where the files the project ships (``data/``) are found."""
import os
from pathlib import Path

__all__ = ["data_dir"]


def data_dir():
    """The project's ``data/`` folder.

    Looked up in order: the environment variable ``DTD_DATA``; ``data/`` beside
    the package (a source checkout or editable install); ``./data``.
    """
    candidates = []
    if os.environ.get("DTD_DATA"):
        candidates.append(Path(os.environ["DTD_DATA"]))
    candidates += [Path(__file__).resolve().parent.parent / "data", Path.cwd() / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError("cannot find the dtd data folder: run from a dtd checkout, or set DTD_DATA "
                            f"(looked in: {', '.join(str(c) for c in candidates)})")
