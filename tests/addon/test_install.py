"""Install and enable the built zip in a temporary user folder; registration, poll, properties; unregister."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import check  # noqa: E402

import addon_utils  # noqa: E402
import bpy  # noqa: E402

prefs = common.install()
import meshgpt  # noqa: E402

check(addon_utils.check("meshgpt") == (True, True), "the add-on is enabled and loaded")
check(meshgpt.bl_info["blender"] <= bpy.app.version, "bl_info's minimum Blender version admits this Blender")
check(os.path.isfile(os.path.join(os.path.dirname(meshgpt.__file__), "lib", "libmeshgpt.so")),
      "libmeshgpt.so is bundled in the add-on")
check(os.path.isfile(os.path.join(os.path.dirname(meshgpt.__file__), "blender_manifest.toml")),
      "blender_manifest.toml is in the add-on")

# The bundled library loads and answers (the add-on finds it by absolute path).
from meshgpt import native, prefs as mprefs  # noqa: E402
lib = native.load(mprefs.library_path())
check(lib.version().decode().startswith("0.1."), "the bundled library loads (version %s)" % lib.version().decode())
check(os.path.isabs(mprefs.library_path()), "the library path is absolute")

# Operators, panels and properties are registered.
for name in ("meshgpt_generate", "meshgpt_complete", "meshgpt_tokenize", "meshgpt_decode", "meshgpt_reconstruct",
             "meshgpt_export_tokens", "meshgpt_cancel"):
    check(hasattr(bpy.types, "MESH_OT_" + name), "operator mesh.%s is registered" % name)
for name in ("VIEW3D_PT_meshgpt_generate", "VIEW3D_PT_meshgpt_tokens", "VIEW3D_PT_meshgpt_text"):
    cls = getattr(bpy.types, name, None)
    check(cls is not None and cls.bl_category == "MeshGPT" and cls.bl_region_type == "UI",
          "%s is in the sidebar's MeshGPT tab" % name)
s = bpy.context.scene.meshgpt
for prop in ("prompt", "guidance", "temperature", "top_k", "top_p", "seed", "random_seed", "max_faces", "samples",
             "shade_smooth", "merge_vertices", "at_cursor", "text_embedding"):
    check(hasattr(s, prop), "scene.meshgpt.%s exists" % prop)
s.seed = 42
s.prompt = "a chair"
check(s.seed == 42 and s.prompt == "a chair", "scene settings can be set")
devices = [item[0] for item in mprefs._devices(prefs, bpy.context)]
check(devices[0] == "auto" and devices[-1] == "cpu" and len(devices) >= 2,
      "the device list starts with automatic and ends with the CPU: %s" % devices)
prefs.device = "cpu"
check(prefs.device == "cpu", "the device can be chosen")
check(prefs.model_path == "" and mprefs.model_path().endswith(os.path.join("assets", "models",
                                                                          "meshgpt-default.safetensors")),
      "the model defaults to the shipped default model's place")
check(os.path.isfile(mprefs.model_path()), "the default model is bundled in the add-on: %s" % mprefs.model_path())
problems = mprefs.problems()
check(not any("default model" in p for p in problems), "nothing is said against the bundled model: %s" % problems)

# Poll: generate needs object mode and no running job; tokenize needs a selected mesh; cancel a running job.
check(bpy.ops.mesh.meshgpt_generate.poll(), "generate polls true in object mode")
check(not bpy.ops.mesh.meshgpt_cancel.poll(), "cancel polls false with nothing running")
for obj in list(bpy.data.objects):
    bpy.data.objects.remove(obj)
check(not bpy.ops.mesh.meshgpt_tokenize.poll(), "tokenize polls false without a selected mesh")
bpy.ops.mesh.primitive_cube_add()
check(bpy.ops.mesh.meshgpt_tokenize.poll(), "tokenize polls true with a selected mesh")
check(bpy.ops.mesh.meshgpt_complete.poll(), "complete polls true with an active mesh")
bpy.ops.object.mode_set(mode="EDIT")
check(not bpy.ops.mesh.meshgpt_generate.poll(), "generate polls false in edit mode")
bpy.ops.object.mode_set(mode="OBJECT")

# The panels draw without error (poll + draw through a fake layout is not possible headless; call draw's
# helpers on the real classes' poll at least).
check(all(getattr(bpy.types, n).poll(bpy.context) if hasattr(getattr(bpy.types, n), "poll") else True
          for n in ("VIEW3D_PT_meshgpt_generate", "VIEW3D_PT_meshgpt_tokens")), "the panels poll")

# Unregister cleanly: nothing left behind; enable again works.
bpy.ops.preferences.addon_disable(module="meshgpt")
check(addon_utils.check("meshgpt") == (False, False), "the add-on is disabled")
check(not hasattr(bpy.types.Scene, "meshgpt"), "scene.meshgpt is gone")
check(not hasattr(bpy.types, "MESH_OT_meshgpt_generate"), "the operators are gone")
check(not hasattr(bpy.types, "VIEW3D_PT_meshgpt_generate"), "the panels are gone")
bpy.ops.preferences.addon_enable(module="meshgpt")
check(hasattr(bpy.types, "MESH_OT_meshgpt_generate") and hasattr(bpy.context.scene, "meshgpt"),
      "enabling again registers everything")
bpy.ops.preferences.addon_disable(module="meshgpt")
common.done()
