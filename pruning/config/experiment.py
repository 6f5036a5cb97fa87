"""The experiment configuration: every default of an experiment lives here, and nowhere
else (a study's and a sweep's: pruning.studies.configs).

A config is frozen and validates itself on construction. It round-trips
through the flat dict of strings that MLflow logs as params (`to_dict` /
`from_dict`), through JSON (`config.json` on every run) and through TOML
(`experiments/*.toml`). The CLI and MLproject flags are generated from the
field names, so a parameter has one name everywhere.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from pruning.config import checks, recipes
from pruning.config.fields import DENSE, START, Conversions, read_file, with_role
from pruning.config.fields import declare as _f
from pruning.errors import ConfigError
from pruning.granularity import GRANULARITIES
from pruning.models import sources as model_sources
from pruning.sparsity import schedules
from pruning.sparsity.distributions import DISTRIBUTIONS

DEFAULT_PRETRAIN_EPOCHS = 10  # of a model built here; a trained one gets 0


@dataclass(frozen=True)
class ExperimentConfig(Conversions):
    # data
    dataset: str = _f("mnist", "a dataset name (registry in pruning.data.builtin), a .npz file with "
                               "x_train, y_train, x_test, y_test (x_val, y_val optional), a "
                               "folder of images in one sub-folder per class (train/ and "
                               "test/ inside, or split by seed), or tfds:NAME",
                      role=START)
    data_dir: str = _f("", "folder with the standard dataset files; empty: $KERAS_HOME/datasets "
                           "or ~/.keras/datasets, downloading through Keras when missing",
                       role=START)
    val_fraction: float = _f(0.1, "share of the training set held out for validation",
                             role=DENSE)
    # model
    model: str = _f("mlp", "a model name (registry in pruning.models.builtin), a saved tf_keras "
                           "model (.keras, .h5, SavedModel folder), an MLflow model URI "
                           "(models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/PATH, "
                           "models:/MODEL_ID) or a builder package.module:function",
                    role=START)
    alpha: float = _f(1.0, "MobileNetV2 width multiplier", role=START)
    input_size: int = _f(0, "MobileNetV2: upscale inputs to this side length; 0 keeps the data's",
                         role=START)
    bn_momentum: float = _f(0.9, "BatchNorm momentum of the models that have BatchNorm",
                            role=START)
    augment: str = _f("none", "training-time augmentation: random shifts of up to shift_pixels "
                              "(pad + random crop), and optionally horizontal flips",
                      ("none", "shift", "shift_flip"), role=DENSE)
    shift_pixels: int = _f(4, "largest random shift of augment=shift/shift_flip", role=DENSE)
    # dense pre-training
    pretrain_epochs: int | None = _f(None, "epochs of dense training before pruning; auto: "
                                           f"{DEFAULT_PRETRAIN_EPOCHS} for a model the package builds "
                                           "(a name or a builder), 0 for a trained one (a "
                                           "file or an MLflow URI: more epochs continue its "
                                           "training)", role=DENSE)
    pretrain_lr: float = _f(1e-3, "Adam learning rate of dense training", role=DENSE)
    # pruning and retraining
    retrain_epochs: int = _f(10, "epochs of training while (and after) pruning")
    retrain_lr: float = _f(5e-4, "Adam learning rate of retraining")
    retrain_dropout_scale: float = _f(1.0, "every Dropout rate while retraining, times this "
                                           "(Han et al. 2015: D_o * sqrt(kept share), ~0.3 "
                                           "at 90%); 1: the model's own; 0: no dropout")
    lr_schedule: str = _f("cosine", "learning-rate schedule within each phase",
                          ("cosine", "constant"), role=DENSE)
    weight_decay: float = _f(0.0, "AdamW decoupled weight decay of both phases (0: plain Adam)",
                             role=DENSE)
    batch_size: int = _f(128, "minibatch size of both phases", role=DENSE)
    granularity: str = _f("weight", "what pruning removes: weight (single weights, tfmot; "
                                    "zeros in dense kernels), unit (whole units of Dense "
                                    "layers) or channel (whole output channels of Conv2D "
                                    "and units of Dense, with everything tied to them); "
                                    "unit and channel ship the model rebuilt smaller, and "
                                    "initial/final_sparsity are then shares of channels")
    channel_score: str = _f("bn", "how unit/channel pruning ranks channels: bn (|scale| of "
                                  "the BatchNorm right after the layer, else the filter's "
                                  "L2 norm), l2 or l1 (the filter's norm)")
    channel_multiple: int = _f(8, "unit/channel pruning keeps a multiple of this many "
                                  "channels in each group, to the nearest (int8 kernels run "
                                  "channels in blocks: 38 can run slower than 32); 1: the "
                                  "exact share")
    residual_blocks_removed: int = _f(0, "channel: residual blocks taken out before the "
                                         "channels are pruned (depth pruning): those whose "
                                         "removal alone costs least validation accuracy; "
                                         "each also saves its operators' fixed latency")
    schedule: str = _f("polynomial_decay", "tfmot pruning schedule (registry in "
                                           "pruning.sparsity.schedules)")
    initial_sparsity: float = _f(0.5, "sparsity when pruning begins (polynomial_decay)")
    final_sparsity: float = _f(0.9, "sparsity reached at end_step")
    power: float = _f(3.0, "exponent of the polynomial decay")
    frequency: int = _f(100, "update the masks every this many steps")
    mask_updates: int | None = _f(None, "number of mask updates in the pruning window; "
                                        "auto: every frequency steps; set: frequency is "
                                        "derived from it, valid on any dataset size")
    begin_step: int | None = _f(None, "retraining step of the first mask update; "
                                      "auto: begin_fraction of the retraining")
    end_step: int | None = _f(None, "retraining step of the last mask update; auto: "
                                    "end_fraction of the retraining, rounded to a whole "
                                    "number of frequency steps after begin_step")
    begin_fraction: float = _f(0.0, "where pruning begins, as a share of the retraining steps")
    end_fraction: float = _f(0.7, "where pruning ends, as a share of the retraining steps; "
                                  "the rest fine-tunes with the masks fixed")
    finetune_rebuilt: bool = _f(True, "unit/channel: after the masks' last update, fine-tune "
                                      "the model rebuilt smaller instead of the masked one "
                                      "(the same network, faster epochs; Adam's moments "
                                      "restart); false: the masked one to the end")
    prune_output: bool = _f(False, "prune the output layer too")
    pruning_policy: str = _f("all", "layers pruned: all Dense and Conv2D; pointwise: Dense "
                                    "and 1x1 Conv2D (spares convnet stems); xnnpack: tfmot's "
                                    "PruneForLatencyOnXNNPack (1x1 convs, model laid out for "
                                    "XNNPACK's sparse inference: mobilenetv2_xnnpack)",
                             ("all", "pointwise", "xnnpack"))
    sparsity_distribution: str = _f("uniform", "how final_sparsity is shared among the pruned "
                                               "layers: uniform (each loses that share), erk "
                                               "(Erdos-Renyi-Kernel: small layers keep more, "
                                               "large ones lose more, same total) or "
                                               "sensitivity (layers that hurt least lose most, "
                                               "from the curves named by sensitivity) or "
                                               "latency (unit/channel: the share is of the "
                                               "dense int8 latency, bought where it costs "
                                               "least accuracy, from curves timed by "
                                               "`pruning sensitivity --latency`)",
                                    ("uniform", "erk", "sensitivity", "latency"))
    sensitivity: str = _f("", "the curves sparsity_distribution=sensitivity reads: "
                              "runs:/<run_id>/sensitivity.json of a `pruning sensitivity` "
                              "run, or a path to that file")
    sparsity_m_by_n: str = _f("", "M,N: tfmot M-by-N structured pruning, M zeros in every N "
                                  "consecutive input weights (e.g. 2,4: 50%), in place of "
                                  "initial/final_sparsity; empty: unstructured")
    sparsity_block: str = _f("", "R,C: tfmot block sparsity, weights kept or pruned in R x C "
                                 "blocks of each kernel (Dense: R consecutive inputs of C "
                                 "units, e.g. 4,1); gzip codes a block's place once, so a "
                                 "file holds more weights per byte; empty: single weights")
    distill_weight: float = _f(0.0, "distillation while pruning, from the dense model (or "
                                    "the teacher): the share of the retraining loss that "
                                    "follows its softened outputs (0: labels only; 1: the "
                                    "teacher only)")
    distill_temperature: float = _f(4.0, "temperature T that softens both models' outputs "
                                         "for distillation (the soft term is scaled by T^2)")
    teacher: str = _f("", "distil from the dense model of this recipe (a name in "
                          "pruning/experiments, e.g. fashion_mnist_cnn, or a .toml file) "
                          "instead of the model being pruned: trained on the same data, "
                          "split and seed, cached in the store as dense models are; its "
                          "outputs on the training images are computed once, so augment "
                          "must be none; empty: the model being pruned")
    qat_epochs: int = _f(0, "epochs of pruning-preserving quantization-aware training after "
                            "pruning (tfmot Default8BitPrunePreserveQuantizeScheme); its int8 "
                            "TFLite is measured beside the post-training one; 0: none")
    qat_lr: float = _f(1e-4, "Adam learning rate of quantization-aware training")
    clusters: int = _f(0, "weight sharing after pruning: tfmot's sparsity-preserving "
                          "clustering to this many values per pruned kernel (e.g. 16: 4-bit "
                          "codes, a smaller gzipped file); 0: none")
    cluster_epochs: int = _f(2, "epochs of training the shared values (zeros held) when "
                                "clusters > 0")
    cluster_lr: float = _f(1e-4, "Adam learning rate of that training")
    tflite_sparse: bool = _f(False, "also convert the pruned model with TFLite's "
                                    "EXPERIMENTAL_SPARSITY (zeros not stored) and measure "
                                    "its size, accuracy and latency")
    # measurement and logging
    int8_granularity: str = _f("per_channel", "int8 weight scales: one per output channel "
                                              "(safe for convs) or one per tensor (fewer "
                                              "distinct values: smaller gzipped MLPs)",
                               ("per_channel", "per_tensor"))
    calibration_samples: int = _f(200, "training samples that calibrate int8 quantization")
    latency_runs: int = _f(200, "timed batch-1 TFLite invocations per latency median")
    latency_window: float = _f(3.0, "at most this many seconds of latency rounds: each "
                                    "times every model compared once, the fastest median "
                                    "counts, and they stop once the figures settle")
    mask_log_every: int = _f(1, "log mask snapshots every this many retraining epochs; "
                                "0: only the final masks")
    seed: int = _f(0, "seed of the split, the initial weights and the data order", role=DENSE)
    recipe: str = _f("none", "what the other values started from: a recipe in "
                             "pruning/experiments (the CLI's auto picks the dataset and "
                             "model's one, if any), a config file, or none (the defaults)",
                   cli_default="auto")

    def __post_init__(self):
        checks.validate(self)

    @property
    def dense_epochs(self) -> int:
        """pretrain_epochs, auto resolved: none for a model that arrives trained."""
        if self.pretrain_epochs is not None:
            return self.pretrain_epochs
        return 0 if model_sources.arrives_trained(self.model) else DEFAULT_PRETRAIN_EPOCHS

    @classmethod
    def dense_fields(cls) -> tuple[str, ...]:
        """The fields that, with the starting model's and the data's digests, determine
        the dense model: runs that agree on them share one pre-training."""
        return with_role(cls, DENSE)

    @classmethod
    def start_fields(cls) -> tuple[str, ...]:
        return with_role(cls, START)

    def teacher_config(self) -> "ExperimentConfig | None":
        """The config whose dense model teaches (`teacher`): its recipe on this config's
        data, split and seed, so that its outputs line up with these training images."""
        if not self.teacher:
            return None
        # A recipe's [tune] and [sweep] tables, and its own teacher, are not its dense model's.
        names = {f.name for f in dataclasses.fields(self)} - {"teacher"}
        values = {k: v for k, v in recipes.values_of(self.teacher, "teacher").items()
                  if k in names}
        shared = {name: getattr(self, name)
                  for name in ("dataset", "data_dir", "val_fraction", "seed")}
        return ExperimentConfig.from_dict({**values, **shared, "recipe": self.teacher})

    def m_by_n(self) -> tuple[int, int] | None:
        """sparsity_m_by_n as tfmot takes it: (M, N), or None when unstructured."""
        if not self.sparsity_m_by_n:
            return None
        try:
            m, n = (int(v) for v in self.sparsity_m_by_n.split(","))
        except ValueError:
            m = n = 0
        if not 0 < m < n:
            raise ConfigError("sparsity_m_by_n", f"sparsity_m_by_n={self.sparsity_m_by_n!r} "
                              "must be M,N with 0 < M < N (e.g. 2,4), or empty")
        return m, n

    def block(self) -> tuple[int, int]:
        """sparsity_block as tfmot's block_size: (R, C); (1, 1) for single weights."""
        if not self.sparsity_block:
            return 1, 1
        try:
            rows, cols = (int(v) for v in self.sparsity_block.split(","))
        except ValueError:
            rows = cols = 0
        if rows < 1 or cols < 1:
            raise ConfigError("sparsity_block", f"sparsity_block={self.sparsity_block!r} must be "
                              "R,C with whole numbers >= 1 (e.g. 4,1), or empty")
        return rows, cols

    def share_of(self) -> str:
        """What initial/final_sparsity are shares of, in words."""
        return self.pruned_by().share_of(self)

    def pruned_by(self):
        """The granularity (pruning.granularity) this config prunes at."""
        return GRANULARITIES.get(self.granularity)

    def reads_curves(self) -> bool:
        """Whether the sparsity distribution reads a sensitivity run's curves."""
        return DISTRIBUTIONS.get(self.sparsity_distribution).curves is not None

    def window(self, steps_per_epoch: int) -> schedules.Window:
        """The pruning window in retraining steps, on data of `steps_per_epoch` batches."""
        return schedules.resolve_window(steps_per_epoch, self.retrain_epochs, self.begin_step,
                                        self.end_step, self.frequency, self.mask_updates,
                                        self.begin_fraction, self.end_fraction)

    def sparsity_targets(self) -> tuple[float, float]:
        """(initial, final) sparsity the masks follow: M/N throughout when M-by-N."""
        if m_by_n := self.m_by_n():
            return m_by_n[0] / m_by_n[1], m_by_n[0] / m_by_n[1]
        return self.initial_sparsity, self.final_sparsity

    # -- conversions (and to_dict, from_dict, replace, to_json) ---------------
    def to_toml(self) -> str:
        import tomli_w

        # TOML has no null: unset (auto) values are left out and come back as defaults.
        return tomli_w.dumps({k: v for k, v in self.to_dict().items() if v is not None})

    @classmethod
    def load(cls, path: str | Path) -> "ExperimentConfig":
        """Read a config.json (as logged on every run) or an experiments/*.toml file."""
        return cls.from_dict(read_file(path))
