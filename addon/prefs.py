"""Add-on preferences: library, model, text encoder, device."""

import os

import bpy

from . import engine, native

ADDON_DIR = os.path.dirname(os.path.abspath(__file__))
# The native library bundled in the add-on zip (Linux x86-64), found by absolute path.
BUNDLED_LIBRARY = os.path.join(ADDON_DIR, "lib", "libmeshgpt.so")
# Where the shipped default model will live once the project ships one (not yet: the panel says so).
DEFAULT_MODEL = os.path.join(ADDON_DIR, "assets", "models", "meshgpt-default.safetensors")

_device_items = []  # Blender keeps pointers into enum items: hold them for the process


def _devices(self, context):
    global _device_items
    if _device_items:
        return _device_items
    items = [("auto", "Automatic", "The best usable device: discrete GPU > integrated > Vulkan on the CPU > CPU")]
    try:
        for index, name, kind, usable, preferred in native.load(library_path()).devices():
            if kind == native.MG_DEVICE_CPU_REFERENCE:
                continue
            items.append((str(index), name, "Vulkan device %d%s" % (index, "" if usable else " (not usable)")))
    except Exception:
        pass  # no library: the panel says so; the list keeps what always exists
    items.append(("cpu", "CPU", "The library's plain-C reference backend (slow, no Vulkan needed)"))
    _device_items = items
    return _device_items


def _changed(self, context):
    engine.release()  # the next operation loads the library objects again with the new settings


class MeshGPTPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    library_path: bpy.props.StringProperty(
        name="Library", subtype="FILE_PATH", default="", update=_changed,
        description="libmeshgpt.so to use; empty: the one bundled with the add-on")
    model_path: bpy.props.StringProperty(
        name="Model", subtype="FILE_PATH", default="", update=_changed,
        description="A MeshGPT model (.safetensors) or meshgpt-pytorch checkpoint; empty: the shipped default model")
    text_encoder_path: bpy.props.StringProperty(
        name="Text encoder", subtype="DIR_PATH", default="", update=_changed,
        description="Hugging Face BERT folder (config.json, vocab.txt, model.safetensors) for prompts")
    device: bpy.props.EnumProperty(name="Device", items=_devices, update=_changed,
                                   description="Where the model runs")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "library_path")
        if not self.library_path and not os.path.isfile(BUNDLED_LIBRARY):
            layout.label(text="No library bundled at %s" % BUNDLED_LIBRARY, icon="ERROR")
        layout.prop(self, "model_path")
        if not self.model_path and not os.path.isfile(DEFAULT_MODEL):
            layout.label(text="The default model is missing from the add-on: reinstall it or choose a model file.",
                         icon="ERROR")
        layout.prop(self, "text_encoder_path")
        layout.prop(self, "device")


def preferences(context=None):
    context = context or bpy.context
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon else None


def library_path(context=None):
    p = preferences(context)
    return bpy.path.abspath(p.library_path) if p and p.library_path else BUNDLED_LIBRARY


def model_path(context=None):
    p = preferences(context)
    return bpy.path.abspath(p.model_path) if p and p.model_path else DEFAULT_MODEL


def settings(context=None):
    p = preferences(context)
    device = "auto"
    if p is not None:
        try:
            device = p.device
        except Exception:
            device = "auto"
    return engine.Settings(library_path(context), model_path(context),
                           bpy.path.abspath(p.text_encoder_path) if p and p.text_encoder_path else "", device)


def problems(context=None):
    """What is missing before anything can run, as panel messages (empty when all is there)."""
    out = []
    lib = library_path(context)
    if not os.path.isfile(lib):
        out.append(engine.MSG_LIBRARY % ("no file at %s" % lib))
    model = model_path(context)
    if not os.path.isfile(model):
        if model == DEFAULT_MODEL:
            out.append("The default model is missing from the add-on (expected at %s): reinstall the add-on, or "
                       "choose a model file in Preferences > Add-ons > MeshGPT." % DEFAULT_MODEL)
        else:
            out.append(engine.MSG_MODEL_MISSING % model)
    return out
