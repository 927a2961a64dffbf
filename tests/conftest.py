"""Shared pytest fixtures: small data directories written with the real encoder."""
from __future__ import annotations

import os
import random

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

SHARED_DATA = os.environ.get(
    "TFPIPE_SHARED_DATA",
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data"),
)


def shared_path(*parts: str) -> str:
    """Path under ../shared/data, or a pytest skip when that corpus is absent."""
    path = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"real corpus {path} not present (it lives beside the repo in ../shared/data)")
    return path


# ---------------------------------------------------------------------- CPU without native bf16

# A hand-written /proc/cpuinfo of an AVX2-only CPU (no avx512_bf16, no amx_bf16).
AVX2_ONLY_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: AVX2-only test CPU
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx fma avx2

"""


@pytest.fixture(scope="session")
def avx2_only_cpuinfo(tmp_path_factory) -> str:
    """Path of a file holding :data:`AVX2_ONLY_CPUINFO`."""
    path = tmp_path_factory.mktemp("cpuinfo") / "cpuinfo"
    path.write_text(AVX2_ONLY_CPUINFO)
    return str(path)


@pytest.fixture(scope="session", autouse=True)
def cpu_without_native_bf16(avx2_only_cpuinfo):
    """Every test runs as on a CPU without native bfloat16: ``tfpipe.training.devices`` reads
    :data:`AVX2_ONLY_CPUINFO` instead of /proc/cpuinfo, so ``train.mixed_precision: auto``
    resolves to float32 on every CPU-only machine and tests check float32 numerics whatever
    CPU runs them.  A test of the bfloat16 choice points ``devices.CPUINFO`` at its own text.
    Session-scoped, so module- and session-scoped fixtures that train see it too.
    (``python -m ...`` subprocesses read the real /proc/cpuinfo.)"""
    from tfpipe.training import devices

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(devices, "CPUINFO", avx2_only_cpuinfo)
        yield


_TOPICS = {
    "sports": ["match", "goal", "team", "coach", "season", "league", "score", "win"],
    "business": ["market", "stock", "profit", "shares", "bank", "trade", "deal", "price"],
    "science": ["study", "space", "cell", "gene", "planet", "lab", "research", "data"],
}


def toy_rows(n_per_class: int, seed: int = 0) -> list[tuple[str, str, int]]:
    """Labelled texts whose class is decided by topic words (learnable in seconds)."""
    rng = random.Random(seed)
    rows = []
    fillers = ["the", "a", "of", "in", "on", "and", "today", "new"]
    for label, words in enumerate(_TOPICS.values()):
        for i in range(n_per_class):
            text = " ".join(rng.choice(words if rng.random() < 0.6 else fillers) for _ in range(12))
            rows.append((f"toy:{label}:{i}", text.capitalize() + ".", label))
    return rows


TOY_CLASSES = [name.title() for name in _TOPICS]


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> str:
    """A 3-class data directory (l0=64, 2 train shards) written with records.write_dataset."""
    from tfpipe.data import records

    data_dir = str(tmp_path_factory.mktemp("tiny_data"))
    rows = toy_rows(40)
    test_rows = toy_rows(10, seed=1)
    records.write_dataset(
        data_dir,
        {"train": rows, "test": test_rows},
        TOY_CLASSES,
        l0=64,
        max_words=16,
        num_shards=2,
    )
    return data_dir


# --------------------------------------------------------------------------- JAX backend

# The script run by ``jax_backend``: each check's code in its own namespace, in one process
# whose Keras backend is JAX; prints ``{name: null | traceback}`` as the last stdout line.
_JAX_RUNNER = """
import json, sys, traceback
checks = json.loads(sys.stdin.read())
results = {}
for name, code in checks.items():
    try:
        exec(compile(code, name, "exec"), {"__name__": name})
        results[name] = None
    except BaseException:  # noqa: BLE001  (reported to the test that owns the check)
        results[name] = traceback.format_exc()
print(json.dumps(results))
"""


@pytest.fixture(scope="session")
def jax_backend(request, tmp_path_factory) -> dict:
    """Runs every collected test module's ``JAX_BACKEND_CHECK`` (Python code that builds a
    model and asserts on its output) in one fresh ``KERAS_BACKEND=jax`` process: JAX and
    Keras start once for all the models.  Returns ``{module name: None | the traceback}``;
    each module's ``test_runs_on_the_jax_backend`` asserts its own entry is None."""
    import json
    import subprocess
    import sys

    pytest.importorskip("jax", reason="jax is not installed; the JAX backend check needs it")
    checks = {}
    for item in request.session.items:
        module = getattr(item, "module", None)
        code = getattr(module, "JAX_BACKEND_CHECK", None)
        if code:
            checks[module.__name__] = code
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def run() -> dict:
        env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": root}
        done = subprocess.run([sys.executable, "-c", _JAX_RUNNER], input=json.dumps(checks),
                              capture_output=True, text=True, env=env, cwd=root, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout.splitlines()[-1])

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return run()
    # Under pytest-xdist every worker collects the same checks: the first worker to take the
    # lock runs them once for all, the others read its results from the shared directory.
    import time

    shared = tmp_path_factory.getbasetemp().parent
    lock, result = shared / "jax_backend.lock", shared / "jax_backend.json"
    try:
        os.mkdir(lock)
    except FileExistsError:
        deadline = time.monotonic() + 360
        while not result.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"another worker holds {lock} but wrote no {result}")
            time.sleep(0.5)
        return json.loads(result.read_text())
    try:
        results = run()
    except BaseException as e:  # every worker's checks then fail with the runner's error
        results = {name: f"the JAX runner failed: {e}" for name in checks}
    partial = shared / f"jax_backend.{os.getpid()}.tmp"
    partial.write_text(json.dumps(results))
    os.replace(partial, result)
    return results
