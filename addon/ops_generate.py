"""mesh.meshgpt_generate and mesh.meshgpt_complete: a worker thread, a queue, and a timer-driven modal
operator with a UI; the same job run blocking in background mode (scripts, tests).

With a UI the faces stream in: the worker decodes each sample's tokens so far now and then (stream.Throttle)
and queues the partial meshes; each timer tick rebuilds every grown object once (meshio.fill_mesh), so the
objects grow in the viewport while the model runs. The finished run fills them with the final meshes; a
cancelled or failed one removes them, so nothing half-made stays behind. The operator's UNDO flag makes one
undo step of the whole run (Blender pushes it when the modal operator finishes)."""

import random
import time

import bpy

from . import engine, jobs, meshio, prefs, props

TOKENS_KEY = "meshgpt_tokens"
SHAPE_KEY = "meshgpt_token_shape"
SPACING = 2.4  # generated meshes span about [-1, 1]: samples sit this far apart

# Keyword arguments of the operators; unset ones come from context.scene.meshgpt.
_OVERRIDES = ("prompt", "text_embedding", "guidance", "temperature", "top_k", "top_p", "seed", "max_faces",
              "samples", "shade_smooth", "merge_vertices", "at_cursor")


def store_tokens(obj, tokens):
    obj[TOKENS_KEY] = list(tokens.tokens)
    obj[SHAPE_KEY] = [tokens.face_size, tokens.levels]


def stored_tokens(obj):
    if obj is None or TOKENS_KEY not in obj or SHAPE_KEY not in obj:
        return None
    face_size, levels = obj[SHAPE_KEY]
    return engine.TokenData(list(obj[TOKENS_KEY]), face_size, levels)


class _GenerateBase:
    bl_options = {"REGISTER", "UNDO"}

    prompt: bpy.props.StringProperty(name="Prompt", options={"SKIP_SAVE"})
    text_embedding: bpy.props.StringProperty(name="Text embedding", subtype="FILE_PATH", options={"SKIP_SAVE"})
    guidance: bpy.props.FloatProperty(name="Guidance", default=1.0, options={"SKIP_SAVE"})
    temperature: bpy.props.FloatProperty(name="Temperature", default=1.0, min=0.0, options={"SKIP_SAVE"})
    top_k: bpy.props.IntProperty(name="Top-k", default=0, min=0, options={"SKIP_SAVE"})
    top_p: bpy.props.FloatProperty(name="Top-p", default=0.0, min=0.0, max=1.0, options={"SKIP_SAVE"})
    seed: bpy.props.IntProperty(name="Seed", default=0, min=0, options={"SKIP_SAVE"})
    max_faces: bpy.props.IntProperty(name="Max faces", default=0, min=0, options={"SKIP_SAVE"})
    samples: bpy.props.IntProperty(name="Samples", default=1, min=1, options={"SKIP_SAVE"})
    shade_smooth: bpy.props.BoolProperty(name="Smooth", options={"SKIP_SAVE"})
    merge_vertices: bpy.props.BoolProperty(name="Merge vertices", default=True, options={"SKIP_SAVE"})
    at_cursor: bpy.props.BoolProperty(name="At 3D cursor", default=True, options={"SKIP_SAVE"})

    _job = None
    _timer = None
    _streamed = None  # sample -> the object growing in the viewport (interactive runs only)

    @classmethod
    def poll(cls, context):
        return context.mode == "OBJECT" and jobs.current() is None

    def value(self, context, name):
        if self.properties.is_property_set(name):
            return getattr(self, name)
        return getattr(context.scene.meshgpt, name)

    def request(self, context):
        s = context.scene.meshgpt
        seed = self.value(context, "seed")
        if s.random_seed and not self.properties.is_property_set("seed"):
            seed = random.randrange(0, 2**31 - 1)
            s.seed = seed
        settings = prefs.settings(context)
        embedding = self.value(context, "text_embedding")
        req = {
            "prompt": self.value(context, "prompt"),
            "text_embedding": bpy.path.abspath(embedding) if embedding else "",
            "encoder_path": settings.encoder_path,
            "seed": seed,
            "max_faces": self.value(context, "max_faces"),
            "samples": self.value(context, "samples"),
            "weld": self.value(context, "merge_vertices"),
        }
        # Sampling: the model's recommendation unless the panel's switch is off or a script sets a value.
        for name in ("guidance", "temperature", "top_k", "top_p"):
            if not s.model_sampling or self.properties.is_property_set(name):
                req[name] = self.value(context, name)
        return settings, req

    def prepare(self, context):
        """(settings, request) or raises MeshGPTError; subclasses add the completion."""
        for problem in prefs.problems(context):
            raise engine.MeshGPTError(problem)
        return self.request(context)

    # ---- both paths ----

    def start(self, context, stream=False):
        settings, req = self.prepare(context)
        self._streamed = {}
        self._job = jobs.Job(settings, req, stream=stream)
        self._job.start()
        self._origin = context.scene.cursor.location.copy() if self.value(context, "at_cursor") else None
        context.scene.meshgpt.running = True
        context.scene.meshgpt.progress = 0.0
        props.set_status(context, "Starting...")

    def on_progress(self, context):
        job = self._job
        limit = job.request.get("max_faces") or 0
        if limit:
            context.scene.meshgpt.progress = min(100.0, 100.0 * job.faces / limit)
        props.set_status(context, "%d faces, %.1f tokens/s" % (job.faces, job.tokens_per_second()))

    def conclude(self, context, message):
        job = self._job
        job.finish()
        self._job = None
        s = context.scene.meshgpt
        s.running = False
        s.progress = 0.0
        if message[0] == "error":
            self.discard_streamed()
            text = message[1]
            if job.cancelled:
                props.set_status(context, "Cancelled: nothing was added.")
                return {"CANCELLED"}
            props.set_status(context, text, error=True)
            self.report({"ERROR"}, text)
            return {"CANCELLED"}
        results = message[1]
        seconds = time.monotonic() - job.started
        smooth = self.value(context, "shade_smooth")
        created = []
        for index, (mesh, tokens) in enumerate(results):
            obj = _alive(self._streamed.pop(index, None))
            if mesh.num_faces == 0:
                _remove_object(obj)
                continue
            if obj is None:
                obj = meshio.new_object(context, self.object_name(context, index, len(results)), mesh,
                                        self.location(index), smooth)
            else:
                meshio.fill_mesh(obj.data, mesh, smooth)  # the streamed object gets the final mesh
            store_tokens(obj, tokens)
            created.append(obj)
        self.discard_streamed()
        refused = sum(1 for mesh, _ in results if mesh.ended == "refused")
        if not created:
            props.set_status(context, "No first face kept the surface valid: no faces (try another seed)." if refused
                             else "The model ended the mesh at once: no faces (try another seed).", error=True)
            return {"CANCELLED"}
        for obj in context.selected_objects:
            obj.select_set(False)
        for obj in created:
            obj.select_set(True)
        context.view_layer.objects.active = created[0]
        faces = sum(len(o.data.polygons) for o in created)
        status = "%d object%s, %d faces in %.1f s (seed %d)" % (
            len(created), "" if len(created) == 1 else "s", faces, seconds, job.request["seed"])
        if refused:
            # Say why a mesh is short: the sampler's validity check ended it, not the model.
            status += "; %d ended early: no next vertex kept the surface valid (try another seed or a lower " \
                      "temperature)" % refused
        props.set_status(context, status)
        return {"FINISHED"}

    def location(self, index):
        origin = self._origin if self._origin is not None else (0.0, 0.0, 0.0)
        return (origin[0] + SPACING * index, origin[1], origin[2])

    def show_partials(self, context, partials):
        """Rebuilds each sample's growing object from its latest partial mesh (once per timer tick)."""
        smooth = self.value(context, "shade_smooth")
        count = self._job.request.get("samples", 1)
        for index, (mesh, _tokens) in sorted(partials.items()):
            obj = _alive(self._streamed.get(index))
            if obj is None:
                if mesh.num_faces == 0:
                    continue
                obj = meshio.new_object(context, self.object_name(context, index, count), mesh,
                                        self.location(index), smooth)
                self._streamed[index] = obj
            else:
                meshio.fill_mesh(obj.data, mesh, smooth)

    def discard_streamed(self):
        """Removes the objects of a run that did not finish (and any a finished run did not use)."""
        for obj in (self._streamed or {}).values():
            _remove_object(_alive(obj))
        self._streamed = {}

    def object_name(self, context, index, count):
        prompt = self.value(context, "prompt").strip()
        base = ("MeshGPT " + prompt[:40]) if prompt else "MeshGPT"
        return base if count == 1 else "%s %d" % (base, index + 1)

    def fail(self, context, error):
        props.set_status(context, str(error), error=True)
        context.scene.meshgpt.running = False
        self.report({"ERROR"}, str(error))
        return {"CANCELLED"}

    # ---- blocking (background mode, scripts) ----

    def execute(self, context):
        try:
            self.start(context)
        except engine.MeshGPTError as e:
            return self.fail(context, e)
        while True:
            message = self._job.wait(0.05)
            if message is None:
                continue
            if message[0] == "progress":
                self.on_progress(context)
                for hook in list(jobs.progress_hooks):
                    hook(self._job)
                continue
            if message[0] == "partial":
                continue  # the blocking path shows only the result (it does not ask for streaming)
            return self.conclude(context, message)

    # ---- interactive: the modal operator drains the queue on a timer ----

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        try:
            self.start(context, stream=True)
        except engine.MeshGPTError as e:
            return self.fail(context, e)
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type == "ESC" and event.value == "PRESS":
            self._job.cancel()
            props.set_status(context, "Cancelling...")
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        final = None
        partials = {}
        for message in self._job.drain():
            if message[0] in ("done", "error"):
                final = message
            elif message[0] == "partial":
                partials[message[1]] = message[2:]  # only the latest mesh of each sample is built
        if final is None:
            self.show_partials(context, partials)
            self.on_progress(context)
            _redraw(context, viewport=bool(partials))
            return {"RUNNING_MODAL"}
        context.window_manager.event_timer_remove(self._timer)
        result = self.conclude(context, final)
        _redraw(context)
        return result

    def cancel(self, context):
        # Blender ends the modal operator (file load, quit): stop the worker, add nothing.
        if self._job is not None:
            self._job.cancel()
            self._job.finish()
            self._job = None
        self.discard_streamed()
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
        context.scene.meshgpt.running = False


def _alive(obj):
    """obj, or None when it is gone (removed by the user, or its data replaced by undo or a file load)."""
    if obj is None:
        return None
    try:
        name = obj.name
    except ReferenceError:
        return None
    return obj if bpy.data.objects.get(name) == obj else None


def _remove_object(obj):
    if obj is None:
        return
    mesh = obj.data
    bpy.data.objects.remove(obj)
    if mesh is not None and mesh.users == 0:
        bpy.data.meshes.remove(mesh)


def _redraw(context, viewport=True):
    """Redraws the 3D views, or only their sidebars (the progress) when no mesh changed: drawing the viewport
    costs CPU time that generation could use where the GPU is emulated."""
    for area in context.screen.areas if context.screen else ():
        if area.type != "VIEW_3D":
            continue
        if viewport:
            area.tag_redraw()
        else:
            for region in area.regions:
                if region.type == "UI":
                    region.tag_redraw()


class MESH_OT_meshgpt_generate(_GenerateBase, bpy.types.Operator):
    """Generate a mesh with MeshGPT from the prompt (Esc cancels)"""
    bl_idname = "mesh.meshgpt_generate"
    bl_label = "Generate"


class MESH_OT_meshgpt_complete(_GenerateBase, bpy.types.Operator):
    """Continue the active (partial) mesh with MeshGPT (Esc cancels)"""
    bl_idname = "mesh.meshgpt_complete"
    bl_label = "Complete"

    @classmethod
    def poll(cls, context):
        obj = context.active_object
        return super().poll(context) and obj is not None and obj.type == "MESH"

    def prepare(self, context):
        settings, req = super().prepare(context)
        obj = context.active_object
        session = engine.session(settings)
        data = meshio.evaluated_mesh(context, obj, session.face_size, session.max_faces)
        req["completion"], _ = session.tokenize(data, obj.name)
        self._source = obj
        return settings, req

    def start(self, context, stream=False):
        super().start(context, stream)
        if not self.value(context, "at_cursor"):
            obj = self._source
            self._origin = (obj.location.x + max(obj.dimensions.x, 2.0) / 2 + SPACING / 2, obj.location.y,
                            obj.location.z)

    def object_name(self, context, index, count):
        name = self._source.name + " completed"
        return name if count == 1 else "%s %d" % (name, index + 1)


class MESH_OT_meshgpt_cancel(bpy.types.Operator):
    """Stop the running MeshGPT generation (nothing is added)"""
    bl_idname = "mesh.meshgpt_cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return jobs.current() is not None

    def execute(self, context):
        job = jobs.current()
        if job is not None:
            job.cancel()
            props.set_status(context, "Cancelling...")
        return {"FINISHED"}


classes = (MESH_OT_meshgpt_generate, MESH_OT_meshgpt_complete, MESH_OT_meshgpt_cancel)
