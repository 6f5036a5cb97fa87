"""The user's own data: .npz files, folders of images, tfds, and their refusals."""
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from pruning import cli
from pruning.data import splits as data
from pruning.data import sources as data_sources
from pruning.experiment import pipeline
from pruning.config import ExperimentConfig
from pruning.errors import ConfigError, DataError
from pruning.experiment.pipeline import Outputs

SMALL = dict(retrain_epochs=2, batch_size=32, frequency=1, latency_runs=5, latency_window=0,
             calibration_samples=16, pretrain_epochs=2)


def _images(n, classes=3, shape=(12, 12), seed=0):
    """Class c: a bright c-th band of rows, plus noise (learnable in two epochs)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.integers(0, 60, (n, *shape)).astype(np.uint8)
    band = shape[0] // classes
    for i, c in enumerate(y):
        x[i, c * band:(c + 1) * band] += 180
    return x, y


def test_npz_with_its_own_validation_split(store, tmp_path):
    (xt, yt), (xv, yv), (xs, ys) = _images(300), _images(40, seed=1), _images(60, seed=2)
    path = tmp_path / "mine.npz"
    np.savez(path, x_train=xt, y_train=yt, x_val=xv, y_val=yv, x_test=xs, y_test=ys)
    splits = data.load(str(path), "", 0.1, 0)
    assert len(splits.x_train) == 300 and len(splits.x_val) == 40  # none held out
    assert splits.input_shape == (12, 12, 1) and splits.num_classes == 3
    assert splits.x_train.max() <= 1.0 and splits.name == "mine"
    result = pipeline.run(ExperimentConfig(dataset=str(path), **SMALL),
                            outputs=Outputs(export=False))
    assert result.metrics["test_accuracy"] > 0.9
    run = MlflowClient().get_run(result.run_id)
    inputs = {i.dataset.name: i.dataset for i in run.inputs.dataset_inputs}
    assert inputs["mine-evaluation"].digest == splits.digest
    assert str(path) in inputs["mine-training"].source
    assert run.info.run_name.startswith("mlp-mine-")


def test_npz_of_float_features_with_a_builder(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    x = (rng.normal(size=(400, 12)) + y[:, None] * 1.5).astype(np.float32)  # tabular
    path = tmp_path / "tabular.npz"
    np.savez(path, x_train=x[:300], y_train=y[:300], x_test=x[300:], y_test=y[300:])
    (tmp_path / "tab_models.py").write_text(
        "import tf_keras as keras\n\n"
        "def build(input_shape, num_classes):\n"
        "    inputs = keras.Input(input_shape)\n"
        "    x = keras.layers.Dense(64, activation='relu')(inputs)\n"
        "    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))\n")
    monkeypatch.chdir(tmp_path)
    splits = data.load(str(path), "", 0.1, 0)
    assert not splits.scaled and np.array_equal(splits.x_test, x[300:])  # used as they are
    result = pipeline.run(ExperimentConfig(dataset=str(path), model="tab_models:build",
                                             **SMALL), tracking=False,
                            outputs=Outputs(export=False))
    assert result.metrics["test_accuracy"] > 0.8


def _write_pngs(folder, x, y, names=("circle", "square", "star"), mode="L"):
    for i, (image, label) in enumerate(zip(x, y)):
        target = folder / names[label]
        target.mkdir(parents=True, exist_ok=True)
        pixels = image if mode == "L" else np.stack([image] * 3, axis=-1)
        Image.fromarray(pixels, mode).save(target / f"{i}.png")


def test_image_folder_with_train_and_test(store, tmp_path):
    (xt, yt), (xs, ys) = _images(150), _images(30, seed=1)
    _write_pngs(tmp_path / "shapes" / "train", xt, yt)
    _write_pngs(tmp_path / "shapes" / "test", xs, ys)
    splits = data.load(str(tmp_path / "shapes"), "", 0.1, 0)
    assert splits.input_shape == (12, 12, 1) and splits.num_classes == 3
    assert len(splits.x_train) + len(splits.x_val) == 150 and len(splits.x_test) == 30
    # the pixels are the PNGs' own: sorted class folders give labels 0, 1, 2
    assert sorted(np.unique(splits.y_test)) == [0, 1, 2]
    result = pipeline.run(ExperimentConfig(dataset=str(tmp_path / "shapes"), model="mlp",
                                             **SMALL), outputs=Outputs(export=False))
    assert result.metrics["test_accuracy"] > 0.8


def test_one_image_folder_split_by_seed(tmp_path):
    x, y = _images(100)
    _write_pngs(tmp_path / "rgb", x, y, mode="RGB")
    a = data.load(str(tmp_path / "rgb"), "", 0.2, seed=0)
    b = data.load(str(tmp_path / "rgb"), "", 0.2, seed=1)
    assert a.input_shape == (12, 12, 3) and len(a.x_test) == 20
    assert a.digest != b.digest and not np.array_equal(a.y_test, b.y_test)


@pytest.mark.parametrize("arrays,fragment", [
    ({"x_train": np.zeros((4, 8, 8), np.uint8)}, "lacks y_train, x_test, y_test"),
    ({"x_train": np.zeros((4, 8, 8), np.uint8), "y_train": np.eye(4, dtype=np.int64),
      "x_test": np.zeros((2, 8, 8), np.uint8), "y_test": np.zeros(2, np.int64)},
     "one-hot? give class numbers"),
    ({"x_train": np.zeros((4, 8, 8), np.uint8), "y_train": np.zeros(4, np.int64),
      "x_test": np.zeros((2, 8, 9), np.uint8), "y_test": np.zeros(2, np.int64)},
     "train inputs are uint8 (8, 8) but test inputs uint8 (8, 9)"),
    ({"x_train": np.full((4, 3), np.nan, np.float32), "y_train": np.zeros(4, np.int64),
      "x_test": np.zeros((2, 3), np.float32), "y_test": np.zeros(2, np.int64)},
     "NaN or infinite"),
])
def test_npz_refusals(tmp_path, arrays, fragment):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=fragment.replace("(", r"\(").replace(")", r"\)")
                       .replace("?", r"\?")):
        data.load(str(path), "", 0.1, 0)


def test_missing_and_unknown_data_sources(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        data.load(str(tmp_path / "none.npz"), "", 0.1, 0)
    with pytest.raises(DataError, match="no such folder"):
        data.load(str(tmp_path / "none") + "/", "", 0.1, 0)
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="at least two class sub-folders"):
        data.load(str(tmp_path / "empty"), "", 0.1, 0)
    with pytest.raises(ConfigError) as info:
        ExperimentConfig(dataset="imagenet")
    for form in (".npz file", "tfds:NAME", "folder of images"):
        assert form in str(info.value)


def test_tfds_offline_and_not_cached_names_the_folder(store, tmp_path, capsys):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(DataError) as info:
        data.load("tfds:mnist", str(tmp_path / "tfds"), 0.1, 0)
    assert str(tmp_path / "tfds") in str(info.value) and "tfds build mnist" in str(info.value)
    assert data_sources.kind_of("tfds:mnist") == "tfds"
    code = cli.main(["run", "--dataset", "tfds:mnist", "--data-dir", str(tmp_path / "tfds")])
    errors = [line for line in capsys.readouterr().err.splitlines()
              if line.startswith("pruning: error")]
    assert code == cli.EXIT_BAD_INPUT and len(errors) == 1 and "cache folder" in errors[0]


def test_tfds_dataset_from_its_cache_folder(tmp_path):
    """A real tensorflow-datasets builder, prepared offline into a folder, then read."""
    tfds = pytest.importorskip("tensorflow_datasets")
    (xt, yt), (xs, ys) = _images(60, shape=(8, 8)), _images(30, shape=(8, 8), seed=1)

    class TinyBands(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, supervised_keys=("image", "label"),
                                         features=tfds.features.FeaturesDict({
                                             "image": tfds.features.Image(shape=(8, 8, 1)),
                                             "label": tfds.features.ClassLabel(num_classes=3)}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(xt, yt),
                    "test": self._generate_examples(xs, ys)}

        def _generate_examples(self, x, y):
            for i, (image, label) in enumerate(zip(x, y)):
                yield i, {"image": image[..., None], "label": int(label)}

    TinyBands(data_dir=str(tmp_path)).download_and_prepare()
    splits = data.load("tfds:tiny_bands", str(tmp_path), 0.1, 0)
    assert splits.input_shape == (8, 8, 1) and splits.num_classes == 3
    assert len(splits.x_train) + len(splits.x_val) == 60 and len(splits.x_test) == 30
    # the same images (tfds shuffles them on writing)
    assert sorted(np.round(splits.x_test.sum(axis=(1, 2, 3)) * 255).astype(int)) == \
        sorted(xs.sum(axis=(1, 2)).astype(int))
