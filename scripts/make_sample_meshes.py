#!/usr/bin/env python3
"""Writes the small sample meshes in assets/meshes/ (Python standard library only).

    python3 scripts/make_sample_meshes.py [OUTPUT_FOLDER]

Every mesh fits in [-1, 1] on each axis, and every face is wound counter-clockwise
seen from outside (the convex shapes are oriented away from their centre). The
output is deterministic, so running the script again gives the same bytes.
"""
import json
import math
import os
import struct
import sys


def sub(a, b):
    return [a[i] - b[i] for i in range(3)]


def cross(a, b):
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def dot(a, b):
    return sum(a[i] * b[i] for i in range(3))


def centre(points):
    return [sum(p[i] for p in points) / len(points) for i in range(3)]


def orient_outward(vertices, faces, inside):
    """Reverses every face whose normal points towards `inside` (convex pieces only)."""
    out = []
    for face in faces:
        a, b, c = (vertices[i] for i in face[:3])
        normal = cross(sub(b, a), sub(c, a))
        outward = sub(centre([vertices[i] for i in face]), inside)
        out.append(list(face) if dot(normal, outward) > 0 else [face[0]] + list(reversed(face[1:])))
    return out


def box(lo, hi):
    """8 corners (index = x + 2y + 4z bits) and 6 outward quads."""
    vertices = [[(lo, hi)[(i >> axis) & 1][axis] for axis in range(3)] for i in range(8)]
    quads = [[0, 2, 6, 4], [1, 3, 7, 5], [0, 1, 5, 4], [2, 3, 7, 6], [0, 1, 3, 2], [4, 5, 7, 6]]
    return vertices, orient_outward(vertices, quads, centre(vertices))


def fmt(x):
    """Shortest text that reads back as the same float32."""
    f = struct.unpack("<f", struct.pack("<f", x))[0]
    for digits in range(1, 10):
        text = "%.*g" % (digits, f)
        if struct.unpack("<f", struct.pack("<f", float(text)))[0] == f:
            return "0" if text == "-0" else text
    return "%.9g" % f


def write_obj(path, vertices, faces, comment):
    lines = ["# " + comment]
    lines += ["v %s %s %s" % tuple(fmt(c) for c in v) for v in vertices]
    lines += ["f " + " ".join(str(i + 1) for i in face) for face in faces]
    with open(path, "w", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


def write_ply_ascii(path, vertices, faces, comment):
    lines = ["ply", "format ascii 1.0", "comment " + comment,
             "element vertex %d" % len(vertices), "property float x", "property float y", "property float z",
             "element face %d" % len(faces), "property list uchar int vertex_indices", "end_header"]
    lines += ["%s %s %s" % tuple(fmt(c) for c in v) for v in vertices]
    lines += ["%d %s" % (len(face), " ".join(str(i) for i in face)) for face in faces]
    with open(path, "w", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


def write_stl_binary(path, vertices, triangles, comment):
    header = comment.encode("ascii")[:80].ljust(80, b" ")
    data = bytearray(header + struct.pack("<I", len(triangles)))
    for tri in triangles:
        a, b, c = (vertices[i] for i in tri)
        n = cross(sub(b, a), sub(c, a))
        length = math.sqrt(dot(n, n)) or 1.0
        data += struct.pack("<3f", *(x / length for x in n))
        for p in (a, b, c):
            data += struct.pack("<3f", *p)
        data += struct.pack("<H", 0)
    with open(path, "wb") as f:
        f.write(data)


def write_glb(path, vertices, triangles, translation, comment):
    positions = b"".join(struct.pack("<3f", *v) for v in vertices)
    indices = b"".join(struct.pack("<3H", *t) for t in triangles)
    pad = (4 - len(indices) % 4) % 4
    binary = positions + indices + b"\0" * pad
    doc = {
        "asset": {"version": "2.0", "generator": "scripts/make_sample_meshes.py", "extras": {"comment": comment}},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "translation": translation}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1, "mode": 4}]}],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": len(vertices), "type": "VEC3",
             "min": [min(v[i] for v in vertices) for i in range(3)],
             "max": [max(v[i] for v in vertices) for i in range(3)]},
            {"bufferView": 1, "componentType": 5123, "count": 3 * len(triangles), "type": "SCALAR"},
        ],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": len(positions), "target": 34962},
            {"buffer": 0, "byteOffset": len(positions), "byteLength": len(indices), "target": 34963},
        ],
        "buffers": [{"byteLength": len(positions) + len(indices)}],
    }
    text = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode("ascii")
    text += b" " * ((4 - len(text) % 4) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    data = struct.pack("<III", 0x46546C67, 2, total)
    data += struct.pack("<II", len(text), 0x4E4F534A) + text
    data += struct.pack("<II", len(binary), 0x004E4942) + binary
    with open(path, "wb") as f:
        f.write(data)


def cube():
    vertices, quads = box([-0.5, -0.5, -0.5], [0.5, 0.5, 0.5])
    triangles = []
    for q in quads:
        triangles += [[q[0], q[1], q[2]], [q[0], q[2], q[3]]]
    return vertices, triangles


def tetrahedron():
    s = 0.5
    vertices = [[s, s, s], [s, -s, -s], [-s, s, -s], [-s, -s, s]]
    faces = [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]]
    return vertices, orient_outward(vertices, faces, centre(vertices))


def cone(segments=16):
    apex = [0.0, 0.5, 0.0]
    rim = [[0.5 * math.cos(2 * math.pi * k / segments), -0.5, 0.5 * math.sin(2 * math.pi * k / segments)]
           for k in range(segments)]
    base = [0.0, -0.5, 0.0]
    # STL has no shared vertices: readers merge identical positions back into these 18,
    # numbered in the order the triangles first use them.
    vertices = [apex] + rim + [base]
    sides = [[0, 1 + k, 1 + (k + 1) % segments] for k in range(segments)]
    bottom = [[17, 1 + k, 1 + (k + 1) % segments] for k in range(segments)]
    inside = [0.0, -0.2, 0.0]
    return vertices, orient_outward(vertices, sides + bottom, inside)


def table():
    """A low-poly table: a top and four legs, each a box of 6 quads (40 vertices, 30 quads)."""
    vertices, faces = [], []
    parts = [([-0.8, 0.3, -0.5], [0.8, 0.4, 0.5])]
    for x in (-0.7, 0.6):
        for z in (-0.4, 0.3):
            parts.append(([x, -0.6, z], [x + 0.1, 0.3, z + 0.1]))
    for lo, hi in parts:
        v, q = box(lo, hi)
        base = len(vertices)
        vertices += v
        faces += [[base + i for i in quad] for quad in q]
    return vertices, faces


def grid(n=4):
    """A flat n x n quad grid in the xz plane, facing +y."""
    vertices = [[-0.5 + i / n, 0.0, -0.5 + j / n] for j in range(n + 1) for i in range(n + 1)]
    faces = []
    for j in range(n):
        for i in range(n):
            a = j * (n + 1) + i
            faces.append([a, a + n + 1, a + n + 2, a + 1])  # counter-clockwise seen from +y
    return vertices, faces


def octahedron():
    r = 0.5
    vertices = [[r, 0, 0], [-r, 0, 0], [0, r, 0], [0, -r, 0], [0, 0, r], [0, 0, -r]]
    faces = [[x, y, z] for x in (0, 1) for y in (2, 3) for z in (4, 5)]
    return vertices, orient_outward(vertices, faces, [0, 0, 0])


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "assets", "meshes")
    os.makedirs(out, exist_ok=True)
    v, f = cube()
    write_obj(os.path.join(out, "cube.obj"), v, f, "unit cube centred at the origin: 8 vertices, 12 triangles")
    v, f = tetrahedron()
    write_ply_ascii(os.path.join(out, "tetrahedron.ply"), v, f, "regular tetrahedron: 4 vertices, 4 triangles")
    v, f = cone()
    write_stl_binary(os.path.join(out, "cone.stl"), v, f, "cone with 16 segments, binary STL by meshgpt samples")
    v, f = table()
    write_obj(os.path.join(out, "table.obj"), v, f, "low-poly table: top and 4 legs, 40 vertices, 30 quads")
    v, f = grid()
    write_obj(os.path.join(out, "grid.obj"), v, f, "flat 4x4 quad grid: 25 vertices, 16 quads")
    v, f = octahedron()
    write_glb(os.path.join(out, "octahedron.glb"), v, f, [0.0, 0.25, 0.0],
              "octahedron of radius 0.5 under a node translated by (0, 0.25, 0)")


if __name__ == "__main__":
    main()
