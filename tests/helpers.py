"""Helpers shared by several test modules: gradient checks and exercise feedback."""
import numpy as np
import pytest


def numerical_gradient(loss, a, eps=1e-4):
    """Central differences of ``loss()`` with respect to every element of ``a``, which is perturbed in place."""
    grad = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        saved = a[idx]
        a[idx] = saved + eps
        up = loss()
        a[idx] = saved - eps
        down = loss()
        a[idx] = saved
        grad[idx] = (up - down) / (2 * eps)
    return grad


@pytest.fixture
def lenient(monkeypatch):
    """Checkers report instead of raising, as for a student (the book's runs set strict mode)."""
    monkeypatch.delenv("CNNLAB_STRICT_EXERCISES", raising=False)


def hint(report) -> str:
    """The hint of a failed report (what a student reads after 'Hint:')."""
    assert not report.passed, report.message
    assert "Hint: " in report.message, report.message
    return report.message.split("Hint: ", 1)[1]


def stub(*args, **kwargs):
    """A starter cell."""
    raise NotImplementedError


def failed_with(report, *phrases):
    """The report failed, and its message contains every phrase."""
    assert not report.passed and report.status == "failed", report.message
    for phrase in phrases:
        assert phrase in report.message, f"{phrase!r} not in:\n{report.message}"
    return report


def hinted(report, phrase):
    """The report failed, and its hint (the text after "Hint: ") says ``phrase``."""
    failed_with(report, "Hint: ")
    hint_text = report.message.split("Hint: ", 1)[1]
    assert phrase in hint_text, f"{phrase!r} not in the hint:\n{hint_text}"
