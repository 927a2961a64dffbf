"""Training machinery behind ``python -m tfpipe.train``: schedules, optimizers, precision and
strategy, callbacks (TensorBoard extras, progress record), run directories and resume."""
