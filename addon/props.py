"""The panel's settings: context.scene.meshgpt (the scripting interface reads them too)."""

import bpy


class MeshGPTSceneSettings(bpy.types.PropertyGroup):
    prompt: bpy.props.StringProperty(name="Prompt", default="", description="What to generate, in words")
    text_embedding: bpy.props.StringProperty(
        name="Text embedding", subtype="FILE_PATH", default="",
        description="Optional: a precomputed text embedding (.npy, float32 [tokens, dim_text]) used instead of "
                    "the prompt")
    model_sampling: bpy.props.BoolProperty(
        name="Model's sampling", default=True,
        description="Sample as the model file recommends (its temperature, guidance, top-k, top-p; the library's "
                    "defaults where it says nothing); off: the values below")
    guidance: bpy.props.FloatProperty(name="Guidance", default=1.0, min=0.0, soft_max=10.0,
                                      description="Classifier-free guidance scale (1 = off)")
    temperature: bpy.props.FloatProperty(name="Temperature", default=1.0, min=0.0, soft_max=2.0,
                                         description="Sampling temperature (0 = always the most likely token)")
    top_k: bpy.props.IntProperty(name="Top-k", default=0, min=0,
                                 description="Keep the k most likely tokens (0: a tenth of the vocabulary)")
    top_p: bpy.props.FloatProperty(name="Top-p", default=0.0, min=0.0, max=1.0,
                                   description="Nucleus sampling (0 = off)")
    seed: bpy.props.IntProperty(name="Seed", default=0, min=0)
    random_seed: bpy.props.BoolProperty(name="Random", default=False, description="A new seed every run")
    max_faces: bpy.props.IntProperty(name="Max faces", default=0, min=0,
                                     description="Stop after this many faces (0: as many as the model allows)")
    samples: bpy.props.IntProperty(name="Samples", default=1, min=1, soft_max=8,
                                   description="Meshes generated together, placed side by side")
    shade_smooth: bpy.props.BoolProperty(name="Smooth", default=False, description="Shade the result smooth")
    merge_vertices: bpy.props.BoolProperty(name="Merge vertices", default=True,
                                           description="Merge face corners at the same position into one vertex")
    at_cursor: bpy.props.BoolProperty(name="At 3D cursor", default=True, description="Place the result at the 3D cursor")
    tokens_path: bpy.props.StringProperty(name="Tokens file", subtype="FILE_PATH", default="",
                                          description="A MeshGPT tokens JSON file to decode or export to")

    # What the panel shows (written by the operators on the main thread).
    status: bpy.props.StringProperty(name="Status", default="", options={"SKIP_SAVE"})
    status_is_error: bpy.props.BoolProperty(default=False, options={"SKIP_SAVE"})
    progress: bpy.props.FloatProperty(name="Progress", default=0.0, min=0.0, max=100.0, subtype="PERCENTAGE",
                                      options={"SKIP_SAVE"})
    running: bpy.props.BoolProperty(default=False, options={"SKIP_SAVE"})


def set_status(context, text, error=False):
    s = context.scene.meshgpt
    s.status = text
    s.status_is_error = error
