#!/usr/bin/env python3
"""Writes a folder of synthetic PNG and JPEG images for `kallima bench data` and the dataset
cache's first-run/second-run timing: half PNG (stdlib zlib), half JPEG (cjpeg, from Debian's
libjpeg-turbo-progs) and numpy. Usage: make_images.py FOLDER [COUNT] [WIDTH] [HEIGHT]"""
import os, random, struct, subprocess, sys, zlib
import numpy as np

def png(path, w, h, rgb):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + rgb[y * w * 3:(y + 1) * w * 3] for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))

def main():
    folder = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    w = int(sys.argv[3]) if len(sys.argv) > 3 else 160
    h = int(sys.argv[4]) if len(sys.argv) > 4 else 128
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(7)
    for i in range(count):
        a, b, c = rng.randrange(1, 9), rng.randrange(1, 9), rng.randrange(256)
        y, x, ch = np.mgrid[0:h, 0:w, 0:3]
        noise = np.random.default_rng(i).integers(0, 16, (h, w, 3))
        rgb = ((x * a + y * b + c + ch * 85 + noise) & 255).astype(np.uint8).tobytes()
        name = os.path.join(folder, f"img{i:05d}")
        if i % 2 == 0:
            png(name + ".png", w, h, rgb)
        else:
            ppm = name + ".ppm"
            with open(ppm, "wb") as f:
                f.write(b"P6 %d %d 255\n" % (w, h) + rgb)
            subprocess.run(["cjpeg", "-quality", "90", "-outfile", name + ".jpg", ppm], check=True)
            os.remove(ppm)

main()
