"""The layer specification syntax: ``"conv(8,3x3,pad=1)-relu-maxpool(2)-dense(64)-relu-dropout(0.2)-dense(10)"``.

Layers are separated by ``-``; each is a name with its arguments in parentheses,
positional first, then ``key=value`` (``conv(8,3x3,pad=1,stride=2)``), or a bare name
(``relu``, ``batchnorm``). An activation name right after a layer that takes one (a dense
or convolution layer) becomes that layer's σ (``dense(64)-relu`` is one layer,
``z = W a + b``, ``a = relu(z)``); elsewhere it is a layer of its own.

The layer types (:data:`handgrad.layers.base.REGISTRY`): ``dense(n)``, ``conv(filters,KxK[,stride=s][,pad=p])``,
``maxpool(k)``, ``avgpool(k)``, ``dropout(p)``, ``batchnorm``, ``layernorm``, ``rnn(n)``, ``lstm(n)``
and every activation of :mod:`handgrad.activations`.
"""

from __future__ import annotations

import re

from ..activations import ACTIVATIONS, get_activation
from ..errors import ConfigError
from . import conv, dense, normalization, recurrent  # noqa: F401  (each registers its layer types)
from .base import REGISTRY, Layer
from .dense import ActivationLayer

_TOKEN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.S)


def split_tokens(text: str) -> list[str]:
    """The layers of a specification, split at the ``-`` outside parentheses."""
    tokens, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ConfigError(f"layer specification {text!r}: a ')' without its '('")
        if ch == "-" and depth == 0:
            tokens.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise ConfigError(f"layer specification {text!r}: a '(' without its ')'")
    tokens.append("".join(current))
    return tokens


def _is_activation(name: str) -> bool:
    try:
        get_activation(name)
    except ConfigError:
        return False
    return True


def parse_layer(token: str, text: str = "") -> Layer:
    """One layer from its token (``"conv(8,3x3,pad=1)"``); ConfigError naming the token otherwise."""
    where = f" in {text!r}" if text else ""
    m = _TOKEN.match(token)
    if not m or not token.strip():
        raise ConfigError(f"cannot read layer {token!r}{where}; expected name(arguments), e.g. dense(64)")
    name, inner = m.group(1).lower(), m.group(2)
    if inner is None and _is_activation(name) and name not in REGISTRY:
        return ActivationLayer(name)
    if name not in REGISTRY:
        known = sorted(REGISTRY) + sorted(ACTIVATIONS)
        raise ConfigError(f"unknown layer {name!r}{where}; expected one of {', '.join(known)}")
    args, kwargs = [], {}
    for part in (inner or "").split(","):
        part = part.strip()
        if not part:
            if inner is not None and inner.strip():
                raise ConfigError(f"layer {token!r}{where}: an empty argument")
            continue
        if "=" in part:
            key, value = (s.strip() for s in part.split("=", 1))
            if not key.isidentifier():
                raise ConfigError(f"layer {token!r}{where}: cannot read argument {part!r}")
            kwargs[key.lower()] = value
        elif kwargs:
            raise ConfigError(f"layer {token!r}{where}: positional argument {part!r} after a key=value one")
        else:
            args.append(part)
    try:
        return REGISTRY[name](*args, **kwargs)
    except (TypeError, ConfigError) as exc:
        raise ConfigError(f"layer {token.strip()!r}{where}: {exc}") from None


def parse(text: str) -> list[Layer]:
    """The layers of a specification, each activation fused into the layer before it where that layer takes one."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"a layer specification must be a non-empty string, got {text!r}")
    layers: list[Layer] = []
    for token in split_tokens(text):
        layer = parse_layer(token, text)
        if (
            isinstance(layer, ActivationLayer)
            and layers
            and getattr(layers[-1], "takes_activation", False)
            and layers[-1].activation.name == "identity"
        ):
            layers[-1].activation = layer.activation  # dense(64)-relu: one layer, a = relu(W a + b)
            continue
        layers.append(layer)
    return layers


def to_text(layers: list[Layer]) -> str:
    """The specification of ``layers`` (parses back to equal layers)."""
    return "-".join(layer.spec() for layer in layers)


def parse_shape(text) -> tuple[int, ...]:
    """``"1x8x8"`` → (1, 8, 8); ``"8x8"`` → (8, 8); an int or a tuple of ints as they are."""
    if isinstance(text, int) and not isinstance(text, bool):
        parts = [text]
    elif isinstance(text, (tuple, list)):
        parts = list(text)
    elif isinstance(text, str):
        parts = text.lower().replace("×", "x").split("x")
    else:
        raise ConfigError(f"an input shape must be like 1x8x8 or a tuple of positive integers, got {text!r}")
    try:
        shape = tuple(int(str(p).strip()) for p in parts)
    except ValueError:
        shape = ()
    if not shape or any(d < 1 for d in shape):
        raise ConfigError(f"an input shape must be like 1x8x8 or a tuple of positive integers, got {text!r}")
    return shape
