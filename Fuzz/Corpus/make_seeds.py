#!/usr/bin/env python3
"""Writes the fuzz seed corpora, one folder per target (Fuzz/Corpus/<target>/): small valid
files of each format in the variants the parsers handle. Needs Python 3 with numpy, and
cjpeg/jpegtran (Debian's libjpeg-turbo-progs) for the JPEG seeds. Run from anywhere:
    /opt/torchenv/bin/python Fuzz/Corpus/make_seeds.py
The build and the fuzzer never need Python: the seeds are committed."""
import gzip, io, json, os, shutil, struct, subprocess, tempfile, zipfile, zlib
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
fixtures = os.path.join(here, "..", "..", "Tests")


def put(target, name, data):
    os.makedirs(os.path.join(here, target), exist_ok=True)
    with open(os.path.join(here, target, name), "wb") as f:
        f.write(data)


# safetensors: F32/F16/BF16/F64, a scalar, an empty tensor, metadata.
def safetensors(tensors, metadata=None):
    header, blob = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + blob


rng = np.random.default_rng(0)
w = rng.standard_normal(6).astype(np.float32)
put("safetensors", "f32.safetensors", safetensors([("a.weight", "F32", [2, 3], w.tobytes())], {"format": "pt"}))
put("safetensors", "mixed.safetensors", safetensors([
    ("h", "F16", [3], w[:3].astype(np.float16).tobytes()),
    ("b", "BF16", [2], (w[:2].view(np.uint32) >> 16).astype(np.uint16).tobytes()),
    ("d", "F64", [], np.float64(1.5).tobytes()),
    ("e", "F32", [0, 4], b""),
]))

# Checkpoint metadata: config, training, recipe, architecture separated by zero bytes.
config = {"channels": 1, "dNorm": "batch", "imageSize": 32, "ndf": 8, "ngf": 8, "nz": 16}
training = {"batch": 16, "dRuns": 10, "dataSeed": 55930, "data": "/usr/share/datasets/fashion-mnist", "flip": False,
            "gRuns": 10, "nCritic": 1, "seed": 0, "step": 10}
recipes = [
    {"arch": "dcgan", "loss": "ns", "momentum": 0, "emaStart": 0, "r1Every": 1, "spectralNorm": False},
    {"arch": "dcgan", "loss": "wgan-gp", "penaltyWeight": 10, "optimizer": "adam", "lrG": 1e-4, "lrD": 1e-4,
     "beta1": 0.5, "beta2": 0.9, "nCritic": 5, "dNorm": "none", "lrDecayStart": 5, "lrDecayEnd": 20},
    {"arch": "resnet", "loss": "hinge", "spectralNorm": True, "ema": 0.999, "emaStart": 100, "r1": 1.0, "r1Every": 16},
]
for i, recipe in enumerate(recipes):
    parts = [json.dumps(config), json.dumps(training), json.dumps(recipe), recipe["arch"]]
    put("metadata", f"recipe{i}.bin", b"\0".join(p.encode() for p in parts))
old = dict(training, lr=2e-4, beta1=0.5, beta2=0.999)  # written before recipes: no recipe key
put("metadata", "pre-recipe.bin", b"\0".join([json.dumps({k: v for k, v in config.items() if k != "dNorm"}).encode(),
                                               json.dumps(old).encode()]))

# idx: images and labels, plain and gzip (the test fixtures plus a larger one).
def idx3(images):
    n, r, c = images.shape
    return struct.pack(">IIII", 0x803, n, r, c) + images.astype(np.uint8).tobytes()


def idx1(labels):
    return struct.pack(">II", 0x801, len(labels)) + bytes(labels)


images = rng.integers(0, 256, (3, 4, 5))
for target, pack in (("idx", lambda b: b), ("idx-gzip", lambda b: gzip.compress(b, mtime=0))):
    put(target, "images-idx3-ubyte", pack(idx3(images)))
    put(target, "labels-idx1-ubyte", pack(idx1([7, 3, 0, 9])))
    put(target, "empty-idx3-ubyte", pack(idx3(np.zeros((0, 2, 2)))))
for name in ("tiny-images-idx3-ubyte.gz", "tiny-labels-idx1-ubyte.gz"):
    shutil.copy(os.path.join(fixtures, "KallimaDataTests", "Fixtures", name), os.path.join(here, "idx-gzip", name))


# npy / npz: the Fréchet statistics fixtures, plus members in each .npy version.
def npy(array, version=(1, 0)):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (array.dtype.str, repr(array.shape))
    size = 2 if version[0] == 1 else 4
    header += " " * ((64 - (10 + (size - 2) + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY" + bytes(version) + struct.pack("<H" if size == 2 else "<I", len(header)) + header.encode() \
        + array.tobytes()


mu = rng.standard_normal(3)
sigma = np.eye(3) + 0.1
put("npy", "mu-v1.npy", npy(mu))
put("npy", "sigma-v2.npy", npy(sigma, (2, 0)))
put("npy", "mu-f4-v3.npy", npy(mu.astype(np.float32), (3, 0)))
put("npy", "scalar.npy", npy(np.float64(2.0).reshape(())))
os.makedirs(os.path.join(here, "npz"), exist_ok=True)
for name in sorted(os.listdir(os.path.join(fixtures, "KallimaEvalTests", "Fixtures"))):
    if name.endswith(".npz"):
        shutil.copy(os.path.join(fixtures, "KallimaEvalTests", "Fixtures", name), os.path.join(here, "npz", name))


# PNG: every color type and bit depth, interlaced or not, with tRNS, gAMA and PLTE chunks.
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(pixels, color_type, depth, interlace=False, extra=b""):
    """pixels: [h, w, samples] integers already in range for `depth`."""
    h, w, samples = pixels.shape

    def rows(sub):
        out = b""
        for row in sub:
            if depth >= 8:
                out += b"\0" + row.astype(">u2" if depth == 16 else np.uint8).tobytes()
            else:
                bits = "".join(format(int(v), f"0{depth}b") for v in row.reshape(-1))
                bits += "0" * (-len(bits) % 8)
                out += b"\0" + bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
        return out

    if interlace:
        raw = b""
        for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
                               (0, 1, 1, 2)):
            sub = pixels[y0::dy, x0::dx]
            if sub.size:
                raw += rows(sub)
    else:
        raw = rows(pixels)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def sample(h, w, samples, depth):
    return rng.integers(0, 1 << depth, (h, w, samples))


for depth in (1, 2, 4, 8, 16):
    put("png", f"gray{depth}.png", png(sample(5, 7, 1, depth), 0, depth))
put("png", "gray8-trns.png", png(sample(4, 4, 1, 8), 0, 8, extra=chunk(b"tRNS", b"\0\x10")))
for depth in (8, 16):
    put("png", f"rgb{depth}.png", png(sample(5, 6, 3, depth), 2, depth, extra=chunk(b"gAMA", struct.pack(">I", 45455))))
    put("png", f"gray-alpha{depth}.png", png(sample(4, 3, 2, depth), 4, depth))
    put("png", f"rgba{depth}.png", png(sample(3, 5, 4, depth), 6, depth))
put("png", "rgb8-interlaced.png", png(sample(9, 10, 3, 8), 2, 8, interlace=True))
put("png", "rgb8-srgb.png", png(sample(2, 2, 3, 8), 2, 8, extra=chunk(b"sRGB", b"\0")))
for depth in (1, 2, 4, 8):
    colors = min(1 << depth, 6)
    plte = chunk(b"PLTE", bytes(rng.integers(0, 256, 3 * colors).astype(np.uint8)))
    trns = chunk(b"tRNS", bytes(rng.integers(0, 256, colors).astype(np.uint8)))
    put("png", f"palette{depth}.png", png(rng.integers(0, colors, (4, 6, 1)), 3, depth, extra=plte + trns))

# JPEG: baseline, progressive, gray, 4:4:4 and 4:2:0, restart markers, arithmetic coding, RGB.
with tempfile.TemporaryDirectory() as tmp:
    ppm, pgm = os.path.join(tmp, "in.ppm"), os.path.join(tmp, "in.pgm")
    smooth = np.add.outer(np.arange(16), np.arange(24)) * 5 + rng.integers(0, 20, (16, 24))
    rgb = np.stack([smooth, smooth[::-1], 255 - smooth], axis=-1).clip(0, 255).astype(np.uint8)
    with open(ppm, "wb") as f:
        f.write(b"P6 24 16 255\n" + rgb.tobytes())
    with open(pgm, "wb") as f:
        f.write(b"P5 24 16 255\n" + rgb[..., 0].tobytes())
    variants = {
        "baseline.jpg": (["-quality", "75"], ppm),
        "baseline-444.jpg": (["-sample", "1x1"], ppm),
        "progressive.jpg": (["-progressive"], ppm),
        "gray.jpg": (["-grayscale"], pgm),
        "gray-progressive.jpg": (["-progressive"], pgm),
        "restart.jpg": (["-restart", "1"], ppm),
        "arithmetic.jpg": (["-arithmetic"], ppm),
        "optimized.jpg": (["-optimize", "-quality", "30"], ppm),
    }
    for name, (flags, source) in variants.items():
        put("jpeg", name, subprocess.run(["cjpeg", *flags, source], check=True, capture_output=True).stdout)
    # RGB stored without the YCbCr transform (an Adobe marker saying so).
    put("jpeg", "rgb.jpg", subprocess.run(["cjpeg", "-rgb", ppm], check=True, capture_output=True).stdout)


# metadata.jsonl (Hugging Face imagefolder): string and integer labels, tags as an array and
# as a string, text, nested file names, blank and CRLF lines, nulls.
put("metadata-jsonl", "labels.jsonl", b'{"file_name": "a.png", "label": "cat"}\n{"file_name": "sub/b.png", "label": "dog"}\n')
put("metadata-jsonl", "integer-labels.jsonl", b'{"file_name": "a.png", "label": 3}\r\n\r\n{"file_name": "./b.png", "label": 0}\r\n')
put("metadata-jsonl", "tags-text.jsonl",
    b'{"file_name": "a.png", "tags": ["blue hair", "red eyes"], "text": "A red, red shirt!"}\n'
    b'{"file_name": "b.png", "tags": "smile, red eyes", "text": null, "colour": "red"}\n')

# list_attr_celeba.txt (CelebA attributes for StarGAN): CelebA's padding (one or two spaces),
# tabs, CRLF and blank lines, "+1", a path with a folder.
put("attribute-list", "celeba.txt", b"2\nBlack_Hair Blond_Hair Male Young \n000001.jpg -1  1 -1  1\n000002.jpg  1 -1  1 -1\n")
put("attribute-list", "crlf-tabs.txt", b"3\r\nRed\tInverted Thick\r\n\r\na.png\t1\t-1 +1\r\nsub/b.png -1 -1 -1\r\n./c.png 1 1 1\r\n")
