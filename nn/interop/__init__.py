"""Interop: take a model elsewhere. ``to_onnx`` writes an ONNX file (needs the ``onnx``
package, imported only when called)."""

from nn.interop._onnx import to_onnx

__all__ = ["to_onnx"]
