#!/usr/bin/env python3
"""Lays out images side by side, one row per file name, one column per folder: the README's
comparison grids (input | baselines | method | target). Pure Python (zlib): reads the 8-bit,
non-interlaced gray/RGB PNGs Kallima writes, writes an RGB PNG with 2-pixel black borders.

    python3 Scripts/compose_columns.py [--scale K] OUT.png NAMES FOLDER1 FOLDER2 ...

--scale K enlarges every cell K times (nearest neighbour) for small images. NAMES is a comma-separated list of file names present in every folder; a FOLDER may be
"DIR:left" or "DIR:right" to take that half of an aligned A|B image.
"""
import struct
import sys
import zlib


def read_png(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and colour in (0, 2), (path, depth, colour, interlace)
            channels = 1 if colour == 0 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    rgb = [[tuple(r[x * channels + (k if channels == 3 else 0)] for k in range(3)) for x in range(width)] for r in rows]
    return rgb


def write_png(path, pixels):
    height, width = len(pixels), len(pixels[0])
    raw = b"".join(b"\x00" + bytes(v for p in row for v in p) for row in pixels)
    chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    open(path, "wb").write(png + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    args = sys.argv[1:]
    scale = 1
    if args[0] == "--scale":
        scale, args = int(args[1]), args[2:]
    out, names, folders = args[0], args[1].split(","), args[2:]
    cells = []
    for name in names:
        row = []
        for f in folders:
            folder, _, half = f.partition(":")
            image = read_png(f"{folder}/{name}")
            if half:
                w = len(image[0]) // 2
                image = [r[:w] if half == "left" else r[w:] for r in image]
            image = [[p for p in r for _ in range(scale)] for r in image for _ in range(scale)]
            row.append(image)
        cells.append(row)
    size = len(cells[0][0])
    pad = 2
    width = len(folders) * (size + pad) + pad
    height = len(names) * (size + pad) + pad
    canvas = [[(0, 0, 0)] * width for _ in range(height)]
    for r, row in enumerate(cells):
        for c, image in enumerate(row):
            for y in range(size):
                canvas[pad + r * (size + pad) + y][pad + c * (size + pad):pad + c * (size + pad) + size] = image[y]
    write_png(out, canvas)


if __name__ == "__main__":
    main()
