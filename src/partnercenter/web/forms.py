"""Turning a domain error into what a console form shows."""

from __future__ import annotations

from dataclasses import dataclass, field

from partnercenter.core.errors import DomainError
from partnercenter.core.i18n import Translator


@dataclass
class FormError:
    message: str
    problems: dict[str, str] = field(default_factory=dict)


def form_error(error: DomainError, tr: Translator) -> FormError:
    problems: dict[str, str] = {}
    for problem in error.problems:
        problems.setdefault(problem.field, problem.render(tr))
    return FormError(error.render(tr), problems)
