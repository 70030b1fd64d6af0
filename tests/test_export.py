"""`zoo export`, `zoo predict`, `zoo bench` on a fine-tuned tiny BERT, on the real ONNX Runtime."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import assert_one_line_error, zoo
from tiny_models import sentiment_rows, tiny_bert, write_csv

pytestmark = pytest.mark.slow  # trains, exports or serves for real: left out of `pytest -m "not slow"`


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("export-data")
    zoo("pull", str(tiny_bert(folder / "ckpt")), "--name", "tiny-bert-export")
    train = write_csv(folder / "train.csv", sentiment_rows(240, 1))
    [outcome] = json.loads(
        zoo("finetune", "tiny-bert-export", "--data", str(train), "--epochs", "4", "--lr", "5e-3", "--register", "sentiment-onnx", "--json").stdout
    )
    return {**outcome, "test": write_csv(folder / "test.csv", sentiment_rows(100, 3)), "folder": folder}


@pytest.fixture(scope="module")
def exported(model: dict) -> dict:
    out = model["folder"] / "export"
    result = zoo("export", "models:/sentiment-onnx/1", "--out", str(out), "--optimize", "--quantize", "int8", "--fp16", "--data", str(model["test"]), "--json")
    return json.loads(result.stdout)


def test_export_writes_validated_variants(exported: dict, model: dict) -> None:
    out = Path(exported["path"])
    assert list(exported["variants"]) == ["fp32", "optimized", "int8", "fp16"]
    for variant in exported["variants"].values():
        assert (out / variant["files"]["model"]).stat().st_size > 0
    assert exported["variants"]["fp32"]["max_abs_diff"]["logits"] < 1e-3
    assert exported["variants"]["optimized"]["max_abs_diff"]["logits"] < 1e-3
    assert (out / "tokenizer.json").is_file()
    info = json.loads((out / "zoo-export.json").read_text())
    assert info["source"] == "models:/sentiment-onnx/1" and info["run_id"] == model["run_id"] and info["labels"] == ["negative", "positive"]
    metrics = info["metrics"]
    assert metrics["pytorch"]["accuracy"] >= 0.9 and metrics["examples"] == 100
    for name in ("fp32", "optimized", "int8", "fp16"):
        assert abs(metrics[name]["drop_points"]) <= 1.0


def test_fp16_is_the_fused_graph_with_fp32_inputs_and_outputs(exported: dict) -> None:
    import onnx

    graph = onnx.load(str(Path(exported["path"]) / exported["variants"]["fp16"]["files"]["model"]))
    operators = {node.op_type for node in graph.graph.node}
    assert {"Attention", "SkipLayerNormalization"} <= operators, operators
    assert "Softmax" not in operators, "attention is one fused operator, not a dozen small ones"
    weights = [tensor for tensor in graph.graph.initializer if len(tensor.dims) == 2]
    assert weights and all(tensor.data_type == onnx.TensorProto.FLOAT16 for tensor in weights)
    float32 = onnx.TensorProto.FLOAT
    assert [item.type.tensor_type.elem_type for item in graph.graph.output] == [float32]
    assert exported["variants"]["fp16"]["max_abs_diff"]["logits"] < 1e-2


def test_export_is_logged_on_its_own_run_linked_to_training(exported: dict, model: dict) -> None:
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{os.environ['ZOO_HOME']}/mlflow.db")
    client = MlflowClient()
    training = client.get_run(model["run_id"])
    assert training.data.tags["zoo.export"] == exported["path"]
    assert client.list_artifacts(model["run_id"], "export") == [], "the training run keeps only what training made"
    export_run = client.get_run(training.data.tags["zoo.export_run"])
    assert export_run.data.tags["zoo.kind"] == "export" and export_run.data.tags["zoo.source_run"] == model["run_id"]
    assert {item.path for item in client.list_artifacts(export_run.info.run_id, "export")} >= {"export/model.onnx", "export/zoo-export.json"}
    assert export_run.data.metrics["int8_accuracy"] == exported["metrics"]["int8"]["accuracy"]
    onnx_model = mlflow.onnx.load_model(export_run.data.tags["zoo.onnx_model"])
    assert [node.name for node in onnx_model.graph.input][:2] == ["input_ids", "attention_mask"]
    version = client.get_model_version("sentiment-onnx", "1")
    assert version.tags["onnx_export"] == exported["path"] and version.tags["export_run"] == export_run.info.run_id
    runs = {run["run_id"]: run for run in json.loads(zoo("runs", "--json").stdout)}
    assert runs[export_run.info.run_id]["kind"] == "export" and runs[model["run_id"]]["kind"] == "finetune"


def test_predict_labels_texts_without_torch(exported: dict, tmp_path: Path) -> None:
    out = zoo("predict", exported["path"], "the film was wonderful", "a dull and boring plot").stdout.splitlines()
    assert out[0].startswith("positive\t") and out[1].startswith("negative\t")
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text('{"text": "the film was wonderful"}\n"a dull and boring plot"\n')  # as above, through a file: an object and a bare string
    results = json.loads(zoo("predict", exported["path"], "--file", str(inputs), "--provider", "cpu", "--variant", "fp32", "--json").stdout)
    assert [result["label"] for result in results] == ["positive", "negative"]
    assert all(abs(sum(result["scores"].values()) - 1) < 1e-6 for result in results)


def test_bench_compares_pytorch_and_every_variant(exported: dict) -> None:
    result = json.loads(zoo("bench", exported["path"], "--batch", "1,4", "--length", "16", "--runs", "3", "--rounds", "2", "--threads", "1", "--json").stdout)
    engines = {(row["batch"], row["engine"]) for row in result["rows"]}
    assert engines == {(batch, engine) for batch in (1, 4) for engine in ("pytorch eager", "onnx fp32", "onnx optimized", "onnx int8")}, "fp16 runs only on a GPU"
    assert all(0 < row["min_ms"] <= row["median_ms"] <= row["max_ms"] and row["speedup"] > 0 for row in result["rows"])
    assert result["rounds"] == 2 and result["load_before"] is not None
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{os.environ['ZOO_HOME']}/mlflow.db")
    client = MlflowClient()
    training = client.get_run(json.loads((Path(exported["path"]) / "zoo-export.json").read_text())["run_id"])
    bench_run = client.get_run(training.data.tags["zoo.bench_run"])
    assert bench_run.data.tags["zoo.kind"] == "bench" and bench_run.data.metrics["onnx_int8_b4_ms"] > 0
    assert training.info.end_time < bench_run.info.start_time, "benchmarking later does not stretch the training run"
    assert json.loads(Path(result["saved"]).read_text())["rows"] == result["rows"]


def test_a_perturbed_graph_is_refused(model: dict, tmp_path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import numpy_helper

    from zoo_nlp.text_classification import TextClassification
    from zoo_onnx.export import _torch_export, validate
    from zoo_onnx.runtime import ExportError

    adapter = TextClassification()
    network, processor, _ = adapter.load_trained(Path(model["model_dir"]))
    network.eval()
    spec = adapter.export_spec(network, processor)
    graph = tmp_path / "model.onnx"
    _torch_export(network, spec, graph, 17)
    assert validate(graph, network, spec)["logits"] < 1e-3
    proto = onnx.load(str(graph))
    weight = max(proto.graph.initializer, key=lambda tensor: np.prod(tensor.dims))
    noise = np.random.default_rng(0).normal(0, 0.5, size=tuple(weight.dims))  # not a constant shift: LayerNorm would absorb it
    perturbed = numpy_helper.to_array(weight) + noise
    weight.CopyFrom(numpy_helper.from_array(perturbed.astype(np.float32), weight.name))
    onnx.save(proto, str(graph))
    with pytest.raises(ExportError, match="does not match PyTorch"):
        validate(graph, network, spec)
    weight.CopyFrom(numpy_helper.from_array(np.full(tuple(weight.dims), np.inf, dtype=np.float32), weight.name))
    onnx.save(proto, str(graph))
    with pytest.raises(ExportError, match="gives NaN or infinite logits"):
        validate(graph, network, spec, tolerance=None)  # even where no tolerance applies (int8)


def test_bad_export_and_predict_input(model: dict, exported: dict, tmp_path: Path) -> None:
    assert_one_line_error(zoo("export", "no-such-model", check=False), "'no-such-model' is not a catalog name")
    out = tmp_path / "never"
    assert_one_line_error(zoo("export", model["model_dir"], "--opset", "7", "--out", str(out), check=False), "--opset 7: Input should be greater than or equal to 14")
    assert not out.exists() and not list(tmp_path.glob(".never*")), "nothing half-written"
    assert_one_line_error(zoo("export", model["model_dir"], "--quantize", "int4", "--out", str(out), check=False), "--quantize int4: Input should be 'int8'")
    assert_one_line_error(zoo("export", model["model_dir"], "--format", "tflite", check=False), "unknown exporter 'tflite'; exporters are onnx")
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("zoo-export.json", "tokenizer.json"):
        (broken / name).write_bytes((Path(exported["path"]) / name).read_bytes())
    (broken / "model.onnx").write_bytes(b"not a graph")
    assert_one_line_error(zoo("predict", str(broken), "text", "--variant", "fp32", check=False), "model.onnx is not a usable ONNX graph")
    assert_one_line_error(zoo("predict", str(tmp_path), "text", check=False), "is not a zoo export")
    assert_one_line_error(zoo("predict", exported["path"], check=False), "nothing to predict")
    assert_one_line_error(zoo("predict", exported["path"], "x", "--variant", "int4", check=False), "this export has no int4 variant")
    (broken / "zoo-export.json").write_text('{"format": "onnx", ')
    assert_one_line_error(zoo("predict", str(broken), "text", check=False), "zoo-export.json is damaged")


def test_io_binding_gives_the_session_outputs(exported: dict) -> None:
    """The binding zoo uses on GPUs (here bound to CPU memory, the only device CI has)."""
    import numpy as np

    from zoo_core.runtime import read_export
    from zoo_nlp.text_classification import TextClassification
    from zoo_onnx.runtime import OnnxRuntime, _Bound

    export = read_export(Path(exported["path"]))
    session = OnnxRuntime(export.path, export.report, "cpu", "optimized").sessions["model"]
    arrays = TextClassification().export_inputs(export.path, ["a superb cast", "the film was dull and boring and tedious"], 64)
    feed = {item.name: arrays[item.name] for item in session.get_inputs()}
    expected = session.run(None, feed)[0]
    for shapes in (None, [expected.shape]):  # outputs allocated by onnxruntime, or once up front (CUDA graphs)
        bound = _Bound(session, feed, shapes, device="cpu")
        bound.once()
        bound.once()
        assert np.allclose(bound.outputs()[0], expected, atol=1e-6)
