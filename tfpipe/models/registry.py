"""The rules shared by the model, encoder and head registries.

A registered builder takes its configuration as keyword-only arguments (a
head also takes the embedding it is applied to, positionally): its
signature is the list of config keys, a parameter without a default is a
required key.  :func:`call` checks a config against that signature and calls
the builder; :func:`variant` makes one builder's named variants (e.g. the
paper's small and large ConvNets, Zhang et al. 2015, Table 1) from a table
of defaults, so that each variant's signature shows its own defaults while
the code is written once.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Iterable, Mapping

# A ``defaults`` value of :func:`variant`: the key has no default in that variant.
REQUIRED = inspect.Parameter.empty


def check_signature(fn: Callable[..., Any], *, kind: str, name: str, positional: int = 0) -> None:
    """Raises ``TypeError`` unless ``fn`` takes keyword-only arguments after ``positional`` others."""
    params = list(inspect.signature(fn).parameters.values())
    wrong = [p.name for p in params[positional:] if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    if wrong or len(params) < positional:
        raise TypeError(
            f"builder {getattr(fn, '__qualname__', fn)} for {kind} {name!r} must take keyword-only "
            f"arguments; put `*` before {wrong}"
        )


def keys(fn: Callable[..., Any], *, positional: int = 0) -> list[str]:
    """``fn``'s config keys, in signature order."""
    return list(inspect.signature(fn).parameters)[positional:]


def required(fn: Callable[..., Any], *, positional: int = 0) -> list[str]:
    """``fn``'s config keys without a default value."""
    params = list(inspect.signature(fn).parameters.values())[positional:]
    return [p.name for p in params if p.default is inspect.Parameter.empty]


def call(
    fn: Callable[..., Any],
    config: Mapping[str, Any],
    *,
    kind: str,
    name: str,
    args: tuple[Any, ...] = (),
    ignored: Iterable[str] = (),
) -> Any:
    """``fn(*args, **config)`` after checking ``config`` against ``fn``'s keys.

    Keys in ``ignored`` that ``fn`` does not take are dropped (the data keys
    every model is offered); any other unknown key, and a missing required
    key, raise ``ValueError`` naming the valid keys.  A float key written
    ``1e-4`` (which YAML 1.1 reads as a string) becomes a float.
    """
    accepted = keys(fn, positional=len(args))
    ignored = set(ignored)
    unknown = sorted(k for k in config if k not in accepted and k not in ignored)
    if unknown:
        raise ValueError(f"unknown config key(s) {unknown} for {kind} {name!r}; valid keys: {accepted}")
    missing = [k for k in required(fn, positional=len(args)) if k not in config]
    if missing:
        raise ValueError(f"{kind} {name!r} needs {missing}; valid keys: {accepted}")
    params = inspect.signature(fn).parameters
    return fn(*args, **{k: _numeric(kind, k, params[k], v) for k, v in config.items() if k in accepted})


def _numeric(kind: str, key: str, param: inspect.Parameter, value: Any) -> Any:
    if isinstance(value, str) and str(param.annotation).startswith("float"):
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{kind} key {key!r} must be a number, got {value!r}") from None
    return value


def variant(
    fn: Callable[..., Any],
    name: str,
    *,
    defaults: Mapping[str, Any] | None = None,
    fixed: Mapping[str, Any] | None = None,
    doc: str,
) -> Callable[..., Any]:
    """``fn`` with some keys fixed and others given new defaults, as a builder of its own.

    The variant's signature is ``fn``'s without the ``fixed`` keys (passed to
    ``fn`` as given) and with ``defaults`` replacing the defaults (a value of
    :data:`REQUIRED` makes the key required, and drops ``| None`` from its
    annotation), so the registries, ``python -m tfpipe.config`` and
    ``inspect.signature`` see exactly the variant's keys.
    """
    defaults, fixed = dict(defaults or {}), dict(fixed or {})
    signature = inspect.signature(fn)
    unknown = sorted((set(defaults) | set(fixed)) - set(signature.parameters))
    if unknown:
        raise TypeError(f"variant {name!r} of {fn.__qualname__}: no such key(s) {unknown}")
    params = [
        _with_default(p, defaults[p.name]) if p.name in defaults else p
        for p in signature.parameters.values()
        if p.name not in fixed
    ]

    def build(*args: Any, **config: Any) -> Any:
        bound = build.__signature__.bind(*args, **config)
        bound.apply_defaults()
        return fn(*bound.args, **bound.kwargs, **fixed)

    build.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    build.__name__ = build.__qualname__ = name
    build.__module__ = fn.__module__
    build.__doc__ = doc
    build.__wrapped_builder__ = fn  # type: ignore[attr-defined]
    return build


def _with_default(param: inspect.Parameter, default: Any) -> inspect.Parameter:
    annotation = param.annotation
    if default is REQUIRED and isinstance(annotation, str) and annotation.endswith(" | None"):
        annotation = annotation[: -len(" | None")]
    return param.replace(default=default, annotation=annotation)
