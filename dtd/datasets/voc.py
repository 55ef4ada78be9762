"""Pascal VOC 2012 classification data from a VOCdevkit folder.

The loader reads the devkit layout::

    VOCdevkit/VOC2012/
        JPEGImages/<id>.jpg
        Annotations/<id>.xml
        ImageSets/Main/<split>.txt      one image id per line

Images are decoded with Pillow, converted to RGB, resized to ``size x size``
(bilinear; the aspect ratio is not kept) and scaled to [0, 1].

Labels: class c is 1 for an image holding at least one object of class c not
marked ``<difficult>1</difficult>``, else 0. An image whose only objects of
class c are difficult gets 0 in ``targets`` and True in ``difficult`` (the VOC
devkit's label 0, "difficult", which its evaluation ignores): mask these
entries out of a loss or a score if they should not count as negatives.

Annotation files come from outside, so before parsing with
:mod:`xml.etree.ElementTree` each file must decode as UTF-8 (no NUL characters), be at most
1 MiB, and hold no ``<!DOCTYPE`` or ``<!ENTITY`` declaration (which is what
entity-expansion attacks such as "billion laughs" need); otherwise it is
refused with a ``ValueError``.

On a real copy: ``load_voc("/data/VOCdevkit", "train", size=64,
dtype=np.float32)`` loads the 5,717 training images (216 MB at float32).
:func:`make_synthetic_voc` writes a small tree of the same layout for tests
and quick runs.
"""
import os
import re
import xml.etree.ElementTree as ET
from typing import NamedTuple

import numpy as np

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
    "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
MAX_XML_BYTES = 1 << 20
HOSTILE = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


class VOCData(NamedTuple):
    """The result of :func:`load_voc`.

    Attributes
    ----------
    images : numpy.ndarray, shape (N, 3, size, size)
        RGB in [0, 1].
    targets : numpy.ndarray of int64, shape (N, C)
        1 if a non-difficult object of the class is in the image, else 0.
    difficult : numpy.ndarray of bool, shape (N, C)
        True where the class occurs only as difficult objects.
    ids : tuple of str, length N
        Image ids, in the order of the split file.
    """

    images: np.ndarray
    targets: np.ndarray
    difficult: np.ndarray
    ids: tuple


def _devkit_dir(root):
    root = os.fspath(root)
    if os.path.isdir(os.path.join(root, "VOC2012")) and not os.path.isdir(os.path.join(root, "JPEGImages")):
        root = os.path.join(root, "VOC2012")
    if not os.path.isdir(os.path.join(root, "ImageSets", "Main")):
        raise FileNotFoundError(
            f"{root}: not a VOC2012 folder (no ImageSets/Main); point root at "
            "VOCdevkit/ or VOCdevkit/VOC2012/"
        )
    return root


def parse_annotation(path):
    """Objects of one VOC annotation file, refusing hostile XML.

    Parameters
    ----------
    path : str or os.PathLike
        ``Annotations/<id>.xml``.

    Returns
    -------
    list of (str, bool)
        ``(class name, difficult)`` per ``<object>``.

    Raises
    ------
    ValueError
        For a file over 1 MiB, not UTF-8, with a DOCTYPE or ENTITY
        declaration, malformed, or without ``<annotation>`` root or object names.
    """
    with open(path, "rb") as f:
        raw = f.read(MAX_XML_BYTES + 1)
    if len(raw) > MAX_XML_BYTES:
        raise ValueError(f"{path}: annotation larger than {MAX_XML_BYTES} bytes, refused")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: annotation is not UTF-8, refused") from None
    if "\x00" in text:  # UTF-16 without a byte-order mark would hide a DOCTYPE from the check
        raise ValueError(f"{path}: annotation is not UTF-8 (NUL characters), refused")
    if HOSTILE.search(text):
        raise ValueError(f"{path}: DOCTYPE/ENTITY declarations are not allowed in annotations, refused")
    # A str carries no encoding: drop the declaration so a false one cannot mislead the parser.
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"{path}: malformed XML ({exc})") from None
    if root.tag != "annotation":
        raise ValueError(f"{path}: root element is <{root.tag}>, expected <annotation>")
    objects = []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        flag = (obj.findtext("difficult") or "0").strip()
        if not name or flag not in ("0", "1"):
            raise ValueError(f"{path}: an <object> needs a <name> and <difficult> 0 or 1")
        objects.append((name, flag == "1"))
    return objects


def load_voc(root, split="train", size=64, classes=VOC_CLASSES, dtype=np.float64, limit=None):
    """Load a split of a VOCdevkit tree as resized images and multi-label targets.

    Parameters
    ----------
    root : str or os.PathLike
        ``VOCdevkit/`` (its ``VOC2012/`` is used) or ``VOCdevkit/VOC2012/``.
    split : str
        Name of a file ``ImageSets/Main/<split>.txt``: ``"train"``, ``"val"``
        or ``"trainval"``.
    size : int
        Side of the square output images.
    classes : sequence of str
        Class names, one target column each (default the 20 VOC classes);
        objects of other classes are ignored.
    dtype : numpy dtype
        float64 (default) or float32. Memory: ``N * 3 * size**2 * itemsize`` bytes.
    limit : int or None
        Keep the first ``limit`` ids of the split.

    Returns
    -------
    VOCData
        ``(images (N, 3, size, size), targets (N, C), difficult (N, C), ids)``.

    Raises
    ------
    FileNotFoundError
        For a missing folder, split file, image or annotation.
    ValueError
        For a bad argument or a malformed / hostile annotation.
    """
    from PIL import Image

    dtype = np.dtype(dtype)
    if dtype not in (np.float64, np.float32):
        raise ValueError(f"dtype must be float64 or float32, got {dtype}")
    if int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    classes = tuple(classes)
    if len(set(classes)) != len(classes) or not classes:
        raise ValueError(f"classes must be distinct and non-empty, got {classes}")
    base = _devkit_dir(root)
    split_file = os.path.join(base, "ImageSets", "Main", f"{split}.txt")
    if not os.path.isfile(split_file):
        raise FileNotFoundError(f"no split file {split_file}")
    with open(split_file, encoding="utf-8") as f:
        ids = tuple(line.split()[0] for line in f if line.strip())[:limit]
    column = {name: k for k, name in enumerate(classes)}
    images = np.empty((len(ids), 3, size, size), dtype=dtype)
    positive = np.zeros((len(ids), len(classes)), dtype=bool)
    hard = np.zeros((len(ids), len(classes)), dtype=bool)
    for i, image_id in enumerate(ids):  # file decoding: one image at a time
        for name, difficult in parse_annotation(os.path.join(base, "Annotations", f"{image_id}.xml")):
            if name in column:
                (hard if difficult else positive)[i, column[name]] = True
        with Image.open(os.path.join(base, "JPEGImages", f"{image_id}.jpg")) as img:
            rgb = img.convert("RGB").resize((size, size), Image.BILINEAR)
        images[i] = np.asarray(rgb, dtype=dtype).transpose(2, 0, 1) / dtype.type(255)
    return VOCData(images, positive.astype(np.int64), hard & ~positive, ids)


def _annotation_xml(image_id, width, height, objects):
    """VOC-style annotation text; ``objects`` is a list of (name, difficult, (x0, y0, x1, y1))."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "VOC2012"
    ET.SubElement(root, "filename").text = f"{image_id}.jpg"
    source = ET.SubElement(root, "source")
    ET.SubElement(source, "database").text = "dtd synthetic VOC"
    box = ET.SubElement(root, "size")
    for tag, value in (("width", width), ("height", height), ("depth", 3)):
        ET.SubElement(box, tag).text = str(value)
    ET.SubElement(root, "segmented").text = "0"
    for name, difficult, (x0, y0, x1, y1) in objects:
        obj = ET.SubElement(root, "object")
        ET.SubElement(obj, "name").text = name
        ET.SubElement(obj, "pose").text = "Unspecified"
        ET.SubElement(obj, "truncated").text = "0"
        ET.SubElement(obj, "difficult").text = str(int(difficult))
        bnd = ET.SubElement(obj, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), (x0 + 1, y0 + 1, x1, y1)):
            ET.SubElement(bnd, tag).text = str(value)  # VOC boxes are 1-based, inclusive
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def class_colours():
    """A fixed RGB colour (uint8, shape (20, 3)) per VOC class, used by :func:`make_synthetic_voc`."""
    k = np.arange(len(VOC_CLASSES))
    return np.stack([(k * 67) % 256, (k * 149 + 40) % 256, 255 - (k * 97) % 256], axis=1).astype(np.uint8)


def make_synthetic_voc(root, n, seed, p_difficult=0.15):
    """Write a small VOCdevkit tree of ``n`` synthetic images.

    Each image (sides 48..96 pixels, grey noise background) holds 1 to 3
    filled rectangles; a rectangle of class c has colour
    ``class_colours()[c]``, so a small CNN can learn the classes. Each object
    is marked difficult with probability ``p_difficult``. The layout is the
    real one: ``VOCdevkit/VOC2012/{JPEGImages, Annotations, ImageSets/Main}``
    with ``train.txt``, ``val.txt``, ``trainval.txt`` (first ~70% train, the
    rest val) and the per-class files ``<class>_<split>.txt`` holding 1, -1
    or 0 (difficult only) as in the devkit.

    Parameters
    ----------
    root : str or os.PathLike
        Folder in which ``VOCdevkit/`` is created.
    n : int
        Number of images (at least 2, so that train and val are not empty).
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    p_difficult : float
        Probability that an object is marked difficult.

    Returns
    -------
    dict
        ``{"root": path of VOCdevkit, "ids": list of ids, "objects": {id:
        [(class name, difficult, (x0, y0, x1, y1)), ...]}, "train": ids,
        "val": ids}`` with 0-based, end-exclusive pixel boxes.
    """
    from PIL import Image

    if int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    rng = np.random.default_rng(seed)
    base = os.path.join(os.fspath(root), "VOCdevkit", "VOC2012")
    for sub in ("JPEGImages", "Annotations", os.path.join("ImageSets", "Main")):
        os.makedirs(os.path.join(base, sub), exist_ok=True)
    colours = class_colours()
    ids, objects = [], {}
    for i in range(int(n)):  # writing files: one image at a time
        image_id = f"2012_{i:06d}"
        width, height = (int(v) for v in rng.integers(48, 97, size=2))
        pixels = rng.integers(90, 166, size=(height, width, 1)).repeat(3, axis=2).astype(np.uint8)
        objs = []
        for c in rng.choice(len(VOC_CLASSES), size=int(rng.integers(1, 4)), replace=False):
            w, h = int(rng.integers(width // 4, width // 2 + 1)), int(rng.integers(height // 4, height // 2 + 1))
            x0, y0 = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            pixels[y0:y0 + h, x0:x0 + w] = colours[c]
            objs.append((VOC_CLASSES[c], bool(rng.random() < p_difficult), (x0, y0, x0 + w, y0 + h)))
        Image.fromarray(pixels).save(os.path.join(base, "JPEGImages", f"{image_id}.jpg"), quality=95)
        with open(os.path.join(base, "Annotations", f"{image_id}.xml"), "w", encoding="utf-8") as f:
            f.write(_annotation_xml(image_id, width, height, objs))
        ids.append(image_id)
        objects[image_id] = objs
    n_train = max(1, min(len(ids) - 1, round(0.7 * len(ids))))
    splits = {"train": ids[:n_train], "val": ids[n_train:], "trainval": ids}
    main = os.path.join(base, "ImageSets", "Main")
    for split, members in splits.items():
        with open(os.path.join(main, f"{split}.txt"), "w", encoding="utf-8") as f:
            f.write("".join(f"{m}\n" for m in members))
        for name in VOC_CLASSES:
            with open(os.path.join(main, f"{name}_{split}.txt"), "w", encoding="utf-8") as f:
                for m in members:
                    flags = [d for cls, d, _ in objects[m] if cls == name]
                    label = -1 if not flags else (0 if all(flags) else 1)
                    f.write(f"{m} {label:2d}\n")
    return {"root": os.path.join(os.fspath(root), "VOCdevkit"), "ids": ids, "objects": objects,
            "train": splits["train"], "val": splits["val"]}
