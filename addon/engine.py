"""What the add-on asks of libmeshgpt, in plain Python (no bpy).

A Session owns one library context, the loaded model and text encoder, and
keeps them between operator runs (loading is the slow part). Everything here
may run on the worker thread; results come back as `array` buffers that the
main thread hands to `foreach_set`. Failures raise MeshGPTError with a message
meant for the panel: what is wrong and what to do.
"""

import array
import ctypes
import json
import math
import os
import struct
import threading
import time

from . import native, stream


class MeshGPTError(Exception):
    """A failure to show in the panel (never a traceback)."""


class Cancelled(MeshGPTError):
    pass


# The panel's messages, one place so that tests can look for them.
MSG_LIBRARY = "MeshGPT library not found or not loadable: %s. Set its path in Preferences > Add-ons > MeshGPT."
MSG_MODEL_MISSING = ("No model file at %s. Choose a .safetensors model (or a meshgpt-pytorch checkpoint) in "
                     "Preferences > Add-ons > MeshGPT.")
MSG_ENCODER_MISSING = ("No text encoder at %s: prompts need a BERT folder (config.json, vocab.txt, "
                       "model.safetensors). Set it in Preferences > Add-ons > MeshGPT, or give a text embedding.")
MSG_NO_TEXT = ("This model is not conditioned on text: clear the prompt (and the text embedding) to generate "
               "without one.")
MSG_NEEDS_TEXT = "This model is conditioned on text: enter a prompt (with a text encoder) or give a text embedding."
MSG_NO_TRANSFORMER = "This model has no MeshTransformer: it can tokenize and decode meshes but not generate them."
MSG_TOO_MANY_FACES = "%s has %d faces after triangulation; this model takes at most %d. Decimate it first."
MSG_NO_DEVICE = "No usable device \"%s\": %s. Choose another device (or \"CPU\") in Preferences > Add-ons > MeshGPT."


def _text(value):
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def read_npy_f32(path):
    """(values, shape) of a little-endian float32 .npy file (C order), without numpy."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise MeshGPTError("cannot read the text embedding %s: %s" % (path, e.strerror or e))
    if data[:6] != b"\x93NUMPY":
        raise MeshGPTError("%s is not a .npy file" % path)
    major = data[6]
    if major == 1:
        (length,) = struct.unpack_from("<H", data, 8)
        start = 10
    else:
        (length,) = struct.unpack_from("<I", data, 8)
        start = 12
    header = data[start:start + length].decode("latin-1")
    if "'<f4'" not in header or "'fortran_order': False" not in header:
        raise MeshGPTError("%s must hold float32 values in C order" % path)
    shape_text = header.split("'shape':")[1].split(")")[0].strip(" (")
    shape = tuple(int(s) for s in shape_text.split(",") if s.strip())
    values = array.array("f")
    values.frombytes(data[start + length:])
    if len(values) != math.prod(shape):
        raise MeshGPTError("%s is truncated" % path)
    return values, shape


def _as_c_array(values, ctype):
    """A ctypes array sharing the memory of an `array.array` (kept alive by the caller)."""
    return (ctype * len(values)).from_buffer(values) if len(values) else (ctype * 1)()


_ENDED = {native.MG_GENERATE_END_EOS: "eos", native.MG_GENERATE_END_LIMIT: "limit",
          native.MG_GENERATE_END_REFUSED: "refused"}


class MeshData:
    """A mesh as flat buffers: vertices array('f') [n*3], faces array('i') [m*face_size]."""

    # How a generated mesh ended: "eos" (the model ended it), "limit" (the face limit) or "refused" (the
    # validity check found no next vertex that kept the surface valid, so it ends at its last whole face).
    ended = "eos"

    def __init__(self, vertices, faces, face_size=3):
        self.vertices = vertices
        self.faces = faces
        self.face_size = face_size

    @property
    def num_vertices(self):
        return len(self.vertices) // 3

    @property
    def num_faces(self):
        return len(self.faces) // self.face_size


class TokenData:
    """Tokens of one mesh in meshgpt-pytorch's order (face, corner, level), -1 = missing."""

    def __init__(self, tokens, face_size, levels):
        self.tokens = tokens if isinstance(tokens, array.array) else array.array("i", tokens)
        self.face_size = int(face_size)
        self.levels = int(levels)

    @property
    def num_faces(self):
        per_face = self.face_size * self.levels
        return len(self.tokens) // per_face if per_face else 0


class Settings:
    """Everything a Session needs, copied from bpy properties on the main thread."""

    def __init__(self, library_path, model_path, encoder_path="", device="auto"):
        self.library_path = library_path
        self.model_path = model_path
        self.encoder_path = encoder_path
        self.device = device

    def key(self):
        return (self.library_path, self.model_path, self.device)


class Session:
    """A library context with one model (and text encoder) loaded. Not for two threads at once: use `lock`."""

    def __init__(self, settings):
        self.settings = settings
        self.lock = threading.Lock()
        self.lib = None
        self.ctx = ctypes.c_void_p()
        self.model = ctypes.c_void_p()
        self.encoder = ctypes.c_void_p()
        self.encoder_path = None
        self.log = []
        self._log_fn = native.LOG_FN(self._on_log)  # kept alive as long as the context
        try:
            self.lib = native.load(settings.library_path)
        except native.LibraryError as e:
            raise MeshGPTError(MSG_LIBRARY % e)
        except OSError as e:
            raise MeshGPTError(MSG_LIBRARY % e)
        params = self.lib.context_default_params()
        params.device = (settings.device or "auto").encode()
        params.log_callback = self._log_fn
        params.log_level = native.MG_LOG_WARN
        error = ctypes.create_string_buffer(1024)
        status = self.lib.context_create(ctypes.byref(params), ctypes.byref(self.ctx), error, len(error))
        if status != native.MG_OK:
            raise MeshGPTError(MSG_NO_DEVICE % (settings.device, _text(error.value)))
        path = settings.model_path
        if not path or not os.path.isfile(path):
            self.close()
            raise MeshGPTError(MSG_MODEL_MISSING % (path or "(none set)"))
        if self.lib.model_load(self.ctx, os.fsencode(path), ctypes.byref(self.model)) != native.MG_OK:
            message = self.last_error()
            self.close()
            raise MeshGPTError("Cannot load the model %s: %s" % (path, message))
        self.config = json.loads(_text(self.lib.model_config_json(self.model)))
        self.face_size = int(self.lib.model_face_size(self.model))
        self.max_faces = int(self.lib.model_max_faces(self.model))
        transformer = self.config.get("transformer")
        self.has_transformer = transformer is not None
        self.text_conditioned = bool(transformer and transformer.get("condition_on_text"))
        # A model file may carry its own text encoder (the shipped default model does): prompts then need no folder.
        self.builtin_encoder = bool(self.lib.model_has_text_encoder(self.model))
        levels = self.config.get("autoencoder", {}).get("num_quantizers", 1)
        self.levels = int(levels)
        if transformer:
            per_face = self.face_size * self.levels
            self.max_generate_faces = min(self.max_faces, int(transformer.get("max_seq_len", 8192)) // per_face)
        else:
            self.max_generate_faces = 0
        info = native.DeviceInfo()
        self.device_name = ""
        if self.lib.context_device_info(self.ctx, ctypes.byref(info)) == native.MG_OK:
            self.device_name = _text(info.name)

    def _on_log(self, level, message, user):
        self.log.append(_text(message))
        del self.log[:-20]

    def last_error(self):
        return _text(self.lib.context_last_error(self.ctx)) if self.ctx else ""

    def close(self):
        if self.lib is None:
            return
        if self.encoder:
            self.lib.text_encoder_free(self.encoder)
        if self.model:
            self.lib.model_free(self.model)
        if self.ctx:
            self.lib.context_destroy(self.ctx)
        self.encoder = ctypes.c_void_p()
        self.model = ctypes.c_void_p()
        self.ctx = ctypes.c_void_p()

    # ---- meshes in and out ----

    def _mesh_out(self, mesh, weld, drop_masked=True):
        """MeshData from a library mesh (freed here); weld merges corners at identical positions."""
        try:
            if weld and mesh.num_faces:
                welded = native.Mesh()
                error = ctypes.create_string_buffer(512)
                if self.lib.mesh_weld(ctypes.byref(mesh), ctypes.byref(welded), error, len(error)) != native.MG_OK:
                    raise MeshGPTError("cannot merge the vertices: %s" % _text(error.value))
                try:
                    return self._copy_mesh(welded, None)
                finally:
                    self.lib.mesh_free(ctypes.byref(welded))
            return self._copy_mesh(mesh, mesh.face_mask if drop_masked else None)
        finally:
            self.lib.mesh_free(ctypes.byref(mesh))

    @staticmethod
    def _copy_mesh(mesh, mask):
        fs = mesh.face_size or 3
        vertices = array.array("f")
        faces = array.array("i")
        if mesh.num_vertices:
            vertices.frombytes(ctypes.string_at(mesh.vertices, mesh.num_vertices * 3 * 4))
        if mesh.num_faces:
            faces.frombytes(ctypes.string_at(mesh.faces, mesh.num_faces * fs * 4))
        if mask and mesh.num_faces:
            keep = ctypes.string_at(mask, mesh.num_faces)
            if keep.count(0):
                faces = array.array("i", (v for f in range(mesh.num_faces) if keep[f]
                                          for v in faces[f * fs:(f + 1) * fs]))
        return MeshData(vertices, faces, fs)

    def _mesh_in(self, data):
        mesh = native.Mesh()
        keep = (_as_c_array(data.vertices, ctypes.c_float), _as_c_array(data.faces, ctypes.c_int32))
        mesh.vertices = ctypes.cast(keep[0], ctypes.POINTER(ctypes.c_float))
        mesh.num_vertices = data.num_vertices
        mesh.faces = ctypes.cast(keep[1], ctypes.POINTER(ctypes.c_int32))
        mesh.num_faces = data.num_faces
        mesh.face_size = data.face_size
        return mesh, keep

    def _tokens_in(self, tokens):
        c = native.Tokens()
        keep = _as_c_array(tokens.tokens, ctypes.c_int32)
        c.tokens = ctypes.cast(keep, ctypes.POINTER(ctypes.c_int32))
        c.num_faces = tokens.num_faces
        c.face_size = tokens.face_size
        c.levels = tokens.levels
        return c, keep

    def _tokens_out(self, c):
        try:
            values = array.array("i")
            n = c.num_faces * c.face_size * c.levels
            if n:
                values.frombytes(ctypes.string_at(c.tokens, n * 4))
            return TokenData(values, c.face_size, c.levels)
        finally:
            self.lib.tokens_free(ctypes.byref(c))

    # ---- the operations ----

    def check_faces(self, name, num_faces):
        if num_faces > self.max_faces:
            raise MeshGPTError(MSG_TOO_MANY_FACES % (name, num_faces, self.max_faces))

    def tokenize(self, data, name="the mesh", with_error=False):
        """TokenData of one mesh; with_error also (mean, max) corner distance after decoding, in model units."""
        self.check_faces(name, data.num_faces)
        mesh, keep = self._mesh_in(data)
        params = self.lib.tokenize_default_params()
        out = native.Tokens()
        seen = native.Mesh()
        with self.lock:
            status = self.lib.tokenize(self.model, ctypes.byref(mesh), 1, ctypes.byref(params), ctypes.byref(out),
                                       ctypes.byref(seen) if with_error else None)
            if status != native.MG_OK:
                raise MeshGPTError("Cannot tokenize %s: %s" % (name, self.last_error()))
        tokens = self._tokens_out(out)
        del keep
        if not with_error:
            return tokens, None
        try:
            decoded = self.decode(tokens, weld=False, drop_masked=False)
            reference = self._copy_mesh(seen, None)
        finally:
            self.lib.mesh_free(ctypes.byref(seen))
        return tokens, corner_distances(reference, decoded)

    def decode(self, tokens, weld=True, drop_masked=True):
        if tokens.face_size != self.face_size or tokens.levels != self.levels:
            raise MeshGPTError("These tokens have %d corners x %d levels per face, but the model uses %d x %d: "
                               "were they made with another model?" %
                               (tokens.face_size, tokens.levels, self.face_size, self.levels))
        c, keep = self._tokens_in(tokens)
        out = native.Mesh()
        with self.lock:
            if self.lib.decode(self.model, ctypes.byref(c), 1, ctypes.byref(out)) != native.MG_OK:
                raise MeshGPTError("Cannot decode the tokens: %s" % self.last_error())
        del keep
        return self._mesh_out(out, weld, drop_masked)

    def _encoder(self, folder):
        if not folder or not os.path.isdir(folder) or not os.path.isfile(os.path.join(folder, "config.json")):
            raise MeshGPTError(MSG_ENCODER_MISSING % (folder or "(none set)"))
        if self.encoder and self.encoder_path == folder:
            return self.encoder
        if self.encoder:
            self.lib.text_encoder_free(self.encoder)
            self.encoder = ctypes.c_void_p()
        if self.lib.text_encoder_load(self.ctx, os.fsencode(folder), ctypes.byref(self.encoder)) != native.MG_OK:
            raise MeshGPTError("Cannot load the text encoder %s: %s" % (folder, self.last_error()))
        self.encoder_path = folder
        return self.encoder

    def generate(self, request, cancel, on_progress=None, on_partial=None):
        """[(MeshData, TokenData)] per sample. cancel: a threading.Event; on_progress(faces, tokens).

        on_partial(sample, MeshData, TokenData), if given, streams: it receives a sample's mesh so far
        (decoded and welded as the final one), as often as a stream.Throttle allows, on this thread."""
        if not self.has_transformer:
            raise MeshGPTError(MSG_NO_TRANSFORMER)
        prompt = request.get("prompt", "").strip()
        embedding_path = request.get("text_embedding", "")
        wants_text = bool(prompt or embedding_path)
        if wants_text and not self.text_conditioned:
            raise MeshGPTError(MSG_NO_TEXT)
        if self.text_conditioned and not wants_text:
            raise MeshGPTError(MSG_NEEDS_TEXT)
        # The model's recommended sampling (or the library's defaults), with what the request gives on top.
        p = self.lib.model_generate_params(self.model)
        if "temperature" in request:
            p.temperature = request["temperature"]
        if request.get("top_k", 0) > 0:
            p.top_k = request["top_k"]
            p.top_k_fraction = 0.0
        if "top_p" in request:
            p.top_p = request["top_p"]
        if "guidance" in request:
            p.cond_scale = request["guidance"]
        p.seed = request.get("seed", 0)
        p.max_faces = request.get("max_faces", 0)
        p.samples = max(1, request.get("samples", 1))
        keep = []
        if embedding_path:
            values, shape = read_npy_f32(embedding_path)
            if not (len(shape) == 2 or (len(shape) == 3 and shape[0] == 1)):
                raise MeshGPTError("%s must be [tokens, width] or [1, tokens, width]" % embedding_path)
            buffer = _as_c_array(values, ctypes.c_float)
            keep += [values, buffer]
            p.text.embedding = ctypes.cast(buffer, ctypes.POINTER(ctypes.c_float))
            p.text.embedding_tokens = shape[-2]
            p.text.embedding_width = shape[-1]
        elif prompt:
            p.text.prompt = prompt.encode("utf-8")
            folder = request.get("encoder_path", "")
            # A folder chosen in the preferences wins; else the model's own encoder (encoder NULL).
            if folder or not self.builtin_encoder:
                p.text.encoder = self._encoder(folder)
        completion = request.get("completion")
        if completion is not None:
            c, held = self._tokens_in(completion)
            keep += [c, held]
            p.completion = ctypes.pointer(c)
        samples = p.samples

        def progress(faces, tokens, user):
            if on_progress:
                on_progress(faces, tokens)
            return not cancel.is_set()

        callback = native.PROGRESS_FN(progress)
        p.progress = callback
        weld = request.get("weld", True)
        if on_partial is not None:
            face_callback = native.FACE_FN(self._streamer(samples, weld, cancel, on_partial))
            p.on_face = face_callback
            keep.append(face_callback)
        meshes = (native.Mesh * samples)()
        tokens = (native.Tokens * samples)()
        ends = (ctypes.c_int * samples)()
        p.out_ends = ends
        with self.lock:
            status = self.lib.generate(self.model, ctypes.byref(p), meshes, tokens)
            message = self.last_error() if status != native.MG_OK else ""
        del keep
        if status == native.MG_ERR_CANCELLED:
            raise Cancelled("Generation cancelled")
        if status != native.MG_OK:
            raise MeshGPTError("Cannot generate: %s" % message)
        results = []
        for s in range(samples):
            mesh = self._mesh_out(meshes[s], weld)
            mesh.ended = _ENDED.get(ends[s], "eos")
            results.append((mesh, self._tokens_out(tokens[s])))
        return results

    def _streamer(self, samples, weld, cancel, on_partial):
        """The on_face callback: decodes a sample's tokens so far when the throttle says so.

        It runs inside mg_generate, on the worker thread that holds self.lock, so it calls the library
        directly (mg_decode on the generating model is allowed there). A failure to decode a partial mesh
        only stops the streaming: the generation goes on and its result still comes."""
        throttle = stream.Throttle(samples)
        broken = []

        def on_face(sample, so_far, user):
            if cancel.is_set():
                return False
            if broken or not throttle.due(sample):
                return True
            try:
                started = time.monotonic()
                view = so_far.contents
                n = view.num_faces * view.face_size * view.levels
                tokens = array.array("i")
                tokens.frombytes(ctypes.string_at(view.tokens, n * 4))  # a view valid only during this call
                mesh = native.Mesh()
                if self.lib.decode(self.model, so_far, 1, ctypes.byref(mesh)) != native.MG_OK:
                    self.lib.mesh_free(ctypes.byref(mesh))
                    broken.append(self.last_error())
                    self.log.append("streaming stopped: %s" % broken[-1])
                    return True
                data = self._mesh_out(mesh, weld)
                throttle.record(sample, time.monotonic() - started)
                on_partial(sample, data, TokenData(tokens, view.face_size, view.levels))
            except Exception as e:  # never let an exception cross the C boundary (ctypes would return false)
                broken.append("%s: %s" % (type(e).__name__, e))
                self.log.append("streaming stopped: %s" % broken[-1])
            return True

        return on_face

    def write_tokens(self, path, tokens, text=None):
        c, keep = self._tokens_in(tokens)
        error = ctypes.create_string_buffer(1024)
        if self.lib.tokens_write_json(os.fsencode(path), ctypes.byref(c), os.fsencode(self.settings.model_path),
                                      text.encode() if text else None, error, len(error)) != native.MG_OK:
            raise MeshGPTError(_text(error.value))

    def read_tokens(self, path):
        c = native.Tokens()
        error = ctypes.create_string_buffer(1024)
        if self.lib.tokens_read_json(os.fsencode(path), ctypes.byref(c), error, len(error)) != native.MG_OK:
            raise MeshGPTError(_text(error.value))
        return self._tokens_out(c)


def corner_distances(reference, decoded):
    """(mean, max) distance between the corners of two meshes with the same faces in the same order."""
    fs = reference.face_size
    n = min(reference.num_faces, decoded.num_faces) * fs
    if n == 0:
        return (0.0, 0.0)
    total = worst = 0.0
    rv, rf, dv, df = reference.vertices, reference.faces, decoded.vertices, decoded.faces
    for i in range(n):
        a, b = rf[i] * 3, df[i] * 3
        d = math.dist(rv[a:a + 3], dv[b:b + 3])
        if math.isnan(d):
            continue
        total += d
        worst = max(worst, d)
    return (total / n, worst)


_session = None
_session_lock = threading.Lock()


def session(settings):
    """The Session for these settings, made (or remade when they changed) on first use."""
    global _session
    with _session_lock:
        if _session is not None and _session.settings.key() != settings.key():
            _session.close()
            _session = None
        if _session is None:
            _session = Session(settings)
        return _session


def release():
    """Frees the library objects (unregister, or a preference changed)."""
    global _session
    with _session_lock:
        if _session is not None:
            _session.close()
            _session = None
