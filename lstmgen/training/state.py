"""trainer.json: the state of a ``Trainer`` that a checkpoint holds besides its arrays. What
``trainer_state`` writes, ``restore_state`` reads back, so that a resumed run continues bitwise
as if it had never stopped (the weights, optimiser moments and carried state are the arrays)."""

from ..errors import CheckpointError
from ..runs import resume as resume_checks
from ..runs.checkpoint import Checkpoint


def trainer_state(trainer, keep: bool) -> dict:
    """trainer.json: what ``restore_state`` reads back, besides the arrays."""
    return {
        "step": trainer.step, "epoch": trainer.epoch, "window": trainer.window, "elapsed_s": trainer.elapsed,
        "best_val_loss": trainer.best_val, "last_val_loss": trainer.last_val,
        "rng": trainer.dropout_rng.bit_generator.state, "optimizer": trainer.optimizer.state_dict(),
        "lr_schedule": trainer.schedule.state_dict(), "log_accumulator": trainer.acc,
        "best_train_loss": trainer.best_train, "evals_since_best": trainer.evals_since_best, "kept": keep,
        "best_val_bits_per_char": trainer.bits_per_char(trainer.best_val),
        "last_val_bits_per_char": trainer.bits_per_char(trainer.last_val), "val_step": trainer.val_step,
        "wall_s": round(trainer.wall(), 3), "max_time_s": trainer.max_time, "time_up": trainer.time_up,
        "eval_s": round(trainer.eval_seconds, 3),
    }


def restore_state(trainer, saved: Checkpoint, changes: list) -> None:
    """``trainer`` as ``saved`` left it; the training-only keys as the new config has them, each
    change reported."""
    shapes = lambda arrays: {k: v.shape for k, v in arrays.items()}  # noqa: E731
    resume_checks.check_resumable(saved, trainer.tokenizer.vocab_size, trainer.model.param_shapes(),
                                  shapes(trainer.model.init_state(trainer.cfg.train.batch_size)),  # every stream's
                                  shapes(trainer.optimizer.state_arrays()))
    saved_trainer = saved.trainer  # trainer.json
    try:
        trainer.params = saved.params
        trainer.optimizer.load(saved.optimizer_arrays, saved_trainer["optimizer"])
        trainer.schedule.load(saved_trainer["lr_schedule"])
        trainer.dropout_rng.bit_generator.state = saved_trainer["rng"]
        trainer.state = saved.state_arrays
        trainer.step, trainer.epoch = saved_trainer["step"], saved_trainer["epoch"]
        trainer.window, trainer.elapsed = saved_trainer["window"], saved_trainer["elapsed_s"]
        trainer.best_val, trainer.last_val = saved_trainer["best_val_loss"], saved_trainer["last_val_loss"]
        trainer.acc = saved_trainer["log_accumulator"]
        trainer.best_train, trainer.evals_since_best = saved_trainer["best_train_loss"], saved_trainer["evals_since_best"]
        trainer.val_step = saved_trainer.get("val_step")  # absent before lstmgen wrote it: unknown
        trainer.wall_before = float(saved_trainer.get("wall_s", trainer.elapsed))  # absent before time budgets: the steps' time
        trainer.eval_seconds = float(saved_trainer.get("eval_s", 0.0))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{saved.path / 'trainer.json'}: missing or malformed entry ({e})") from None
    if trainer.window >= trainer.batches.num_windows:
        raise CheckpointError(f"{saved.path / 'trainer.json'}: data position {trainer.window} is past the end of "
                              f"the training data ({trainer.batches.num_windows} windows); has the corpus changed?")
    # training-only keys may change on resume; the schedule follows the new config
    train_cfg, schedule = trainer.cfg.train, trainer.schedule
    schedule.base_lr, schedule.lr_decay = train_cfg.learning_rate, train_cfg.lr_decay
    schedule.warmup_steps, schedule.max_steps = train_cfg.warmup_steps, train_cfg.max_steps
    schedule.lr_decay_steps = train_cfg.lr_decay_steps
    schedule.warmup_fraction, schedule.final_lr_ratio = train_cfg.warmup_fraction, train_cfg.final_lr_ratio
    schedule.max_time = trainer.max_time
    for key, old, new in changes:
        trainer.reporter.message(f"resume: {key} changed from {old!r} to {new!r}")
