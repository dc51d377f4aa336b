"""MeshGPT for Blender: generate meshes from a prompt in the 3D viewport and tokenize objects, with
libmeshgpt (Vulkan compute, or its CPU reference) loaded through ctypes.

Scripting interface: bpy.ops.mesh.meshgpt_generate / meshgpt_complete / meshgpt_tokenize / meshgpt_decode
(also meshgpt_reconstruct, meshgpt_export_tokens, meshgpt_cancel); their settings are in
context.scene.meshgpt, and keyword arguments override them. In background mode (blender -b) every
operator runs blocking.
"""

bl_info = {
    "name": "MeshGPT",
    "author": "meshgpt project",
    "version": (0, 1, 0),
    "blender": (3, 4, 0),
    "location": "View3D > Sidebar > MeshGPT",
    "description": "Generate meshes from text with MeshGPT; tokenize, reconstruct and decode meshes",
    "category": "Mesh",
}

import bpy

from . import engine, jobs, ops_generate, ops_tokens, panels, prefs, props

_classes = ((prefs.MeshGPTPreferences, props.MeshGPTSceneSettings) + ops_generate.classes + ops_tokens.classes +
            panels.classes)


def register():
    for cls in _classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.meshgpt = bpy.props.PointerProperty(type=props.MeshGPTSceneSettings)


def unregister():
    job = jobs.current()
    if job is not None:
        job.cancel()
        job.finish()
    engine.release()
    del bpy.types.Scene.meshgpt
    for cls in reversed(_classes):
        bpy.utils.unregister_class(cls)
