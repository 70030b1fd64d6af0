"""The ONNX exporter's options (`zoo export -o key=value`; `--opset`, `--optimize`, `--quantize`, `--fp16` are aliases)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OnnxOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opset: int = Field(17, ge=14, le=20, description="the ONNX opset to export with")
    optimize: bool = Field(False, description="also write a fused graph (onnxruntime's transformer optimizer)")
    quantize: Literal["int8"] | None = Field(None, description="int8: also write a dynamic int8 graph for CPUs")
    fp16: bool = Field(False, description="also write a fused fp16 graph for GPUs (fp32 inputs and outputs)")
