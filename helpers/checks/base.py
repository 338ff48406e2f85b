"""The verdict every check gives: passed, or what is wrong plus a hint."""
from __future__ import annotations

import html
import sys
from collections.abc import Callable
from dataclasses import dataclass


class CheckFailed(AssertionError):
    """Raised by a check that did not pass, so a notebook run stops where the problem is."""

    def _render_traceback_(self) -> list[str]:
        """What Jupyter shows instead of a traceback: the verdict above already says what is wrong."""
        return ["CheckFailed: not passed yet. The verdict above says what to change; run the check again after."]


class NotDoneYet(NotImplementedError):
    """Raised by a check whose exercise still holds the ``...`` placeholder."""

    def _render_traceback_(self) -> list[str]:
        """What Jupyter shows instead of a traceback: one line, no check internals."""
        return [f"NotDoneYet: {self}"]


@dataclass
class Verdict:
    """The result of one check: ``ok``, a message and (when not ok) a hint."""

    exercise: str
    ok: bool
    message: str
    hint: str = ""
    shown: bool = False  # already displayed by the check itself

    def _ipython_display_(self) -> None:
        """Jupyter shows a returned verdict only if the check has not shown it already."""
        if not self.shown:
            _show(self)

    def __str__(self) -> str:
        mark = "[OK]" if self.ok else "[NOT YET]"
        text = f"{mark} {self.exercise}: {self.message}"
        return text + (f"\n      Hint: {self.hint}" if self.hint and not self.ok else "")

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.ok else "#cf222e"
        mark = "✔ Correct" if self.ok else "✘ Not yet"
        hint = f"<br><i>Hint:</i> {html.escape(self.hint)}" if self.hint and not self.ok else ""
        return (f'<div style="border-left:4px solid {colour};padding:4px 8px">'
                f'<b style="color:{colour}">{mark}</b> · {html.escape(self.exercise)}: '
                f'{html.escape(self.message)}{hint}</div>')


def _show(v: Verdict) -> None:
    v.shown = True
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display

        if get_ipython() is not None:
            display(HTML(v._repr_html_()))
            return
    except ImportError:
        pass
    print(v, file=sys.stdout)


def verdict(exercise: str, tests: list[tuple[Callable[[], bool], str, str]], success: str,
            raise_on_fail: bool = True) -> Verdict:
    """Run ``tests`` — (condition, what is wrong, hint) — in order; show and return the verdict.

    The first failing condition decides the message. A condition that raises counts as failing.
    With ``raise_on_fail`` (the default) a failed check also raises ``CheckFailed`` after showing
    the verdict, so "Run all" stops at the first exercise that is not done yet.
    """
    for condition, problem, hint in tests:
        try:
            ok = bool(condition())
        except NotImplementedError as e:
            raise not_done(e) from None
        except Exception as e:  # a malformed answer: report it as not yet right
            ok, problem = False, f"{problem} ({type(e).__name__}: {e})"
        if not ok:
            v = Verdict(exercise, False, problem, hint)
            _show(v)
            if raise_on_fail:
                raise CheckFailed(str(v))
            return v
    v = Verdict(exercise, True, success)
    _show(v)
    return v


def require_done(*values: object, exercise: str = "this exercise") -> None:
    """Raise ``NotImplementedError`` if any value is still the ``...`` placeholder of an exercise."""
    if any(v is Ellipsis for v in values):
        raise NotDoneYet(f"{exercise} is not done yet: replace the `...` with your code, then run the check again.")


def not_done(error: NotImplementedError) -> NotDoneYet:
    """``error`` as a ``NotDoneYet`` (shown in one line, without the check's own traceback)."""
    if isinstance(error, NotDoneYet):
        return error
    return NotDoneYet(str(error) or "this exercise is not done yet: write your code where it says YOUR CODE HERE.")


def call_learner(fn: Callable, *args: object, **kwargs: object) -> tuple[object, str | None]:
    """Run a learner's function: ``(result, None)``, or ``(None, "what it raised")``.

    ``NotImplementedError`` (an exercise not done yet) passes through unchanged.
    """
    try:
        return fn(*args, **kwargs), None
    except NotImplementedError as e:
        raise not_done(e) from None
    except Exception as e:  # reported in the verdict, with the exception's name
        return None, f"{type(e).__name__}: {str(e)[:300]}"


def first_failure(tests: list[tuple[Callable[[], bool], str, str]]) -> tuple | None:
    """The first (condition, problem, hint) whose condition is false or raises, or None."""
    for test in tests:
        try:
            if not test[0]():
                return test
        except NotImplementedError as e:
            raise not_done(e) from None
        except Exception:  # a malformed answer counts as failing
            return test
    return None


def raised(exercise: str, name: str, error: str, hint: str) -> Verdict:
    """The verdict for a learner's function ``name`` that raised ``error``."""
    return verdict(exercise, [(lambda: False, f"`{name}` raised {error}.", hint)], "")
