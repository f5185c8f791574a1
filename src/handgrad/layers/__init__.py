"""Layer types beyond the dense layer, each with its backward pass derived by hand (see ``docs/derivation.md``).

A :class:`LayerStack` chains layers (``"conv(8,3x3,pad=1)-relu-maxpool(2)-dense(64)-relu-dense(10)"``)
over one flat parameter buffer, so the optimizers, the training step and model files treat it as
they treat a :class:`handgrad.Network`.
"""

from .base import REGISTRY, Layer, ParamSpec, register
from .dense import ActivationLayer, Dense
from .spec import parse, parse_shape, to_text
from .stack import LayerStack, StackGradients, StackLayout

__all__ = [
    "REGISTRY",
    "ActivationLayer",
    "Dense",
    "Layer",
    "LayerStack",
    "ParamSpec",
    "StackGradients",
    "StackLayout",
    "parse",
    "parse_shape",
    "register",
    "to_text",
]
