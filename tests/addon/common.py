"""Shared by the headless add-on tests (run inside Blender:
blender -b --factory-startup --python-exit-code 1 --python tests/addon/test_X.py -- ZIP SOURCE_DIR CLI WORK_DIR).

Each test installs the built zip into its own user folder (BLENDER_USER_SCRIPTS / BLENDER_USER_CONFIG, set by
ctest), so nothing touches the real user's Blender. A failed check raises, which makes Blender exit with 1.
"""

import os
import struct
import subprocess
import sys

import bpy

argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else []
ZIP, SOURCE, CLI, WORK = argv[:4]
FIXTURE = os.path.join(SOURCE, "tests", "fixtures", "meshgpt-pytorch-a")
MODEL = os.path.join(FIXTURE, "model.safetensors")
EMBEDDING = os.path.join(FIXTURE, "cases", "text_embeds.npy")
BERT_TINY = os.path.join(SOURCE, "tests", "fixtures", "bert-tiny")
os.makedirs(WORK, exist_ok=True)

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message)
    else:
        print("ok:", message)


def done():
    if failures:
        raise SystemExit("%d check(s) failed:\n  %s" % (len(failures), "\n  ".join(failures)))
    print("all checks passed")


def install():
    """Installs and enables the zip in the temporary user folder; returns the add-on's preferences."""
    user_scripts = os.environ.get("BLENDER_USER_SCRIPTS", "")
    if not user_scripts:
        raise SystemExit("BLENDER_USER_SCRIPTS must point at a temporary folder (ctest sets it)")
    import shutil
    shutil.rmtree(os.path.join(user_scripts, "addons", "meshgpt"), ignore_errors=True)  # a fresh install each run
    bpy.ops.preferences.addon_install(filepath=ZIP, overwrite=True)
    bpy.ops.preferences.addon_enable(module="meshgpt")
    import meshgpt
    if not os.path.realpath(meshgpt.__file__).startswith(os.path.realpath(user_scripts)):
        raise SystemExit("the add-on was not installed into %s but at %s" % (user_scripts, meshgpt.__file__))
    prefs = bpy.context.preferences.addons["meshgpt"].preferences
    return prefs


def use_fixture_model(prefs, device="cpu"):
    prefs.model_path = MODEL
    prefs.device = device
    s = bpy.context.scene.meshgpt
    s.text_embedding = EMBEDDING
    s.prompt = ""
    return s


def run_op(op, **kwargs):
    """Runs an operator; returns (result set or None, the RuntimeError text when it reported an error)."""
    try:
        return op(**kwargs), ""
    except RuntimeError as e:
        return None, str(e)


def cli(*args):
    result = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit("meshgpt %s failed (%d): %s" % (" ".join(map(str, args)), result.returncode,
                                                        result.stderr))
    return result.stdout


def f32(x):
    return struct.unpack("f", struct.pack("f", float(x)))[0]


def read_obj(path):
    """(vertices [(x, y, z)], faces [(i, j, k)]) of an OBJ file written by the CLI (0-based indices)."""
    vertices, faces = [], []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            if parts[0] == "v":
                vertices.append(tuple(f32(v) for v in parts[1:4]))
            elif parts[0] == "f":
                faces.append(tuple(int(p.split("/")[0]) - 1 for p in parts[1:]))
    return vertices, faces


def object_geometry(obj):
    me = obj.data
    vertices = [tuple(f32(c) for c in v.co) for v in me.vertices]
    faces = [tuple(p.vertices) for p in me.polygons]
    return vertices, faces


def read_token_json(path):
    import json
    with open(path) as f:
        d = json.load(f)
    return d["tokens"], d["face_size"], d["levels"]


def write_tiny_bert(folder, width):
    """A Hugging Face BERT folder with random weights and no layers (config.json, vocab.txt, model.safetensors)."""
    import json
    import random
    import struct
    os.makedirs(folder, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "chair", "table"]
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump({"model_type": "bert", "hidden_size": width, "num_hidden_layers": 0, "num_attention_heads": 8,
                   "intermediate_size": 16, "vocab_size": len(vocab), "max_position_embeddings": 16,
                   "type_vocab_size": 2, "hidden_act": "gelu"}, f)
    with open(os.path.join(folder, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    shapes = {"embeddings.word_embeddings.weight": (len(vocab), width),
              "embeddings.position_embeddings.weight": (16, width),
              "embeddings.token_type_embeddings.weight": (2, width),
              "embeddings.LayerNorm.weight": (width,), "embeddings.LayerNorm.bias": (width,)}
    rng = random.Random(7)
    header, data = {}, b""
    for name, shape in shapes.items():
        count = 1
        for d in shape:
            count *= d
        base = 1.0 if name.endswith("LayerNorm.weight") else 0.0
        blob = struct.pack("<%df" % count, *[base + rng.uniform(-0.5, 0.5) for _ in range(count)])
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    return folder
