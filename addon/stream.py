"""When to decode a growing mesh while it is generated (no bpy here).

The library calls back after every face of every sample; decoding the tokens so far after each face would
spend more time decoding than generating. A Throttle lets a sample's partial mesh be decoded at most every
`min_interval` seconds, and less often when decoding is slow, so that decoding takes about `share` of the
time at most (the viewport only redraws ~10 times a second anyway).
"""

import time


class Throttle:
    def __init__(self, samples, min_interval=0.25, share=0.25, clock=time.monotonic):
        self.samples = max(1, samples)
        self.min_interval = min_interval
        self.share = share
        self.clock = clock
        self.last = {}            # sample -> when its last partial mesh was decoded
        self.decode_seconds = 0.0  # a running estimate of one decode's cost

    def interval(self):
        """Seconds between two decodes of one sample: every sample decodes once per interval."""
        return max(self.min_interval, self.samples * self.decode_seconds / self.share)

    def due(self, sample):
        last = self.last.get(sample)
        return last is None or self.clock() - last >= self.interval()

    def record(self, sample, seconds):
        """A decode of `sample` took `seconds` (the first face shows at once; later ones wait their turn)."""
        self.last[sample] = self.clock()
        if self.decode_seconds == 0.0:
            self.decode_seconds = seconds
        else:
            self.decode_seconds = 0.7 * self.decode_seconds + 0.3 * seconds
