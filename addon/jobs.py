"""Generation on a worker thread that only fills a queue (no bpy here).

The main thread drains the queue: the modal operator on a timer when Blender
has a UI, a blocking loop in background mode (`blender -b`). The worker never
touches bpy; the library call releases the GIL (ctypes), so the UI stays live.

Messages put on the queue:
  ("progress", faces, tokens, seconds)  a face completed (the library's per-face callback)
  ("partial", sample, MeshData, TokenData)  streaming only: a sample's mesh so far (throttled)
  ("done", [(MeshData, TokenData), ...]) one entry per sample
  ("error", message)                    a MeshGPTError's text (Cancelled included)
"""

import queue
import threading
import time

from . import engine

_current = None
_current_lock = threading.Lock()


def current():
    """The job running now, or None."""
    return _current


class Job:
    def __init__(self, settings, request, stream=False):
        """stream: also send each sample's growing mesh ("partial" messages), for the viewport."""
        self.settings = settings
        self.request = request
        self.stream = stream
        self.queue = queue.Queue()
        self.cancel_event = threading.Event()
        self.thread = None
        self.started = 0.0
        self.faces = 0
        self.tokens = 0
        self.first_tokens = 0  # tokens of a completed mesh's prompt: not generated
        self.cancelled = False
        self.finished = False

    def start(self):
        global _current
        with _current_lock:
            if _current is not None and not _current.finished:
                raise engine.MeshGPTError("MeshGPT is already generating: wait or cancel it first.")
            _current = self
        self.started = time.monotonic()
        completion = self.request.get("completion")
        if completion is not None:
            self.first_tokens = len(completion.tokens)
        self.thread = threading.Thread(target=self._run, name="meshgpt-generate", daemon=True)
        self.thread.start()

    def _run(self):
        try:
            s = engine.session(self.settings)
            results = s.generate(self.request, self.cancel_event, self._on_progress,
                                 self._on_partial if self.stream else None)
            self.queue.put(("done", results))
        except engine.MeshGPTError as e:
            self.queue.put(("error", str(e)))
        except Exception as e:  # a bug: still a message, never a traceback in the panel
            self.queue.put(("error", "MeshGPT failed unexpectedly: %s: %s" % (type(e).__name__, e)))

    def _on_progress(self, faces, tokens):
        self.queue.put(("progress", faces, tokens, time.monotonic() - self.started))

    def _on_partial(self, sample, mesh, tokens):
        self.queue.put(("partial", sample, mesh, tokens))

    def cancel(self):
        self.cancelled = True
        self.cancel_event.set()

    def drain(self):
        """The messages waiting now (main thread); keeps the progress counters up to date."""
        out = []
        while True:
            try:
                message = self.queue.get_nowait()
            except queue.Empty:
                return out
            if message[0] == "progress":
                self.faces, self.tokens = message[1], message[2]
            out.append(message)

    def tokens_per_second(self):
        seconds = time.monotonic() - self.started
        return (self.tokens - self.first_tokens) / seconds if seconds > 0 and self.tokens else 0.0

    def wait(self, timeout):
        """The next message within `timeout` seconds, or None (blocking path)."""
        try:
            message = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if message[0] == "progress":
            self.faces, self.tokens = message[1], message[2]
        return message

    def finish(self):
        """Marks the job over (main thread, after its last message)."""
        global _current
        self.finished = True
        if self.thread is not None:
            self.thread.join(timeout=5.0)
        with _current_lock:
            if _current is self:
                _current = None


# Called on the main thread with each progress message in the blocking path (scripts and tests can
# watch or cancel a blocking run: the hook receives the job and may call job.cancel()).
progress_hooks = []
