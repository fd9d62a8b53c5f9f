"""The per-epoch progress line, in Keras 3's format.

verbose=1: ``Epoch 1/5`` then ``1688/1688 ━━━━━━━━━━━━━━━━━━━━ 2s 1ms/step - accuracy: 0.8563 - loss: 0.4989``,
redrawn in place on a terminal (at most every ``chunk`` batches), printed
once per epoch elsewhere.
verbose=2: one line per epoch, ``1688/1688 - 2s - 1ms/step - accuracy: ... - loss: ...``.
An epoch of unknown length (a generator's) shows ``12/Unknown`` and no bar, as Keras.
"""
import sys
import time

_BAR = 20
_UNKNOWN_CHUNK = 1 << 30  # batches between redraws when the epoch's length is unknown: none


def _duration(seconds):
    return f"{seconds:.0f}s"  # Keras prints whole seconds for elapsed time and ETA


def _per_step(seconds):
    if seconds >= 1:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def _values(logs):
    # Keras switches to scientific notation at and below 1e-3 (a loss of 2e-5 is not 0.0000)
    return "".join(f" - {k}: {v:.4f}" if abs(v) > 1e-3 else f" - {k}: {v:.4e}"
                   for k, v in logs.items())


class Progress:
    def __init__(self, steps, verbose, stream=None):
        self.steps, self.verbose = steps, verbose
        self.stream = stream or sys.stdout
        self.live = verbose == 1 and getattr(self.stream, "isatty", lambda: False)()
        # about 50 redraws per epoch on a terminal; otherwise the whole epoch in one call
        self.chunk = ((max(1, steps // 50) if self.live else steps) if steps else
                      _UNKNOWN_CHUNK)

    def begin_epoch(self, epoch, epochs):
        self.start = time.perf_counter()
        if self.verbose:
            print(f"Epoch {epoch + 1}/{epochs}", file=self.stream, flush=True)

    def _line(self, done, logs, final):
        elapsed = time.perf_counter() - self.start
        per_step = elapsed / max(done, 1)
        if self.verbose == 2 or not self.steps:
            sep = " - " if self.verbose == 2 else " "
            return (f"{done}/{self.steps or 'Unknown'}{sep}{_duration(elapsed)}{sep}"
                    f"{_per_step(per_step)}{_values(logs)}")
        filled = _BAR * done // self.steps
        bar = "━" * filled + "─" * (_BAR - filled) if not final else "━" * _BAR
        timing = (f"{_duration(elapsed)} {_per_step(per_step)}" if final or done == self.steps
                  else f"ETA: {_duration(per_step * (self.steps - done))}")
        return f"{done}/{self.steps} {bar} {timing}{_values(logs)}"

    def update(self, done, logs):
        if self.live and self.steps and done < self.steps:
            self.stream.write("\r" + self._line(done, logs, False))
            self.stream.flush()

    def end_epoch(self, done, logs):
        if self.verbose:
            prefix = "\r" if self.live else ""
            print(prefix + self._line(done, logs, True), file=self.stream, flush=True)
