"""The reference for bench/finetune.py: a plain Hugging Face Trainer script, no zoo.

    python bench/plain_trainer.py MODEL_DIR TRAIN_CSV VAL_CSV --epochs 1 --lr 5e-5 --batch-size 32 --max-length 64

It does what a careful script does and what zoo does per epoch: evaluate on the
validation file and save a checkpoint. Prints one JSON line with the Trainer's
own train_samples_per_second.
"""

from __future__ import annotations

import argparse
import json

import datasets
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments, set_seed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("train")
    parser.add_argument("val")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    args = parser.parse_args()
    set_seed(42)
    data = datasets.load_dataset("csv", data_files=args.train, split="train")
    labels = sorted(set(data["label"]))
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSequenceClassification.from_pretrained(
        args.model, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)}
    )
    label2id = {label: i for i, label in enumerate(labels)}

    def encode(dataset):
        return dataset.map(
            lambda batch: {**tokenizer(batch["text"], truncation=True, max_length=args.max_length), "labels": [label2id[label] for label in batch["label"]]},
            batched=True,
            remove_columns=dataset.column_names,
        )

    def accuracy(prediction):
        return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}

    training = TrainingArguments(
        output_dir="/tmp/zoo-plain-trainer",
        num_train_epochs=args.epochs,
        learning_rate=args.lr,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=max(args.batch_size, 32),
        eval_strategy="epoch",
        save_strategy="epoch",
        report_to=[],
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        seed=42,
    )
    val = datasets.load_dataset("csv", data_files=args.val, split="train")
    trainer = Trainer(
        model=model,
        args=training,
        train_dataset=encode(data),
        eval_dataset=encode(val),
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=accuracy,
    )
    result = trainer.train()
    print(json.dumps({"train_samples_per_second": result.metrics["train_samples_per_second"]}))


if __name__ == "__main__":
    main()
