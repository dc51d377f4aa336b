"""The "MeshGPT" tab of the 3D viewport's sidebar."""

import bpy

from . import jobs, prefs
from .ops_generate import stored_tokens


class _Panel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "MeshGPT"


def _status(layout, context):
    s = context.scene.meshgpt
    for problem in prefs.problems(context):
        _wrapped(layout.box(), problem, "ERROR")
    job = jobs.current()
    if job is not None:
        box = layout.box()
        limit = job.request.get("max_faces") or 0
        text = "%d faces%s, %.1f tokens/s" % (job.faces, " of %d" % limit if limit else "", job.tokens_per_second())
        if hasattr(box, "progress"):  # Blender 4.0+
            box.progress(factor=(job.faces / limit) if limit else 0.0, type="BAR", text=text)
        else:
            row = box.row()
            row.enabled = False
            row.prop(s, "progress", text=text, slider=True)
        box.operator("mesh.meshgpt_cancel", icon="CANCEL")
    if s.status:
        _wrapped(layout, s.status, "ERROR" if s.status_is_error else "INFO")


def _wrapped(layout, text, icon, width=42):
    """A long message over several labels (a label does not wrap)."""
    col = layout.column(align=True)
    words, line, first = text.split(), "", True
    for word in words:
        if line and len(line) + len(word) + 1 > width:
            col.label(text=line, icon=icon if first else "BLANK1")
            line, first = word, False
        else:
            line = (line + " " + word) if line else word
    if line:
        col.label(text=line, icon=icon if first else "BLANK1")


class VIEW3D_PT_meshgpt_generate(_Panel, bpy.types.Panel):
    bl_label = "Generate"

    def draw(self, context):
        layout = self.layout
        s = context.scene.meshgpt
        layout.prop(s, "prompt", text="")
        layout.prop(s, "model_sampling")
        col = layout.column(align=True)
        col.enabled = not s.model_sampling
        col.prop(s, "guidance")
        col.prop(s, "temperature")
        row = col.row(align=True)
        row.prop(s, "top_k")
        row.prop(s, "top_p")
        row = layout.row(align=True)
        sub = row.row(align=True)
        sub.enabled = not s.random_seed
        sub.prop(s, "seed")
        row.prop(s, "random_seed", toggle=True, icon="FILE_REFRESH", text="")
        col = layout.column(align=True)
        col.prop(s, "max_faces")
        col.prop(s, "samples")
        row = layout.row(align=True)
        row.prop(s, "shade_smooth", toggle=True)
        row.prop(s, "merge_vertices", toggle=True)
        layout.prop(s, "at_cursor")
        if jobs.current() is None:
            row = layout.row(align=True)
            row.scale_y = 1.4
            row.operator("mesh.meshgpt_generate", icon="PLAY")
            row.operator("mesh.meshgpt_complete", icon="FORWARD")
        _status(layout, context)


class VIEW3D_PT_meshgpt_text(_Panel, bpy.types.Panel):
    bl_label = "Text Embedding"
    bl_parent_id = "VIEW3D_PT_meshgpt_generate"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        self.layout.prop(context.scene.meshgpt, "text_embedding", text="")


class VIEW3D_PT_meshgpt_tokens(_Panel, bpy.types.Panel):
    bl_label = "Tokens"

    def draw(self, context):
        layout = self.layout
        s = context.scene.meshgpt
        row = layout.row(align=True)
        row.operator("mesh.meshgpt_tokenize", icon="LINENUMBERS_ON")
        row.operator("mesh.meshgpt_reconstruct", icon="MOD_REMESH")
        tokens = stored_tokens(context.active_object)
        if tokens is not None:
            layout.label(text="%s: %d faces, %d tokens" % (context.active_object.name, tokens.num_faces,
                                                           len(tokens.tokens)), icon="OBJECT_DATA")
            error = context.active_object.get("meshgpt_reconstruction_error")
            if error is not None:
                layout.label(text="Reconstruction error: mean %.4f, max %.4f" % tuple(error))
            layout.operator("mesh.meshgpt_export_tokens", icon="EXPORT")
        layout.separator()
        layout.prop(s, "tokens_path", text="")
        layout.operator("mesh.meshgpt_decode", icon="IMPORT")


classes = (VIEW3D_PT_meshgpt_generate, VIEW3D_PT_meshgpt_text, VIEW3D_PT_meshgpt_tokens)
