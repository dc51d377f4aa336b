"""Blender with a window (under Xvfb): the sidebar open on the MeshGPT tab, saved as a PNG in the test output.
Also runs the interactive path a headless Blender cannot: the Generate button's modal operator (worker thread,
timer, queue), the Cancel button during a run, and undo of its result.

Run: xvfb-run -a blender --factory-startup --enable-event-simulate --python-exit-code 1 --python THIS -- ZIP SOURCE CLI WORK
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import check  # noqa: E402

import bpy  # noqa: E402

bpy.context.preferences.view.show_splash = False  # the splash would swallow every event (read after scripts run)
prefs = common.install()
from meshgpt import jobs  # noqa: E402

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


@step
def generate_interactively():
    with override():
        bpy.ops.ed.undo_push(message="before")
        state["before"] = set(o.name for o in bpy.data.objects)
        result = bpy.ops.mesh.meshgpt_generate("INVOKE_DEFAULT", True)
    check(result == {"RUNNING_MODAL"}, "the Generate button starts a modal operator (%s)" % result)
    check(jobs.current() is not None, "a job runs on the worker thread")
    return 0.2


@step
def wait_generation():
    if jobs.current() is not None:
        return -0.2  # negative: run this step again
    new = set(o.name for o in bpy.data.objects) - state["before"]
    check(len(new) == 1, "the modal run added one object: %s (%s)" % (new, s.status))
    state["new"] = new
    with override():
        bpy.ops.ed.undo()
    check(set(o.name for o in bpy.data.objects) == state["before"], "undo removes it (one undo step)")
    with override():
        bpy.ops.ed.redo()
    return 0.2


@step
def cancel_with_escape():
    state["before_cancel"] = set(o.name for o in bpy.data.objects)
    with override():
        result = bpy.ops.mesh.meshgpt_generate("INVOKE_DEFAULT", True, max_faces=100, seed=9)
    check(result == {"RUNNING_MODAL"}, "a second run starts")
    # What the panel's Cancel button (and Esc, in modal()) does: set the job's cancel flag.
    with override():
        bpy.ops.mesh.meshgpt_cancel()
    return 0.2


@step
def after_cancel():
    if jobs.current() is not None:
        return -0.2
    s = bpy.context.scene.meshgpt  # undo replaced the scene's data
    check(set(o.name for o in bpy.data.objects) == state["before_cancel"], "Esc cancelled: nothing was added")
    check(s.status.startswith("Cancelled"), "the panel says cancelled: %s" % s.status)
    state["scene"] = s
    # What the screenshot shows: the bevelled cube, tokenized, and the result of a generation.
    bpy.ops.mesh.primitive_cube_add(location=(-3, 0, 0))
    bpy.context.active_object.modifiers.new("Bevel", "BEVEL")
    bpy.ops.mesh.meshgpt_tokenize()
    s.prompt = "a chair"
    s.max_faces = 40
    return 0.5


@step
def show_panel():
    # Blender 3.4 cannot switch the sidebar's tab from Python (no Region.active_panel_category; simulated
    # events did not reach the window under Xvfb): the sidebar is open with its MeshGPT tab, and the Generate
    # panel is shown as a popup, drawn by the same draw() as in the sidebar.
    window, area, region = window_context()
    with override():
        bpy.ops.wm.call_panel(name="VIEW3D_PT_meshgpt_generate", keep_open=True)
    return 1.0


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
    print("SCREENSHOT", SHOT)
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


bpy.app.timers.register(run, first_interval=1.0)
bpy.app.timers.register(watchdog, first_interval=90.0)
