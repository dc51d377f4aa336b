"""ctypes binding of libmeshgpt's public C API (native/include/meshgpt.h).

No bpy here: this module is plain Python so that the worker thread may use it
(ctypes releases the GIL during every foreign call) and so that it can be
checked outside Blender. The structures mirror the header field by field;
keep them in step with it (the version check below refuses a library whose
major.minor differs from the one this binding was written for).
"""

import ctypes
import os

BINDING_VERSION = (0, 1)

MG_OK = 0
MG_ERR_NO_DEVICE = 4
MG_ERR_CANCELLED = 10
# mg_generate_end: why a generated sample ended.
MG_GENERATE_END_EOS = 0
MG_GENERATE_END_LIMIT = 1
MG_GENERATE_END_REFUSED = 2

MG_LOG_WARN = 2
MG_DEVICE_CPU_REFERENCE = 5
MG_PREPROCESS_MODEL = 0

c_size = ctypes.c_size_t
LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_bool, c_size, c_size, ctypes.c_void_p)


class DeviceInfo(ctypes.Structure):
    _fields_ = [
        ("index", ctypes.c_int),
        ("name", ctypes.c_char * 256),
        ("type", ctypes.c_int),
        ("driver_name", ctypes.c_char * 64),
        ("driver_info", ctypes.c_char * 128),
        ("vendor_id", ctypes.c_uint32),
        ("device_id", ctypes.c_uint32),
        ("api_version", ctypes.c_uint32),
        ("device_local_bytes", ctypes.c_uint64),
        ("supports_fp16", ctypes.c_bool),
        ("supports_int8", ctypes.c_bool),
        ("unified_memory", ctypes.c_bool),
        ("subgroup_size", ctypes.c_uint32),
        ("max_shared_memory_bytes", ctypes.c_uint32),
        ("max_workgroup_invocations", ctypes.c_uint32),
        ("max_storage_buffer_range", ctypes.c_uint64),
        ("max_allocation_bytes", ctypes.c_uint64),
        ("usable", ctypes.c_bool),
        ("preferred", ctypes.c_bool),
        ("unusable_reason", ctypes.c_char * 128),
    ]


class ContextParams(ctypes.Structure):
    _fields_ = [
        ("device", ctypes.c_char_p),
        ("log_callback", LOG_FN),
        ("log_user_data", ctypes.c_void_p),
        ("log_level", ctypes.c_int),
        ("enable_validation", ctypes.c_bool),
        ("disable_pipeline_cache", ctypes.c_bool),
        ("pipeline_cache_dir", ctypes.c_char_p),
        ("device_memory_limit", ctypes.c_uint64),
    ]


class Mesh(ctypes.Structure):
    _fields_ = [
        ("vertices", ctypes.POINTER(ctypes.c_float)),
        ("num_vertices", c_size),
        ("faces", ctypes.POINTER(ctypes.c_int32)),
        ("num_faces", c_size),
        ("face_size", ctypes.c_uint32),
        ("face_mask", ctypes.POINTER(ctypes.c_uint8)),
    ]


class Tokens(ctypes.Structure):
    _fields_ = [
        ("tokens", ctypes.POINTER(ctypes.c_int32)),
        ("num_faces", c_size),
        ("face_size", ctypes.c_uint32),
        ("levels", ctypes.c_uint32),
    ]


# mg_generate_face_fn: (sample, const mg_tokens *tokens_so_far, user_data) -> keep going. Declared after Tokens.
FACE_FN = ctypes.CFUNCTYPE(ctypes.c_bool, c_size, ctypes.POINTER(Tokens), ctypes.c_void_p)


class TokenizeParams(ctypes.Structure):
    _fields_ = [("preprocess", ctypes.c_int)]


class TextCondition(ctypes.Structure):
    _fields_ = [
        ("prompt", ctypes.c_char_p),
        ("encoder", ctypes.c_void_p),
        ("embedding", ctypes.POINTER(ctypes.c_float)),
        ("embedding_tokens", c_size),
        ("embedding_width", c_size),
    ]


class GenerateParams(ctypes.Structure):
    _fields_ = [
        ("temperature", ctypes.c_float),
        ("top_k", ctypes.c_int),
        ("top_k_fraction", ctypes.c_float),
        ("top_p", ctypes.c_float),
        ("min_p", ctypes.c_float),
        ("cond_scale", ctypes.c_float),
        ("seed", ctypes.c_uint64),
        ("max_faces", c_size),
        ("max_tokens", c_size),
        ("samples", c_size),
        ("text", TextCondition),
        ("completion", ctypes.POINTER(Tokens)),
        ("progress", PROGRESS_FN),
        ("progress_user_data", ctypes.c_void_p),
        ("remove_parallel_component", ctypes.c_bool),
        ("keep_parallel_frac", ctypes.c_float),
        # Streaming: called on the generating thread after every completed face of every running sample.
        # mg_generate_default_params returns this struct by value, so every field must be declared here
        # or the library writes past the end of the buffer ctypes made for it.
        ("on_face", FACE_FN),
        ("on_face_user_data", ctypes.c_void_p),
        ("unconstrained", ctypes.c_bool),
        ("vertex_reuse", ctypes.c_float),
        ("out_ends", ctypes.POINTER(ctypes.c_int)),  # [samples]: why each ended (MG_GENERATE_END_*)
    ]


class LibraryError(Exception):
    """The library could not be loaded or is not the version this binding expects."""


def _declare(lib, name, restype, argtypes):
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


class Library:
    """One loaded libmeshgpt with typed entry points."""

    def __init__(self, path):
        self.path = path
        if not os.path.isfile(path):
            raise LibraryError("the MeshGPT library is not at %s" % path)
        # Shared libraries bundled beside it (libcjson) are loaded first, by absolute path, so
        # that the dynamic linker finds them already present when it resolves libmeshgpt's needs.
        folder = os.path.dirname(path)
        self._bundled = []
        for name in sorted(os.listdir(folder)):
            if name.startswith("libcjson") and ".so" in name:
                try:
                    self._bundled.append(ctypes.CDLL(os.path.join(folder, name), mode=ctypes.RTLD_GLOBAL))
                except OSError:
                    pass  # the system's copy may still be there
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            raise LibraryError("cannot load the MeshGPT library %s: %s" % (path, e))
        self.lib = lib
        P, c_char_p, c_void_p, c_int = ctypes.POINTER, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int
        err = [c_char_p, c_size]  # (error buffer, size)
        self.version = _declare(lib, "mg_version", c_char_p, [])
        self.version_number = _declare(lib, "mg_version_number", c_int, [])
        number = self.version_number()
        have = (number // 10000, number // 100 % 100)
        if have != BINDING_VERSION:
            raise LibraryError("%s is libmeshgpt %s; this add-on needs %d.%d.x" %
                               (path, self.version().decode(), BINDING_VERSION[0], BINDING_VERSION[1]))
        self.status_string = _declare(lib, "mg_status_string", c_char_p, [c_int])
        self.devices_list = _declare(lib, "mg_devices_list", c_int, [P(P(DeviceInfo)), P(c_size)] + err)
        self.devices_free = _declare(lib, "mg_devices_free", None, [P(DeviceInfo)])
        self.context_default_params = _declare(lib, "mg_context_default_params", ContextParams, [])
        self.context_create = _declare(lib, "mg_context_create", c_int, [P(ContextParams), P(c_void_p)] + err)
        self.context_destroy = _declare(lib, "mg_context_destroy", None, [c_void_p])
        self.context_last_error = _declare(lib, "mg_context_last_error", c_char_p, [c_void_p])
        self.context_device_info = _declare(lib, "mg_context_device_info", c_int, [c_void_p, P(DeviceInfo)])
        self.mesh_free = _declare(lib, "mg_mesh_free", None, [P(Mesh)])
        self.mesh_weld = _declare(lib, "mg_mesh_weld", c_int, [P(Mesh), P(Mesh)] + err)
        self.model_load = _declare(lib, "mg_model_load", c_int, [c_void_p, c_char_p, P(c_void_p)])
        self.model_free = _declare(lib, "mg_model_free", None, [c_void_p])
        self.model_config_json = _declare(lib, "mg_model_config_json", c_char_p, [c_void_p])
        self.model_max_faces = _declare(lib, "mg_model_max_faces", c_size, [c_void_p])
        self.model_face_size = _declare(lib, "mg_model_face_size", ctypes.c_uint32, [c_void_p])
        self.model_vocabulary_size = _declare(lib, "mg_model_vocabulary_size", c_size, [c_void_p])
        self.model_has_text_encoder = _declare(lib, "mg_model_has_text_encoder", ctypes.c_bool, [c_void_p])
        self.tokens_free = _declare(lib, "mg_tokens_free", None, [P(Tokens)])
        self.tokenize_default_params = _declare(lib, "mg_tokenize_default_params", TokenizeParams, [])
        self.tokenize = _declare(lib, "mg_tokenize", c_int,
                                 [c_void_p, P(Mesh), c_size, P(TokenizeParams), P(Tokens), P(Mesh)])
        self.decode = _declare(lib, "mg_decode", c_int, [c_void_p, P(Tokens), c_size, P(Mesh)])
        self.tokens_write_json = _declare(lib, "mg_tokens_write_json", c_int,
                                          [c_char_p, P(Tokens), c_char_p, c_char_p] + err)
        self.tokens_read_json = _declare(lib, "mg_tokens_read_json", c_int, [c_char_p, P(Tokens)] + err)
        self.text_encoder_load = _declare(lib, "mg_text_encoder_load", c_int, [c_void_p, c_char_p, P(c_void_p)])
        self.text_encoder_free = _declare(lib, "mg_text_encoder_free", None, [c_void_p])
        self.text_encoder_width = _declare(lib, "mg_text_encoder_width", c_size, [c_void_p])
        self.generate_default_params = _declare(lib, "mg_generate_default_params", GenerateParams, [])
        self.model_generate_params = _declare(lib, "mg_model_generate_params", GenerateParams, [c_void_p])
        self.generate = _declare(lib, "mg_generate", c_int, [c_void_p, P(GenerateParams), P(Mesh), P(Tokens)])

    def devices(self):
        """[(index, name, type, usable, preferred)] of every device, the CPU reference last."""
        array = ctypes.POINTER(DeviceInfo)()
        count = c_size(0)
        error = ctypes.create_string_buffer(512)
        status = self.devices_list(ctypes.byref(array), ctypes.byref(count), error, len(error))
        if status != MG_OK:
            raise LibraryError(error.value.decode("utf-8", "replace"))
        try:
            return [(array[i].index, array[i].name.decode("utf-8", "replace"), array[i].type, array[i].usable,
                     array[i].preferred) for i in range(count.value)]
        finally:
            self.devices_free(array)


_libraries = {}


def load(path):
    """The Library at `path`, loaded once per process (a shared object cannot be unloaded safely)."""
    path = os.path.realpath(path)
    if path not in _libraries:
        _libraries[path] = Library(path)
    return _libraries[path]
