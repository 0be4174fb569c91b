# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Mean IoU for semantic segmentation as an `evaluate` metric module, loadable offline:
`evaluate.load("examples/metrics/mean_iou")`.

`compute(predictions=..., references=..., num_labels=N, ignore_index=255, label_names=None)`: class-id maps
`(H, W)` per example. Returns `mean_iou`, `pixel_accuracy` and `iou_<name>` per class; classes absent from both the
predictions and the references are left out of the mean.
"""

import datasets
import evaluate
import numpy as np

MAP = datasets.Sequence(datasets.Sequence(datasets.Value("int64")))  # (H, W) class ids


class MeanIoU(evaluate.Metric):
    def _info(self):
        features = datasets.Features({"predictions": MAP, "references": MAP})
        inputs = "predictions, references: (H, W) class-id maps; num_labels; ignore_index."
        description = "Intersection over union per class, averaged, and pixel accuracy."
        return evaluate.MetricInfo(description=description, citation="", inputs_description=inputs, features=features)

    def _compute(self, predictions, references, num_labels, ignore_index=255, label_names=None):
        predictions = np.concatenate([np.asarray(p).ravel() for p in predictions])
        labels = np.concatenate([np.asarray(r).ravel() for r in references])
        valid = labels != ignore_index
        confusion = np.bincount(labels[valid] * num_labels + predictions[valid], minlength=num_labels**2)
        confusion = confusion.reshape(num_labels, num_labels)  # rows: truth, columns: prediction
        intersection = np.diag(confusion)
        union = confusion.sum(0) + confusion.sum(1) - intersection
        iou = np.where(union > 0, intersection / np.maximum(union, 1), np.nan)
        results = {"mean_iou": float(np.nanmean(iou)), "pixel_accuracy": float(intersection.sum() / confusion.sum())}
        names = label_names or [str(index) for index in range(num_labels)]
        results.update({f"iou_{name}": float(value) for name, value in zip(names, iou)})
        return results
