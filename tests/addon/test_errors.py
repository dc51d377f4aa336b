"""Each failure shows its own clear message in the panel (scene.meshgpt.status), never a traceback."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import check  # noqa: E402

import bpy  # noqa: E402

prefs = common.install()
from meshgpt import engine, prefs as mprefs  # noqa: E402

s = common.use_fixture_model(prefs)
for obj in list(bpy.data.objects):
    bpy.data.objects.remove(obj)
bpy.ops.mesh.primitive_cube_add()
cube = bpy.context.active_object


def expect(op, fragment, what, **kwargs):
    s.status = ""
    result, error = common.run_op(op, **kwargs)
    check(result in (None, {"CANCELLED"}), "%s: the operator stops (%s)" % (what, result))
    check(fragment in s.status and s.status_is_error, "%s: the panel says \"%s\": %s" % (what, fragment, s.status))
    check("Traceback" not in s.status and "Traceback" not in error, "%s: no traceback" % what)
    check(set(o.name for o in bpy.data.objects) == {cube.name}, "%s: nothing was added" % what)


# Library missing (and a file that is not a library).
prefs.library_path = os.path.join(common.WORK, "no-such-libmeshgpt.so")
expect(bpy.ops.mesh.meshgpt_generate, "MeshGPT library not found", "library missing")
expect(bpy.ops.mesh.meshgpt_tokenize, "MeshGPT library not found", "library missing (tokenize)")
fake = os.path.join(common.WORK, "libfake.so")
with open(fake, "w") as f:
    f.write("not a library")
prefs.library_path = fake
expect(bpy.ops.mesh.meshgpt_generate, "not loadable", "a file that is no library")
prefs.library_path = ""

# Model missing: a wrong path, and the default model that is not shipped yet.
prefs.model_path = os.path.join(common.WORK, "missing.safetensors")
expect(bpy.ops.mesh.meshgpt_generate, "No model file at", "model missing")
expect(bpy.ops.mesh.meshgpt_decode, "No model file at", "model missing (decode)", filepath="x.json")
# The bundled default model gone (a broken install): pointed elsewhere for this check.
prefs.model_path = ""
shipped = mprefs.DEFAULT_MODEL
mprefs.DEFAULT_MODEL = os.path.join(common.WORK, "gone", "meshgpt-default.safetensors")
expect(bpy.ops.mesh.meshgpt_generate, "The default model is missing from the add-on", "default model missing")
mprefs.DEFAULT_MODEL = shipped
prefs.model_path = common.MODEL

# A prompt without a text encoder (a folder that does not exist).
s.text_embedding = ""
s.prompt = "a chair"
prefs.text_encoder_path = os.path.join(common.WORK, "no-bert")
expect(bpy.ops.mesh.meshgpt_generate, "No text encoder at", "text encoder missing")
prefs.text_encoder_path = ""
expect(bpy.ops.mesh.meshgpt_generate, "No text encoder at", "text encoder not set")
# An encoder whose width does not fit the model (bert-tiny: 32; the model wants 768): the library's message.
prefs.text_encoder_path = common.BERT_TINY
expect(bpy.ops.mesh.meshgpt_generate, "32 wide but the model's dim_text is 768", "encoder of the wrong width")
# No text at all for a text-conditioned model.
s.prompt = ""
expect(bpy.ops.mesh.meshgpt_generate, "conditioned on text: enter a prompt", "no text")
s.text_embedding = common.EMBEDDING

# Too many faces: a grid of 30 x 30 quads = 1800 triangles; the model takes 800.
bpy.ops.mesh.primitive_grid_add(x_subdivisions=30, y_subdivisions=30)
grid = bpy.context.active_object
cube.select_set(False)
s.status = ""
result, error = common.run_op(bpy.ops.mesh.meshgpt_tokenize)
check(result is None and "Grid has 1800 faces after triangulation; this model takes at most 800" in s.status,
      "too many faces: the count and the limit are said: %s" % s.status)
check("meshgpt_tokens" not in grid, "nothing is stored on the grid")
result, error = common.run_op(bpy.ops.mesh.meshgpt_complete)
check(result is None and "at most 800" in s.status, "complete says the same: %s" % s.status)
bpy.data.objects.remove(grid)
bpy.context.view_layer.objects.active = cube
cube.select_set(True)

# A model without text conditioning, given text: made from the fixture with the CLI (condition_on_text false).
with open(os.path.join(common.FIXTURE, "config.json")) as f:
    config = json.load(f)
config["transformer_kwargs"]["condition_on_text"] = False
plain_config = os.path.join(common.WORK, "plain.json")
with open(plain_config, "w") as f:
    json.dump({"autoencoder_kwargs": config["autoencoder_kwargs"],
               "transformer_kwargs": config["transformer_kwargs"]}, f)
plain = os.path.join(common.WORK, "plain.safetensors")
subprocess.run([common.CLI, "convert", common.MODEL, "--config", plain_config, "--allow-missing", "-o", plain],
               check=True, capture_output=True)
prefs.model_path = plain
expect(bpy.ops.mesh.meshgpt_generate, "not conditioned on text", "model without text conditioning (embedding)")
s.text_embedding = ""
s.prompt = "a chair"
expect(bpy.ops.mesh.meshgpt_generate, "not conditioned on text", "model without text conditioning (prompt)")
s.prompt = ""
result, error = common.run_op(bpy.ops.mesh.meshgpt_generate, max_faces=2)
check(result == {"FINISHED"}, "without text the unconditioned model generates (%s %s)" % (result, s.status))
for obj in list(bpy.data.objects):
    if obj != cube:
        bpy.data.objects.remove(obj)
prefs.model_path = common.MODEL
s.text_embedding = common.EMBEDDING

# No such device: the library's reason and what to do.
try:
    engine.Session(engine.Settings(mprefs.library_path(), common.MODEL, "", "no-such-gpu"))
    check(False, "an unknown device is refused")
except engine.MeshGPTError as e:
    check(str(e).startswith('No usable device "no-such-gpu"') and "Preferences" in str(e),
          "no device: %s" % e)

# Tokens of another shape, a broken tokens file, and decode without tokens.
bad = os.path.join(common.WORK, "bad.json")
with open(bad, "w") as f:
    f.write("{not json")
expect(bpy.ops.mesh.meshgpt_decode, "bad.json", "a broken tokens file", filepath=bad)
expect(bpy.ops.mesh.meshgpt_decode, "no MeshGPT tokens", "decode without tokens", source="OBJECT")
# Generation beyond the model's position table: the library's message.
expect(bpy.ops.mesh.meshgpt_generate, "position table", "too many faces asked", max_faces=500)
common.done()
