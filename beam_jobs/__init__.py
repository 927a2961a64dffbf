"""Apache Beam jobs (``python -m beam_jobs.<job>``); the only place that imports Beam."""
