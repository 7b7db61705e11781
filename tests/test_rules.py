"""Every registered case through the shared harness, and registry coverage of the public API."""

import pytest

from matcalc.testing import check_float32, check_rule
from tests.cases import harness_cases, public_ops

CASES = harness_cases()


def test_every_public_op_has_a_case():
    covered = {c.op for c in CASES}
    missing = sorted(set(public_ops()) - covered)
    assert not missing, f"public operations without a harness case: {missing}"


def test_cases_name_public_ops():
    unknown = sorted({c.op for c in CASES} - set(public_ops()))
    assert not unknown, f"cases for names that are not public: {unknown}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_harness(case):
    check_rule(case.ours, *case.args, **case.check)


F32 = [c for c in CASES if c.float32_rtol is not None]


@pytest.mark.parametrize("case", F32, ids=[c.id for c in F32])
def test_float32_smoke(case):
    kwargs = {k: case.check[k] for k in ("argnums", "tangent_projection", "output_gauge") if k in case.check}
    for flag in ("check_jvp", "check_vjp"):
        if case.check.get(flag) is False:
            kwargs[flag] = False
    check_float32(case.ours, *case.args, rtol=case.float32_rtol, **kwargs)
