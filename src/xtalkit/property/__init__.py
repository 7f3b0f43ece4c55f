"""Scalar crystal properties: prediction with trained CartNet / Site-Net models and composition baselines.

* :class:`~xtalkit.property.predict.PropertyPredictor` — a model file (or shipped
  name) that predicts a property for crystals or CIF files.
* :func:`~xtalkit.property.predict.evaluate_table` — MAE of a model on a split of a table.
* :mod:`xtalkit.property.baselines` — composition-only baselines (mean, gradient boosting).

Training lives in :mod:`xtalkit.training.property`, tables and splits in
:mod:`xtalkit.data.tables`, featurization and its cache in :mod:`xtalkit.data.property_cache`.
"""

from xtalkit.property.predict import PropertyPredictor, evaluate_table

__all__ = ["PropertyPredictor", "evaluate_table"]
