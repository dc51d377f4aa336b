"""mesh.meshgpt_tokenize / meshgpt_reconstruct / meshgpt_decode / meshgpt_export_tokens (main thread:
tokenizing and decoding one mesh takes milliseconds)."""

import os

import bpy
from bpy_extras.io_utils import ExportHelper

from . import engine, meshio, prefs, props
from .ops_generate import SPACING, store_tokens, stored_tokens


def _session(context):
    for problem in prefs.problems(context):
        raise engine.MeshGPTError(problem)
    return engine.session(prefs.settings(context))


def _fail(op, context, error):
    props.set_status(context, str(error), error=True)
    op.report({"ERROR"}, str(error))
    return {"CANCELLED"}


def _beside(obj):
    return (obj.location.x + max(obj.dimensions.x, 2.0) / 2 + SPACING / 2, obj.location.y, obj.location.z)


def _mesh_objects(context):
    return [o for o in context.selected_objects if o.type == "MESH"]


class MESH_OT_meshgpt_tokenize(bpy.types.Operator):
    """Tokenize the selected objects as the viewport shows them (modifiers applied; the objects are not changed).
The tokens are stored on each object"""
    bl_idname = "mesh.meshgpt_tokenize"
    bl_label = "Tokenize"
    bl_options = {"REGISTER", "UNDO"}

    filepath: bpy.props.StringProperty(name="Export to", subtype="FILE_PATH", options={"SKIP_SAVE"},
                                       description="Also write the (active object's) tokens to this JSON file")

    @classmethod
    def poll(cls, context):
        return context.mode == "OBJECT" and bool(_mesh_objects(context))

    def execute(self, context):
        try:
            session = _session(context)
            lines = []
            objects = _mesh_objects(context)
            results = []
            for obj in objects:  # all read and checked before any object is changed
                data = meshio.evaluated_mesh(context, obj, session.face_size, session.max_faces)
                tokens, _ = session.tokenize(data, obj.name)
                results.append((obj, tokens))
            for obj, tokens in results:
                store_tokens(obj, tokens)
                lines.append("%s: %d faces, %d tokens" % (obj.name, tokens.num_faces, len(tokens.tokens)))
            if self.filepath:
                active = context.active_object if context.active_object in objects else objects[0]
                session.write_tokens(bpy.path.abspath(self.filepath), stored_tokens(active))
                lines.append("written to %s" % self.filepath)
        except engine.MeshGPTError as e:
            return _fail(self, context, e)
        props.set_status(context, "; ".join(lines))
        return {"FINISHED"}


class MESH_OT_meshgpt_reconstruct(bpy.types.Operator):
    """Tokenize the active object and decode the tokens into a new object beside it, with the reconstruction
error"""
    bl_idname = "mesh.meshgpt_reconstruct"
    bl_label = "Reconstruct"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        return context.mode == "OBJECT" and obj is not None and obj.type == "MESH"

    def execute(self, context):
        obj = context.active_object
        try:
            session = _session(context)
            data = meshio.evaluated_mesh(context, obj, session.face_size, session.max_faces)
            tokens, (mean, worst) = session.tokenize(data, obj.name, with_error=True)
            decoded = session.decode(tokens)
        except engine.MeshGPTError as e:
            return _fail(self, context, e)
        store_tokens(obj, tokens)
        new = meshio.new_object(context, obj.name + " reconstructed", decoded, _beside(obj))
        store_tokens(new, tokens)
        new["meshgpt_reconstruction_error"] = [mean, worst]
        props.set_status(context, "Reconstruction error (model units, range 2): mean %.4f, max %.4f" % (mean, worst))
        return {"FINISHED"}


class MESH_OT_meshgpt_decode(bpy.types.Operator):
    """Turn MeshGPT tokens (a tokens JSON file, or the tokens stored on the active object) into a new object"""
    bl_idname = "mesh.meshgpt_decode"
    bl_label = "Decode"
    bl_options = {"REGISTER", "UNDO"}

    source: bpy.props.EnumProperty(name="Source", items=[
        ("AUTO", "Automatic", "The file when one is given, else the active object's tokens"),
        ("FILE", "File", "A tokens JSON file"),
        ("OBJECT", "Object", "The tokens stored on the active object")], default="AUTO", options={"SKIP_SAVE"})
    filepath: bpy.props.StringProperty(name="Tokens file", subtype="FILE_PATH", options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context):
        return context.mode == "OBJECT"

    def execute(self, context):
        path = self.filepath or context.scene.meshgpt.tokens_path
        source = self.source
        if source == "AUTO":
            source = "FILE" if path else "OBJECT"
        try:
            session = _session(context)
            if source == "FILE":
                if not path:
                    raise engine.MeshGPTError("Choose a tokens file to decode.")
                tokens = session.read_tokens(bpy.path.abspath(path))
                name = os.path.splitext(os.path.basename(path))[0]
                location = tuple(context.scene.cursor.location)
            else:
                obj = context.active_object
                tokens = stored_tokens(obj)
                if tokens is None:
                    raise engine.MeshGPTError("The active object has no MeshGPT tokens: tokenize it first, or "
                                              "choose a tokens file.")
                name = obj.name + " decoded"
                location = _beside(obj)
            mesh = session.decode(tokens, weld=context.scene.meshgpt.merge_vertices)
        except engine.MeshGPTError as e:
            return _fail(self, context, e)
        if mesh.num_faces == 0:
            return _fail(self, context, engine.MeshGPTError("The tokens hold no complete face."))
        new = meshio.new_object(context, name, mesh, location)
        store_tokens(new, tokens)
        for o in context.selected_objects:
            o.select_set(False)
        new.select_set(True)
        context.view_layer.objects.active = new
        props.set_status(context, "Decoded %d faces into %s" % (mesh.num_faces, new.name))
        return {"FINISHED"}


class MESH_OT_meshgpt_export_tokens(bpy.types.Operator, ExportHelper):
    """Write the active object's MeshGPT tokens to a JSON file"""
    bl_idname = "mesh.meshgpt_export_tokens"
    bl_label = "Export Tokens"
    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})

    @classmethod
    def poll(cls, context):
        return stored_tokens(context.active_object) is not None

    def execute(self, context):
        try:
            _session(context).write_tokens(self.filepath, stored_tokens(context.active_object))
        except engine.MeshGPTError as e:
            return _fail(self, context, e)
        props.set_status(context, "Tokens written to %s" % self.filepath)
        return {"FINISHED"}


classes = (MESH_OT_meshgpt_tokenize, MESH_OT_meshgpt_reconstruct, MESH_OT_meshgpt_decode,
           MESH_OT_meshgpt_export_tokens)
