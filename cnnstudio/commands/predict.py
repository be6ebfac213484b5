"""Predict a file of images with a trained model and write Kaggle's submission CSV.

MODEL is a .keras file or a project file (its latest run's weights). --data is a CSV of pixel
columns (Kaggle Digit Recognizer's test.csv, with no label column, or train.csv, with one) or
an .npz with x (and optionally y). --out gets ``ImageId,Label`` rows, ImageId counting from 1.
When the file has labels, the accuracy is printed too. Images smaller than the model's input
are padded with zeros; --resize resizes larger ones.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a .keras file or a project file with a trained run")
    parser.add_argument("--data", metavar="FILE", required=True, help="the .csv or .npz of images to predict")
    parser.add_argument("--out", metavar="SUBMISSION.csv", default="submission.csv",
                        help="where to write ImageId,Label (default: submission.csv)")
    parser.add_argument("--resize", action="store_true", help="resize images larger than the model's input")


def run(args) -> int:
    from cnnstudio.workspace.predictions import (
        PredictionError,
        load_model,
        predict_file,
        write_submission,
    )

    try:
        model = load_model(args.model)
        predictions = predict_file(model, args.data, resize=args.resize)
        for note in predictions.notes:
            print(note, file=sys.stderr)
        out = write_submission(predictions, args.out)
    except PredictionError as exc:
        print(f"cnnstudio predict: {exc}", file=sys.stderr)
        return 2
    print(f"Wrote {len(predictions.labels)} predictions to {out}", file=sys.stderr)
    if predictions.accuracy is not None:
        right = int(round(predictions.accuracy * len(predictions.labels)))
        print(f"Accuracy: {right} of {len(predictions.labels)} right ({100 * predictions.accuracy:.2f}%)")
    return 0
