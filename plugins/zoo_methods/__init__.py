"""Adaptation methods: fine-tune everything, train the head only, LoRA, or self-training."""

from zoo_core import Method, hookimpl


def _full(model, options):
    from zoo_methods.adapt import train_everything

    return train_everything(model, options)


def _freeze(model, options):
    from zoo_methods.adapt import train_head_only

    return train_head_only(model, options)


def _lora(model, options):
    from zoo_methods.adapt import add_lora

    return add_lora(model, options)


def _options(name):
    """The pydantic model of a method's options, imported when a command needs it."""

    def options():
        from zoo_methods import options as models

        return getattr(models, name)

    return options


def _self_training(session):
    from zoo_methods.self_training import self_train

    return self_train(session)


@hookimpl
def zoo_methods():
    yield Method(name="full", summary="Fine-tune every weight", prepare=_full, defaults={"lr": 5e-5, "head_lr": 3e-3}, options=_options("NoOptions"))
    yield Method(
        name="freeze",
        summary="Freeze the backbone and train the new head (a linear probe)",
        prepare=_freeze,
        defaults={"lr": 1e-4, "head_lr": 1e-2},  # lr: the layers unfreeze_last opens
        options=_options("FreezeOptions"),
    )
    yield Method(
        name="lora",
        summary="Low-rank adapters (PEFT) on the attention projections plus the new head",
        prepare=_lora,
        defaults={"lr": 2e-3, "head_lr": 3e-3},
        options=_options("LoraOptions"),
    )
    yield Method(
        name="self-training",
        summary="Pseudo-labels: train on the labels, label --unlabeled data where confident (class-balanced), retrain on both, repeat while validation improves",
        fit=_self_training,
        options=_options("SelfTrainingOptions"),
    )
