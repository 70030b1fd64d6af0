"""Fine-tuning: REF + data + recipe -> a trained model folder, an MLflow run and a registered version.

The entry points are in `finetune` (finetune, adapt_recipe), `resume`, `launch` (torchrun) and
`evaluate` (zoo eval); this package file imports nothing, so reading data costs no training imports.
"""



