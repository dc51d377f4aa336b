"""Tokenize a cube with a Bevel modifier: the tokens equal the CLI's for the same evaluated mesh exported to OBJ
by Blender's own exporter, and the object is unchanged. Export, decode and reconstruct."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import check  # noqa: E402

import bpy  # noqa: E402

prefs = common.install()
s = common.use_fixture_model(prefs)
for obj in list(bpy.data.objects):
    bpy.data.objects.remove(obj)

bpy.ops.mesh.primitive_cube_add(location=(0.5, 0, 0))
cube = bpy.context.active_object
cube.modifiers.new("Bevel", "BEVEL").width = 0.2
before = ([tuple(v.co) for v in cube.data.vertices], [tuple(p.vertices) for p in cube.data.polygons],
          [m.name for m in cube.modifiers], tuple(cube.location))

# The evaluated mesh (modifiers applied) exported by Blender's OBJ exporter, tokenized by the CLI.
exported = os.path.join(common.WORK, "bevel_cube.obj")
bpy.ops.wm.obj_export(filepath=exported, export_selected_objects=True, apply_modifiers=True, export_uv=False,
                      export_normals=False, export_materials=False, forward_axis="Y", up_axis="Z")
cli_tokens_path = os.path.join(common.WORK, "bevel_cube.tokens.json")
common.cli("tokenize", exported, "-m", common.MODEL, "-d", "cpu", "-o", cli_tokens_path)
cli_tokens, face_size, levels = common.read_token_json(cli_tokens_path)
check(len(cli_tokens) == 44 * 3 * 2, "the CLI tokenized the 44 triangles of the bevelled cube (%d tokens)" %
      len(cli_tokens))

exported_by_addon = os.path.join(common.WORK, "addon.tokens.json")
result, error = common.run_op(bpy.ops.mesh.meshgpt_tokenize, filepath=exported_by_addon)
check(result == {"FINISHED"}, "tokenize finished (%s %s)" % (result, error))
check(list(cube["meshgpt_tokens"]) == cli_tokens, "the stored tokens equal the CLI's for the evaluated mesh")
check(list(cube["meshgpt_token_shape"]) == [face_size, levels], "the stored shape is [3, 2]")
check(common.read_token_json(exported_by_addon)[0] == cli_tokens, "the exported JSON holds the same tokens")
check("44 faces, 264 tokens" in s.status, "the panel shows the count: %s" % s.status)
after = ([tuple(v.co) for v in cube.data.vertices], [tuple(p.vertices) for p in cube.data.polygons],
         [m.name for m in cube.modifiers], tuple(cube.location))
check(after == before, "the original object is unchanged (mesh, modifiers, place)")
check(len(cube.data.polygons) == 6, "the cube's own mesh still has its 6 quads (the modifier was not applied)")

# Rotation and scale are part of what is tokenized: the object as seen. A uniform scale changes nothing
# (the model normalizes size), which checks the transform path without changing the expected tokens.
cube.scale = (3.0, 3.0, 3.0)
bpy.context.view_layer.update()
common.run_op(bpy.ops.mesh.meshgpt_tokenize)
check(list(cube["meshgpt_tokens"]) == cli_tokens, "a uniform scale leaves the tokens alone")
cube.scale = (1.0, 1.0, 1.0)

# Decode the stored tokens: a new object; the same as the CLI's decode of the same tokens.
result, error = common.run_op(bpy.ops.mesh.meshgpt_decode, source="OBJECT")
decoded = bpy.context.active_object
check(result == {"FINISHED"} and decoded != cube and decoded.name.endswith("decoded"),
      "decode made a new object (%s %s)" % (result, error))
cli_decoded = os.path.join(common.WORK, "decoded.obj")
common.cli("decode", cli_tokens_path, "-m", common.MODEL, "-d", "cpu", "-o", cli_decoded)
ref_v, ref_f = common.read_obj(cli_decoded)
v, f = common.object_geometry(decoded)
check(v == ref_v and f == [x for x in ref_f if len(set(x)) == 3], "decoded geometry equals the CLI's decode")
# Decode from the file.
bpy.ops.object.select_all(action="DESELECT")
result, error = common.run_op(bpy.ops.mesh.meshgpt_decode, filepath=cli_tokens_path)
check(result == {"FINISHED"} and common.object_geometry(bpy.context.active_object) == (v, f),
      "decoding the file gives the same object")

# Reconstruct: a new object beside the original and the error shown.
bpy.context.view_layer.objects.active = cube
cube.select_set(True)
result, error = common.run_op(bpy.ops.mesh.meshgpt_reconstruct)
rec = bpy.context.view_layer.objects.get("Cube reconstructed") or bpy.data.objects.get("Cube reconstructed")
check(result == {"FINISHED"} and rec is not None, "reconstruct made 'Cube reconstructed' (%s %s)" % (result, error))
check(rec is not None and rec.location.x > cube.location.x + 1.0, "it sits beside the original")
check("Reconstruction error" in s.status and "mean" in s.status, "the error is shown: %s" % s.status)
err = rec["meshgpt_reconstruction_error"] if rec else [float("nan")] * 2
check(0.0 < err[0] <= err[1] < 4.0, "mean and max corner error are plausible: %s" % list(err))
common.done()
