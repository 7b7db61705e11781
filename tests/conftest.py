"""Strict JAX settings for the whole suite: float64, strict dtype promotion, no rank promotion.

The suite is compile-bound: most of its time is XLA compiling small programs once. A cheaper CPU
code generator, set here before JAX is imported and inherited by the subprocesses some tests start
(notebook kernels, the sharding check, the bad-input probes), cuts that cost by about half: the same
HLO, compiled with less optimization of the machine code. Results may differ from the default
code generator's in the last bits (as between any two separately compiled programs), so a test
comparing two programs bounds their difference by the rounding the algorithm can amplify. It is
LLVM's cheap pipeline (``--xla_backend_optimization_level=0``, no expensive passes) and XLA's
elemental fusion emitter in place of the MLIR fusion emitters
(``--xla_cpu_use_fusion_emitters=false``). A user's own
``XLA_FLAGS`` naming the optimization level are left alone. The benchmarks compile with XLA's
defaults.

``MATCALC_TEST_CACHE=<folder>`` also turns on JAX's persistent compilation cache there (shared by
the xdist workers and kept between runs: a second run is several times faster). It is off by
default: on JAX 0.10.2 serializing one of the suite's executables for the cache crashed a worker
once in a full run (a segmentation fault inside ``executable.serialize()``).
"""

import os

_CHEAP_CODEGEN = (
    "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true "
    "--xla_cpu_use_fusion_emitters=false"
)
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_CHEAP_CODEGEN}".strip()
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

_cache = os.environ.get("MATCALC_TEST_CACHE", "")
if _cache and _cache != "off":
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _cache)
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import jax  # noqa: E402

from tests._crash_rerun import (  # noqa: E402, F401
    pytest_handlecrashitem,
    pytest_report_teststatus,
    pytest_terminal_summary,
)

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")
