"""Pascal VOC loader on a synthetic VOCdevkit tree, and refusal of hostile annotation XML."""
import numpy as np
import pytest
from PIL import Image

from dtd.datasets import VOC_CLASSES, load_voc, make_synthetic_voc, parse_annotation
from dtd.datasets.voc import class_colours


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_synthetic_voc(tmp_path_factory.mktemp("voc"), n=14, seed=3, p_difficult=0.3)


def expected_labels(objects, ids, classes=VOC_CLASSES):
    """Targets and difficult flags computed from the builder's own record, not from the XML."""
    targets = np.zeros((len(ids), len(classes)), dtype=np.int64)
    difficult = np.zeros((len(ids), len(classes)), dtype=bool)
    for i, image_id in enumerate(ids):
        for name, hard, _ in objects[image_id]:
            if name in classes:
                k = classes.index(name)
                if hard:
                    difficult[i, k] = True
                else:
                    targets[i, k] = 1
    return targets, difficult & (targets == 0)


def test_tree_has_the_devkit_layout(tree):
    base = tree["root"] + "/VOC2012"
    import os
    for sub in ("JPEGImages", "Annotations", "ImageSets/Main"):
        assert os.path.isdir(os.path.join(base, sub))
    assert len(tree["train"]) == 10 and len(tree["val"]) == 4
    with Image.open(os.path.join(base, "JPEGImages", tree["ids"][0] + ".jpg")) as img:
        assert img.format == "JPEG" and img.mode == "RGB"


@pytest.mark.parametrize("split", ["train", "val", "trainval"])
def test_targets_match_the_objects_written(tree, split):
    data = load_voc(tree["root"], split=split, size=16)
    ids = tree["ids"] if split == "trainval" else tree[split]
    assert data.ids == tuple(ids)
    targets, difficult = expected_labels(tree["objects"], ids)
    assert data.targets.dtype == np.int64 and data.targets.shape == (len(ids), 20)
    np.testing.assert_array_equal(data.targets, targets)
    np.testing.assert_array_equal(data.difficult, difficult)
    assert data.images.shape == (len(ids), 3, 16, 16) and data.images.dtype == np.float64
    assert data.images.min() >= 0 and data.images.max() <= 1


def test_targets_agree_with_the_devkit_class_files(tree):
    # the per-class files hold 1 (present), -1 (absent), 0 (only difficult), as in the real devkit
    data = load_voc(tree["root"], split="train", size=8)
    main = tree["root"] + "/VOC2012/ImageSets/Main/"
    for k, name in enumerate(VOC_CLASSES):
        lines = [line.split() for line in open(main + f"{name}_train.txt", encoding="utf-8")]
        assert [i for i, _ in lines] == list(data.ids)
        labels = np.array([int(v) for _, v in lines])
        np.testing.assert_array_equal(labels == 1, data.targets[:, k] == 1)
        np.testing.assert_array_equal(labels == 0, data.difficult[:, k])
    assert data.difficult.any(), "p_difficult=0.3 should have made some difficult-only labels"


def test_images_are_the_resized_jpegs(tree):
    data = load_voc(tree["root"] + "/VOC2012", split="val", size=24, dtype=np.float32)
    assert data.images.dtype == np.float32
    for i, image_id in enumerate(data.ids):
        with Image.open(f"{tree['root']}/VOC2012/JPEGImages/{image_id}.jpg") as img:
            reference = np.asarray(img.resize((24, 24), Image.BILINEAR), dtype=np.float64) / 255
        # channel-first layout; float32 rounding of values in [0, 1] is below 6e-8
        np.testing.assert_allclose(data.images[i], reference.transpose(2, 0, 1), atol=1e-7)


def test_rectangles_have_their_class_colour(tree):
    data = load_voc(tree["root"], split="trainval", size=64)
    colours = class_colours() / 255
    seen = 0
    for i, image_id in enumerate(data.ids):
        # the last rectangle drawn is never covered; check the colour at its centre
        name, _, (x0, y0, x1, y1) = tree["objects"][image_id][-1]
        with Image.open(f"{tree['root']}/VOC2012/JPEGImages/{image_id}.jpg") as img:
            width, height = img.size
        cx, cy = (x0 + x1) / 2 * 64 / width, (y0 + y1) / 2 * 64 / height
        pixel = data.images[i, :, int(cy), int(cx)]
        # JPEG at quality 95 and bilinear resizing leave flat regions within 0.06 of their colour
        np.testing.assert_allclose(pixel, colours[VOC_CLASSES.index(name)], atol=0.06)
        seen += 1
    assert seen == 14


def test_class_subset_and_limit(tree):
    classes = ("dog", "aeroplane", "person")
    data = load_voc(tree["root"], split="trainval", size=8, classes=classes, limit=5)
    assert data.targets.shape == (5, 3) and data.ids == tuple(tree["ids"][:5])
    targets, difficult = expected_labels(tree["objects"], tree["ids"][:5], classes)
    np.testing.assert_array_equal(data.targets, targets)
    np.testing.assert_array_equal(data.difficult, difficult)


def test_difficult_and_plain_objects_of_one_class(tmp_path):
    # a hand-written annotation: cat twice (one difficult), dog only difficult, a non-VOC class ignored
    tree = make_synthetic_voc(tmp_path, n=2, seed=0)
    image_id = tree["ids"][0]
    (tmp_path / "VOCdevkit/VOC2012/Annotations" / f"{image_id}.xml").write_text(
        "<annotation><filename>x.jpg</filename>"
        "<object><name>cat</name><difficult>1</difficult></object>"
        "<object><name>cat</name><difficult>0</difficult></object>"
        "<object><name>dog</name><difficult>1</difficult></object>"
        "<object><name>unicorn</name></object></annotation>", encoding="utf-8")
    data = load_voc(tree["root"], split="train", size=4)
    cat, dog = VOC_CLASSES.index("cat"), VOC_CLASSES.index("dog")
    assert np.flatnonzero(data.targets[0]).tolist() == [cat]
    assert np.flatnonzero(data.difficult[0]).tolist() == [dog]


def test_synthetic_tree_is_deterministic(tmp_path):
    a = make_synthetic_voc(tmp_path / "a", n=3, seed=9)
    b = make_synthetic_voc(tmp_path / "b", n=3, seed=9)
    assert a["objects"] == b["objects"]
    for image_id in a["ids"]:
        assert (tmp_path / "a/VOCdevkit/VOC2012/JPEGImages" / f"{image_id}.jpg").read_bytes() == \
               (tmp_path / "b/VOCdevkit/VOC2012/JPEGImages" / f"{image_id}.jpg").read_bytes()
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        make_synthetic_voc(tmp_path / "c", n=1, seed=0)


def test_missing_files_and_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a VOC2012 folder"):
        load_voc(tmp_path)
    tree = make_synthetic_voc(tmp_path, n=3, seed=0)
    with pytest.raises(FileNotFoundError, match="no split file .*test.txt"):
        load_voc(tree["root"], split="test")
    with pytest.raises(ValueError, match="dtype must be"):
        load_voc(tree["root"], dtype=np.uint8)
    with pytest.raises(ValueError, match="size must be"):
        load_voc(tree["root"], size=0)
    with pytest.raises(ValueError, match="classes must be distinct"):
        load_voc(tree["root"], classes=("cat", "cat"))
    (tmp_path / "VOCdevkit/VOC2012/JPEGImages" / f"{tree['ids'][0]}.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=tree["ids"][0]):
        load_voc(tree["root"], split="trainval")


# --- hostile and malformed annotations ---------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<annotation><object><name>&lol4;</name><difficult>0</difficult></object></annotation>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE annotation [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<annotation><object><name>&xxe;</name></object></annotation>
"""
LOWERCASE_DOCTYPE = "<!doctype annotation><annotation></annotation>"
SPACED_ENTITY = "<annotation><! ENTITY a 'b'><object><name>cat</name></object></annotation>"


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL_ENTITY, LOWERCASE_DOCTYPE, SPACED_ENTITY])
def test_hostile_xml_is_refused(tmp_path, text):
    path = tmp_path / "a.xml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="DOCTYPE/ENTITY declarations are not allowed"):
        parse_annotation(path)


def test_hostile_xml_refused_inside_a_devkit(tmp_path):
    tree = make_synthetic_voc(tmp_path, n=3, seed=1)
    (tmp_path / "VOCdevkit/VOC2012/Annotations" / f"{tree['ids'][1]}.xml").write_text(BILLION_LAUGHS)
    with pytest.raises(ValueError, match=f"{tree['ids'][1]}.xml: DOCTYPE/ENTITY"):
        load_voc(tree["root"], split="trainval")


def test_encodings_that_could_hide_a_doctype_are_refused(tmp_path):
    path = tmp_path / "a.xml"
    path.write_bytes(BILLION_LAUGHS.encode("utf-16-le"))  # no byte-order mark: decodes as UTF-8 with NULs
    with pytest.raises(ValueError, match="not UTF-8"):
        parse_annotation(path)
    path.write_bytes(BILLION_LAUGHS.encode("utf-16"))  # with byte-order mark
    with pytest.raises(ValueError, match="not UTF-8"):
        parse_annotation(path)


def test_oversized_and_malformed_annotations(tmp_path):
    path = tmp_path / "a.xml"
    path.write_text("<annotation>" + " " * (1 << 20) + "</annotation>")
    with pytest.raises(ValueError, match="larger than 1048576 bytes"):
        parse_annotation(path)
    path.write_text("<annotation><object><name>cat</name></annotation>")
    with pytest.raises(ValueError, match="malformed XML"):
        parse_annotation(path)
    path.write_text("<picture/>")
    with pytest.raises(ValueError, match="root element is <picture>"):
        parse_annotation(path)
    path.write_text("<annotation><object><difficult>0</difficult></object></annotation>")
    with pytest.raises(ValueError, match="needs a <name>"):
        parse_annotation(path)
    path.write_text("<annotation><object><name>cat</name><difficult>yes</difficult></object></annotation>")
    with pytest.raises(ValueError, match="difficult> 0 or 1"):
        parse_annotation(path)


def test_plain_annotation_with_declaration_and_bom(tmp_path):
    path = tmp_path / "a.xml"
    text = ('<?xml version="1.0" encoding="utf-16"?>\n<annotation><object><name> cat </name></object>'
            "<object><name>dog</name><difficult>1</difficult></object></annotation>")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))  # a UTF-8 BOM and a false encoding declaration
    assert parse_annotation(path) == [("cat", False), ("dog", True)]
