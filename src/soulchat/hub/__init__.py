"""Hub artifacts: the model card of a training run, and uploads of model and dataset folders in one commit."""

from soulchat.hub.model_card import TrainingRun, load_run, render_model_card, write_model_card
from soulchat.hub.push import IncompleteFolderError, check_dataset_folder, check_model_folder, push_dataset, push_model

__all__ = [
    "IncompleteFolderError",
    "TrainingRun",
    "check_dataset_folder",
    "check_model_folder",
    "load_run",
    "push_dataset",
    "push_model",
    "render_model_card",
    "write_model_card",
]
