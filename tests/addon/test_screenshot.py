"""Blender with a window (under Xvfb): the sidebar opened on its MeshGPT tab by a simulated click on the tab and
widened by a simulated drag of its edge, then saved as a PNG in the test output (addon/docs/panel.png is a copy).
Also runs the interactive path a headless Blender cannot: the Generate button's modal operator (worker thread,
timer, queue) streaming two samples into the viewport, the Cancel button and Esc during a run (the partial
objects go away), and undo of its result (one step).

Run: xvfb-run -a blender --factory-startup --enable-event-simulate --python-exit-code 1 --python THIS -- ZIP SOURCE CLI WORK
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import check  # noqa: E402

import bpy  # noqa: E402

bpy.context.preferences.view.show_splash = False  # the splash would swallow every event (read after scripts run)
prefs = common.install()
from meshgpt import jobs  # noqa: E402

# The test model is tiny and the CPU backend fast: a run could end before Blender's event loop (slow with software
# drawing, slower under load) has turned a few times, and then neither growth nor a mid-run Cancel/Esc could be
# seen. The worker thread waits a little after each face here (test only; the results are unchanged).
_on_progress = jobs.Job._on_progress


def _slow_on_progress(self, faces, tokens):
    time.sleep(0.03)
    _on_progress(self, faces, tokens)


jobs.Job._on_progress = _slow_on_progress

s = common.use_fixture_model(prefs)
SHOT = os.path.join(common.WORK, "panel.png")
if os.path.exists(SHOT):
    os.remove(SHOT)


def window_context():
    window = bpy.context.window_manager.windows[0]
    area = next(a for a in window.screen.areas if a.type == "VIEW_3D")
    region = next(r for r in area.regions if r.type == "WINDOW")
    return window, area, region


def override():
    window, area, region = window_context()
    return bpy.context.temp_override(window=window, screen=window.screen, area=area, region=region)


steps = []
state = {}


def step(fn):
    steps.append(fn)
    return fn


@step
def prepare():
    for obj in list(bpy.data.objects):
        if obj.type == "MESH":
            bpy.data.objects.remove(obj)
    window, area, region = window_context()
    area.spaces[0].show_region_ui = True
    s.prompt = ""
    s.seed = 5
    s.max_faces = 40
    return 0.5


# The streamed run: two samples with guidance and up to 100 faces, a couple of seconds on the CPU reference, so
# that many timer ticks (10 a second) happen while the model runs.
STREAM = dict(seed=5, samples=2, guidance=2.0, max_faces=100)
common.cli("generate", "-m", common.MODEL, "--text-embedding", common.EMBEDDING, "--seed", STREAM["seed"],
           "--samples", STREAM["samples"], "--cond-scale", STREAM["guidance"], "--max-faces", STREAM["max_faces"],
           "-d", "cpu", "-o", os.path.join(common.WORK, "stream.obj"))


def new_objects(before):
    return {o.name: o for o in bpy.data.objects if o.name not in before}


@step
def generate_interactively():
    with override():
        bpy.ops.ed.undo_push(message="before")
        state["before"] = set(o.name for o in bpy.data.objects)
        state["meshes_before"] = set(m.name for m in bpy.data.meshes)
        state["seen"] = []  # (faces per new object) while the job runs
        result = bpy.ops.mesh.meshgpt_generate("INVOKE_DEFAULT", True, **STREAM)
    check(result == {"RUNNING_MODAL"}, "the Generate button starts a modal operator (%s)" % result)
    check(jobs.current() is not None, "a job runs on the worker thread")
    return 0.05


@step
def watch_stream():
    if jobs.current() is not None:
        grown = new_objects(state["before"])
        state["seen"].append({name: len(o.data.polygons) for name, o in grown.items()})
        state.setdefault("look_times", []).append(time.monotonic())
        state["status"] = bpy.context.scene.meshgpt.status
        return -0.05  # negative: run this step again
    s = bpy.context.scene.meshgpt
    new = new_objects(state["before"])
    check(len(new) == 2, "the modal run added two objects: %s (%s)" % (sorted(new), s.status))
    seen = state["seen"]
    times = state["look_times"]
    print("STREAM faces seen while generating, %d looks in %.1f s:" % (len(seen), times[-1] - times[0]), seen)
    # Under load Blender's event loop may turn only a few times (software drawing): two looks already show growth
    # (checked per object below); CMake runs this test with one CPU thread so the model runs long enough.
    check(len(seen) >= 2, "the run lasted several ticks (%d looks)" % len(seen))
    check(any(len(look) == 2 for look in seen), "both samples were in the viewport while generating")
    check("faces" in state.get("status", "") and "tokens/s" in state.get("status", ""),
          "the panel showed progress while generating: %s" % state.get("status"))
    for name in sorted(new):
        counts = [look[name] for look in seen if name in look]
        final = len(new[name].data.polygons)
        check(counts and counts == sorted(counts) and len(set(counts)) >= 2 and counts[0] < final,
              "%s grew in the viewport before the run finished: %s faces seen, %d at the end" %
              (name, sorted(set(counts)), final))
    # The final objects (the streamed ones, filled with the result) equal the library's output for the seed.
    made = sorted(new.values(), key=lambda o: o.location.x)
    for index, obj in enumerate(made):
        ref_vertices, ref_faces = common.read_obj(os.path.join(common.WORK, "stream_%d.obj" % index))
        ref_kept = [f for f in ref_faces if len(set(f)) == len(f)]
        check(common.object_geometry(obj) == (ref_vertices, ref_kept),
              "sample %d (%s) equals the library's output for seed %d (%d faces)" %
              (index, obj.name, STREAM["seed"], len(ref_kept)))
    check(len(made) == 2 and made[1].location.x - made[0].location.x > 2.0, "the samples sit side by side")
    meshes = set(m.name for m in bpy.data.meshes) - state["meshes_before"]
    check(len(meshes) == 2, "no mesh data is left over from streaming: %s" % sorted(meshes))
    with override():
        bpy.ops.ed.undo()
    check(set(o.name for o in bpy.data.objects) == state["before"], "undo removes both (one undo step)")
    with override():
        bpy.ops.ed.redo()
    return 0.2


def start_run(seed):
    state["before_cancel"] = set(o.name for o in bpy.data.objects)
    state["meshes_before_cancel"] = set(m.name for m in bpy.data.meshes)
    with override():
        result = bpy.ops.mesh.meshgpt_generate("INVOKE_DEFAULT", True, **dict(STREAM, seed=seed))
    check(result == {"RUNNING_MODAL"}, "a run with seed %d starts" % seed)


def partial_object_shown():
    """True once the run shows a partial object with faces (fails the test if the run ends first)."""
    grown = new_objects(state["before_cancel"])
    if any(len(o.data.polygons) for o in grown.values()):
        return True
    check(jobs.current() is not None, "the run showed a partial object before it ended")
    return jobs.current() is None


def check_cancelled(how):
    s = bpy.context.scene.meshgpt  # undo replaced the scene's data
    check(set(o.name for o in bpy.data.objects) == state["before_cancel"],
          "%s mid-stream removed the partial objects: %s" % (how, sorted(new_objects(state["before_cancel"]))))
    check(set(m.name for m in bpy.data.meshes) == state["meshes_before_cancel"],
          "%s mid-stream left no mesh data" % how)
    check(s.status.startswith("Cancelled"), "the panel says cancelled: %s" % s.status)


@step
def cancel_button_start():
    start_run(9)
    return 0.05


@step
def cancel_button_mid_stream():
    if not partial_object_shown():
        return -0.05
    with override():
        bpy.ops.mesh.meshgpt_cancel()  # what the panel's Cancel button runs
    return 0.1


@step
def after_cancel_button():
    if jobs.current() is not None:
        return -0.1
    check_cancelled("the Cancel button")
    return 0.1


@step
def escape_start():
    start_run(10)
    return 0.05


@step
def escape_mid_stream():
    if not partial_object_shown():
        return -0.05
    if not bpy.app.use_event_simulate:
        check(False, "Blender runs with --enable-event-simulate (needed to press Esc from a script)")
        with override():
            bpy.ops.mesh.meshgpt_cancel()
        return 0.1
    window = bpy.context.window_manager.windows[0]
    state["esc_job"] = jobs.current()
    window.event_simulate(type="ESC", value="PRESS")  # reaches the modal operator's handler like a key press
    window.event_simulate(type="ESC", value="RELEASE")
    return 0.1


@step
def after_cancel():
    if jobs.current() is not None:
        return -0.1
    check_cancelled("Esc")
    check(state.get("esc_job") is not None and state["esc_job"].cancelled, "the simulated Esc reached the operator")
    s = bpy.context.scene.meshgpt
    # What the screenshot shows: the bevelled cube, tokenized, and the result of a generation.
    bpy.ops.mesh.primitive_cube_add(location=(-3, 0, 0))
    bpy.context.active_object.modifiers.new("Bevel", "BEVEL")
    bpy.ops.mesh.meshgpt_tokenize()
    s.prompt = "a chair"
    s.max_faces = 40
    return 0.5


# Which sidebar tab is open: Blender 3.4 has no Region.active_panel_category, but it draws only the panels of the
# open tab. Each of these classes records the regions it was last drawn in (the Tool tab's "Active Tool" panel and
# the add-on's two top-level panels).
drawn = {}


def record_draws(cls):
    original = cls.draw

    def draw(self, context):
        drawn.setdefault(cls.__name__, set()).add((context.area.type, context.region.type))
        original(self, context)

    cls.draw = draw  # Blender looks draw() up on the class each time it draws


TOOL_PANEL = "VIEW3D_PT_active_tool"
OUR_PANELS = ("VIEW3D_PT_meshgpt_generate", "VIEW3D_PT_meshgpt_tokens")
for name in (TOOL_PANEL,) + OUR_PANELS:
    record_draws(getattr(bpy.types, name))


def sidebar():
    window, area, _ = window_context()
    return window, area, next(r for r in area.regions if r.type == "UI")


def sidebar_shows(name):
    return ("VIEW_3D", "UI") in drawn.get(name, set())


@step
def frame_scene():
    with override():
        bpy.ops.object.select_all(action="DESELECT")
        for obj in bpy.data.objects:
            obj.select_set(obj.type == "MESH")
        bpy.ops.view3d.view_selected()
        bpy.ops.object.select_all(action="DESELECT")
    cube = bpy.data.objects.get("Cube")
    if cube is not None:
        cube.select_set(True)
        bpy.context.view_layer.objects.active = cube
    drawn.clear()
    sidebar()[2].tag_redraw()
    return 0.5


@step
def sidebar_on_tool_tab():
    # The factory settings open the sidebar on its Tool tab: the MeshGPT panels are not drawn yet.
    check(sidebar_shows(TOOL_PANEL), "the sidebar starts on the Tool tab: %s" % sorted(drawn))
    check(not any(sidebar_shows(name) for name in OUR_PANELS), "the MeshGPT panels are not drawn before the click")
    check(bpy.app.use_event_simulate, "Blender runs with --enable-event-simulate (needed to click from a script)")
    # The tabs are drawn as a vertical strip along the sidebar's right edge, MeshGPT last (below Item, Tool and
    # View). Their lengths follow the label text, so the click walks down the strip until the MeshGPT panels show.
    window, area, region = sidebar()
    state["tab_x"] = region.x + region.width - max(4, round(10 * bpy.context.preferences.system.ui_scale))
    state["tab_y"] = region.y + region.height - 8
    state["tab_bottom"] = region.y + region.height // 3
    state["clicks"] = 0
    return 0.1


def click(window, x, y):
    window.event_simulate(type="MOUSEMOVE", value="NOTHING", x=x, y=y)
    window.event_simulate(type="LEFTMOUSE", value="PRESS", x=x, y=y)
    window.event_simulate(type="LEFTMOUSE", value="RELEASE", x=x, y=y)


@step
def click_meshgpt_tab():
    if all(sidebar_shows(name) for name in OUR_PANELS):
        return 0.5
    if state["tab_y"] <= state["tab_bottom"]:
        check(False, "a click on the sidebar's tab strip opened the MeshGPT tab (%d clicks)" % state["clicks"])
        return 0.1
    window, area, region = sidebar()
    drawn.clear()
    click(window, state["tab_x"], state["tab_y"])
    state["clicks"] += 1
    state["tab_y"] -= 12  # shorter than any tab, so none is skipped
    region.tag_redraw()
    return -0.1  # look again once the sidebar has redrawn


# Drag the sidebar's left edge to the left, as a user would, so that its labels are not cut short: one event per
# tick, as Blender finds the edge's action zone on a mouse move before the press.
DRAG = [("MOUSEMOVE", "NOTHING", 0)] * 2 + [("LEFTMOUSE", "PRESS", 0)] + \
    [("MOUSEMOVE", "NOTHING", -15 * i) for i in range(1, 9)] + [("LEFTMOUSE", "RELEASE", -120)]


@step
def widen_sidebar():
    window, area, region = sidebar()
    if "drag" not in state:
        state["sidebar_width"] = region.width
        state["drag"] = list(DRAG)
        state["drag_at"] = (region.x + 5, region.y + region.height // 2)  # inside the edge's action zone
    if not state["drag"]:
        check(region.width >= state["sidebar_width"] + 100,
              "dragging its edge widened the sidebar: %d -> %d pixels" % (state["sidebar_width"], region.width))
        return 0.3
    kind, value, dx = state["drag"].pop(0)
    x, y = state["drag_at"]
    window.event_simulate(type=kind, value=value, x=x + dx, y=y)
    return -0.05


@step
def sidebar_on_meshgpt_tab():
    # Redraw from scratch and look at what the sidebar draws now: the MeshGPT tab, not the Tool tab.
    drawn.clear()
    sidebar()[2].tag_redraw()
    return 0.5


@step
def check_meshgpt_tab():
    print("TAB clicks along the strip: %d, at x=%d y=%d" % (state["clicks"], state["tab_x"], state["tab_y"] + 12))
    for name in OUR_PANELS:
        check(sidebar_shows(name), "the sidebar draws %s (its MeshGPT tab is open)" % name)
    check(not sidebar_shows(TOOL_PANEL), "the sidebar no longer draws the Tool tab's panels")
    return 0.5


@step
def screenshot():
    with override():
        bpy.ops.screen.screenshot(filepath=SHOT, check_existing=False)
    return 0.5


@step
def finish():
    check(os.path.isfile(SHOT) and os.path.getsize(SHOT) > 10000, "the screenshot is saved: %s" % SHOT)
    image = bpy.data.images.load(SHOT)
    check(image.size[0] >= 800 and image.size[1] >= 600, "it shows a whole window: %s" % list(image.size))
    print("SCREENSHOT", SHOT, "after %.1f s" % (time.monotonic() - STARTED))
    if common.failures:
        print("%d check(s) failed:\n  %s" % (len(common.failures), "\n  ".join(common.failures)))
        os._exit(1)  # a timer cannot make --python-exit-code fire
    print("all checks passed")
    os._exit(0)


def run():
    try:
        if not steps:
            return None
        wait = steps[0]()
        if wait is None or wait >= 0:
            steps.pop(0)
        return abs(wait) if wait is not None else 0.1
    except Exception:
        import traceback
        traceback.print_exc()
        os._exit(1)


def watchdog():
    print("the screenshot test took too long")
    os._exit(1)


STARTED = time.monotonic()
bpy.app.timers.register(run, first_interval=1.0)
bpy.app.timers.register(watchdog, first_interval=110.0)  # ctest stops it at 120 s
