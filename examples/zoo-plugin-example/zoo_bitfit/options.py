"""BitFit's options: `zoo finetune REF --method bitfit -o bias_lr=0.001`, or `options: {bias_lr: 0.001}` in a recipe."""

from pydantic import BaseModel, ConfigDict, Field


class BitFitOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bias_lr: float | None = Field(None, gt=0, description="learning rate of the bias terms (default: --lr)")
