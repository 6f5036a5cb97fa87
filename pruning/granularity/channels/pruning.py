"""Structured pruning: whole channels of convs (and units of Dense layers) removed while
retraining, on the same schedule and sparsity distribution as tfmot's weight pruning,
the masks held at zero between updates.

*When* the masks change is pruning.sparsity.schedules (the same window, steps and PolynomialDecay as
tfmot); *which* channels go is channel_plan.choose; this module applies them, reports
them and cuts the result down (rebuild).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tf_keras as keras

from pruning.granularity.channels import masks as channel_masks
from pruning.granularity.channels import plan as channel_plan
from pruning.granularity.channels import rebuild
from pruning.granularity.channels import residual_blocks
from pruning.sparsity import schedules
from pruning import training
from pruning.sparsity import policies
from pruning.training.mask_holding import HeldMasks, Hold
from pruning.training.snapshots import MaskSnapshots
from pruning.observers import tell


class ChannelMasks:
    """The channel masks of one model being pruned: its plan, its current keep-vectors
    and the held masks of every weight a removed channel reaches."""

    def __init__(self, model, plan: channel_plan.Plan):
        self.model, self.plan = model, plan
        # Every weight some removal can reach: propagate a removal from every group.
        some = {name: np.arange(g.channels) > 0 for g in plan.groups for name in g.producers}
        reach = channel_plan.propagate(model, some)
        self.reach = {name: [i for i, (w, cut) in
                             enumerate(zip(model.get_layer(name).weights,
                                           channel_plan.weight_cuts(model.get_layer(name),
                                                                    keeps)))
                             if cut and w.trainable]
                      for name, keeps in reach.items()}
        self.held = HeldMasks(model, self.reach)
        self.keep = {name: np.ones(g.channels, bool) for g in plan.groups
                     for name in g.producers}

    def update(self, sparsities: dict[str, float], config) -> None:
        """Rank the channels again and remove each group's share (a removed channel's
        weights are zero, so it ranks last and stays removed)."""
        self.keep = channel_plan.choose(self.model, self.plan, sparsities,
                                        config.channel_score, config.channel_multiple)
        masks = {}
        for name, keeps in channel_plan.propagate(self.model, self.keep).items():
            layer = self.model.get_layer(name)
            for i, (w, cut) in enumerate(zip(layer.weights,
                                             channel_plan.weight_cuts(layer, keeps))):
                if cut and (name, i) in self.held.index:
                    masks[(name, i)] = channel_masks.mask(tuple(w.shape), cut)
        self.held.set(masks)

    def kernel_masks(self) -> dict[str, np.ndarray]:
        """{layer: kernel mask} of the Conv2D and Dense layers a removal can reach: the
        snapshots logged and pictured like weight pruning's."""
        out = {}
        for name in self.reach:
            layer = self.model.get_layer(name)
            if type(layer).__name__ in channel_plan.WIDTH:
                position = self.held.index.get((name, 0))
                out[name] = (np.ones(tuple(layer.kernel.shape), bool) if position is None
                             else self.held.pairs[position][1].numpy() > 0)
        return out

    def metrics(self) -> dict[str, float]:
        """Share of channels removed, model-wide and per group (named by its first
        producer)."""
        keeps = {g.key: self.keep[g.key] for g in self.plan.groups}
        out = {"channel_sparsity": channel_masks.channel_sparsity(keeps.values())}
        out.update({f"channel_sparsity/{k}": channel_masks.channel_sparsity([v])
                    for k, v in keeps.items()})
        return out


class _Schedule(keras.callbacks.Callback):
    """Steps counted like tfmot's UpdatePruningStep (the first batch is step 1): at each
    update step of the window the masks are recomputed before the batch runs, and held
    after every batch."""

    def __init__(self, masks: ChannelMasks, window, config):
        super().__init__()
        self.masks, self.window, self.config = masks, window, config
        self.fn = schedules.SCHEDULES.get(config.schedule).sparsity
        self.targets = masks.plan.targets(config)
        self.step = 0

    def on_train_batch_begin(self, batch, logs=None):
        self.step += 1
        if schedules.is_update_step(self.step, self.window):
            w = self.window
            self.masks.update({key: self.fn(self.step, initial, final, w.begin_step,
                                            w.end_step, self.config.power)
                               for key, (initial, final) in self.targets.items()},
                              self.config)


def prepare(dense, config, kinds, splits=None) -> tuple[object, ChannelMasks]:
    """A copy of `dense` (left intact) without config.residual_blocks_removed residual
    blocks (ranked on `splits`' validation set), and its channel masks, all channels
    kept."""
    model = keras.models.clone_model(dense)
    model.set_weights(dense.get_weights())
    removed = ()
    if config.residual_blocks_removed:
        model, removed = shallower(model, config, splits)
    plan = dataclasses.replace(channel_plan.make_plan(model, config, kinds), removed=removed)
    if removed:
        plan.targets(config)  # the curves must cover the groups left: refused before training
    return model, ChannelMasks(model, plan)


def shallower(model, config, splits) -> tuple[object, tuple[tuple[str, float], ...]]:
    """`model` without the config.residual_blocks_removed residual blocks whose removal
    alone costs least validation accuracy; returns it and ((block, accuracy lost), ...).

    Chosen once, on the trained model, before any channel goes. Each block is costed
    alone, as a sensitivity curve's point is; together they may cost more than the sum
    (docs/structured.md has an example)."""
    def accuracy(m) -> float:
        return training.accuracy(m, splits.x_val, splits.y_val)

    chosen = residual_blocks.ranked(model, accuracy)[:config.residual_blocks_removed]
    return (residual_blocks.without(model, [block.join for block, _ in chosen]),
            tuple((block.name, cost) for block, cost in chosen))


def retrain(dense, splits, config, window, kinds, observers=(), step_offset: int = 0):
    """Gradual structured pruning while retraining; returns (masked model, its masks,
    history, the model rebuilt smaller: what ships).

    With config.finetune_rebuilt, the epochs after the masks' last update train the
    rebuilt model instead of the masked one: the same network without its zeros, whose
    epochs cost less (about 40% less for a MobileNetV2 that lost two thirds of its
    channels). Adam's moments restart there; the learning-rate schedule goes on.
    """
    model, masks = prepare(dense, config, kinds, splits)
    if masks.plan.removed:
        tell(observers, masks.plan.removed_line())
    schedule = _Schedule(masks, window, config)
    snapshots = MaskSnapshots(config.mask_log_every, config.retrain_epochs, observers,
                              step_offset)

    def extra(first: int):
        def metrics(_, epoch):  # the masked model's, also while its rebuilt copy trains
            return {"target_sparsity": schedules.sparsity_at(
                        config.schedule, schedule.step, window, *config.sparsity_targets(),
                        config.power),
                    **masks.metrics(),
                    **policies.sparsity_metrics(policies.prunable_kernels(model, config)),
                    **snapshots(first + epoch, masks.kernel_masks)}
        return metrics

    masked, rebuilt = training.Phase.retraining(config, step_offset).split(
        masked_epochs(config, window, len(splits.x_train)))
    history = training.fit(model, splits, config, masked, observers,
                        callbacks=[schedule, Hold(masks.held)], extra=extra(0), teacher=dense)
    small = rebuild.rebuild(model, masks.keep)
    if rebuilt is not None:
        tell(observers, f"masks fixed: fine-tuning the rebuilt model ({small.count_params():,} "
                        f"of {dense.count_params():,} parameters) for {rebuilt.epochs} epochs")
        # The rebuilt layers carry the retraining's Dropout rates already.
        rebuilt = dataclasses.replace(rebuilt, dropout_scale=1.0)
        history += training.fit(small, splits, config, rebuilt, observers,
                             extra=extra(masked.epochs), teacher=dense)
    return model, masks, history, small


def masked_epochs(config, window, n_train: int) -> int:
    """Retraining epochs up to the masks' last update (all of them without
    config.finetune_rebuilt)."""
    if not config.finetune_rebuilt:
        return config.retrain_epochs
    return schedules.epochs_until(window.end_step,
                                  schedules.steps_per_epoch(n_train, config.batch_size))


def one_shot(dense, config, sparsity: float, kinds, splits=None):
    """Channels removed at once to `sparsity` (shared out by config's distribution);
    returns (masked copy, its masks)."""
    model, masks = prepare(dense, config, kinds, splits)
    remove_at_once(masks, config, sparsity)
    return model, masks


def remove_at_once(masks: ChannelMasks, config, sparsity: float) -> None:
    """`masks` set to `sparsity`, shared out by config's distribution."""
    targets = masks.plan.targets(config.replace(initial_sparsity=0.0,
                                                final_sparsity=sparsity))
    masks.update({key: final for key, (_, final) in targets.items()}, config)


def one_shot_rebuilt(dense, config, sparsity: float, kinds, splits):
    """(the model rebuilt without the channels `one_shot` removes, metrics, None): a sweep's
    structured point; the metrics count the masked model's zeros and the channels."""
    model, masks = one_shot(dense, config, sparsity, kinds, splits)
    metrics = {**policies.sparsity_metrics(policies.prunable_kernels(model, config)),
               **masks.metrics()}
    return rebuild.rebuild(model, masks.keep), metrics, None
