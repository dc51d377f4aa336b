"""Blender meshes <-> flat buffers, with foreach_get/foreach_set only (no per-element Python loops)."""

import array

import bpy

from . import engine


def drop_degenerate(data):
    """The faces whose corners are distinct vertices (Blender refuses a face that repeats a vertex)."""
    fs, f = data.face_size, data.faces
    keep = array.array("i")
    for i in range(0, len(f), fs):
        face = f[i:i + fs]
        if len(set(face)) == fs:
            keep.extend(face)
    return engine.MeshData(data.vertices, keep, fs)


def fill_mesh(mesh, data, smooth=False):
    """Replaces the geometry of `mesh` with `data` in one go (called once per timer tick while streaming)."""
    data = drop_degenerate(data)
    fs, nv, nf = data.face_size, data.num_vertices, data.num_faces
    mesh.clear_geometry()
    mesh.vertices.add(nv)
    mesh.vertices.foreach_set("co", data.vertices)
    mesh.loops.add(nf * fs)
    mesh.loops.foreach_set("vertex_index", data.faces)
    mesh.polygons.add(nf)
    mesh.polygons.foreach_set("loop_start", array.array("i", range(0, nf * fs, fs)))
    try:
        mesh.polygons.foreach_set("loop_total", array.array("i", [fs]) * nf)
    except (AttributeError, TypeError, RuntimeError):
        pass  # Blender 4.x derives it from loop_start
    if smooth:
        mesh.polygons.foreach_set("use_smooth", array.array("b", [1]) * nf)
    mesh.update(calc_edges=True)
    return mesh


def new_object(context, name, data, location=(0.0, 0.0, 0.0), smooth=False):
    mesh = fill_mesh(bpy.data.meshes.new(name), data, smooth)
    obj = bpy.data.objects.new(name, mesh)
    obj.location = location
    context.collection.objects.link(obj)
    return obj


def evaluated_mesh(context, obj, face_size, max_faces):
    """MeshData of the object as the viewport shows it (modifiers applied), the object untouched.

    Coordinates are the object's, with its rotation and scale applied (the model normalizes position and
    size anyway). Triangle models get Blender's own triangulation (loop triangles); quad models need quads.
    """
    depsgraph = context.evaluated_depsgraph_get()
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    try:
        if face_size == 3:
            mesh.calc_loop_triangles()
            nf = len(mesh.loop_triangles)
            if nf > max_faces:
                raise engine.MeshGPTError(engine.MSG_TOO_MANY_FACES % (obj.name, nf, max_faces))
            faces = array.array("i", [0]) * (nf * 3)
            mesh.loop_triangles.foreach_get("vertices", faces)
        else:
            nf = len(mesh.polygons)
            sizes = array.array("i", [0]) * nf
            mesh.polygons.foreach_get("loop_total", sizes)
            if any(s != 4 for s in sizes):
                raise engine.MeshGPTError("%s has faces that are not quads; this model works with quads only."
                                          % obj.name)
            if nf > max_faces:
                raise engine.MeshGPTError(engine.MSG_TOO_MANY_FACES % (obj.name, nf, max_faces))
            faces = array.array("i", [0]) * (nf * 4)
            mesh.polygons.foreach_get("vertices", faces)
        if nf == 0:
            raise engine.MeshGPTError("%s has no faces to tokenize." % obj.name)
        vertices = array.array("f", [0.0]) * (len(mesh.vertices) * 3)
        mesh.vertices.foreach_get("co", vertices)
    finally:
        evaluated.to_mesh_clear()
    m = obj.matrix_world.to_3x3()
    if m != m.Identity(3):
        rows = [tuple(m[r]) for r in range(3)]
        v = vertices
        out = array.array("f", [0.0]) * len(v)
        for i in range(0, len(v), 3):
            x, y, z = v[i], v[i + 1], v[i + 2]
            for r in range(3):
                a, b, c = rows[r]
                out[i + r] = a * x + b * y + c * z
        vertices = out
    return engine.MeshData(vertices, faces, face_size)
