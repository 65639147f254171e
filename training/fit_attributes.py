"""Attribute heads and edit directions of a pack, fitted on the identity
features of labelled real faces (UTKFace: age and gender in the file names;
head pose from the pack's pose estimator, ``tools/label_poses.ts``).

    /usr/bin/python3 training/fit_attributes.py --data /work/data/utk \
        --identity /work/data/fr_feature.onnx --out models/vec2face-small

Writes into the pack folder:

- ``attributes.onnx``: raw identity features ``features`` [B,512] ->
  ``age`` [B] (years), ``female`` [B] (probability), ``quality`` [B]
  (feature norm over the mean norm of real aligned faces). Age is a ridge
  regression and gender a one-hidden-layer MLP on the L2-normalised
  features; both are measured on the generator's 1,000 held-out faces.
- ``directions.npy`` float32 [4,512]: unit directions in the (normalised)
  identity space along which yaw, pitch, age and female-ness grow, for
  ``edit`` to start its search from (ridge / logistic weights).
- ``attributes.json``: the held-out metrics, the direction slopes
  (attribute change per unit step along each direction) and the quality
  check (feature norm under blur, JPEG and noise; see ``--quality-check``).

The heads need UTKFace's labels: ``PREFIX.json`` lists the source file names
(``age_gender_race_date.jpg``; gender 0 male, 1 female).
"""

from __future__ import annotations

import argparse
import io
import json

import numpy as np
import torch
import torch.nn as nn
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier

from train import split_rows

SCALE = 10.0  # features are L2-normalised then scaled, which suits the solvers' default regularisation


class AttributeHeads(nn.Module):
    def __init__(self, age_w, age_b, hidden_w, hidden_b, out_w, out_b, reference_norm):
        super().__init__()
        self.age = nn.Linear(len(age_w), 1)
        self.hidden = nn.Linear(hidden_w.shape[0], hidden_w.shape[1])
        self.out = nn.Linear(hidden_w.shape[1], 1)
        with torch.no_grad():
            self.age.weight.copy_(torch.tensor(age_w[None], dtype=torch.float32))
            self.age.bias.fill_(float(age_b))
            self.hidden.weight.copy_(torch.tensor(hidden_w.T, dtype=torch.float32))
            self.hidden.bias.copy_(torch.tensor(hidden_b, dtype=torch.float32))
            self.out.weight.copy_(torch.tensor(out_w.T, dtype=torch.float32))
            self.out.bias.copy_(torch.tensor(out_b, dtype=torch.float32))
        self.reference_norm = float(reference_norm)

    def forward(self, features):
        norm = torch.sqrt((features * features).sum(1, keepdim=True))
        x = features / torch.clamp(norm, min=1e-12) * SCALE
        age = torch.clamp(self.age(x)[:, 0], min=0.0)
        female = torch.sigmoid(self.out(torch.relu(self.hidden(x)))[:, 0])
        return age, female, norm[:, 0] / self.reference_norm


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def quality_check(faces: np.ndarray, identity_path: str, rows: np.ndarray) -> dict:
    """Mean feature norm of real faces under growing blur, JPEG compression and
    noise: a quality score must fall as each degradation grows."""
    from PIL import Image, ImageFilter
    import onnx_to_torch

    net = onnx_to_torch.load(identity_path).eval()

    def norms(images: list) -> float:
        batch = torch.from_numpy(np.stack([np.asarray(i, dtype=np.float32) for i in images])).permute(0, 3, 1, 2)
        with torch.no_grad():
            return float(net((batch - 127.0) / 128.0).norm(dim=1).mean())

    originals = [Image.fromarray(np.asarray(faces[r])) for r in rows]
    rng = np.random.default_rng(0)
    result = {"faces": len(rows)}
    # [level, mean norm] pairs, mildest first
    result["blur_radius"] = [[r, norms([im.filter(ImageFilter.GaussianBlur(r)) if r else im for im in originals])]
                             for r in (0, 1, 2, 3)]

    def jpeg(im, quality):
        buffer = io.BytesIO()
        im.save(buffer, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")

    result["jpeg_quality"] = [[q, norms([jpeg(im, q) for im in originals])] for q in (95, 30, 10, 3)]
    result["noise_std"] = [
        [s, norms([np.clip(np.asarray(im, np.float32) + rng.normal(0, s, (112, 112, 3)), 0, 255) for im in originals])]
        for s in (0, 10, 25, 50)
    ]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="prepare_faces.ts output prefix (with PREFIX.pose.npy)")
    parser.add_argument("--identity", help="fr_feature.onnx, for the quality check")
    parser.add_argument("--out", required=True, help="pack folder")
    args = parser.parse_args()

    files = json.load(open(f"{args.data}.json"))["files"]
    features = np.load(f"{args.data}.features.npy").astype(np.float64)
    poses = np.load(f"{args.data}.pose.npy").astype(np.float64)
    age = np.array([int(name.split("_")[0]) for name in files], dtype=np.float64)
    female = np.array([int(name.split("_")[1]) for name in files])
    norms = np.linalg.norm(features, axis=1)
    x = features / norms[:, None] * SCALE
    train, held_out = split_rows(len(features))
    train_pose = train[train < len(poses)]

    age_model = Ridge(alpha=1e-3).fit(x[train], age[train])
    age_mae = float(np.abs(np.clip(age_model.predict(x[held_out]), 0, None) - age[held_out]).mean())
    gender_model = MLPClassifier(hidden_layer_sizes=(256,), alpha=1e-4, max_iter=300, early_stopping=True,
                                 n_iter_no_change=20, random_state=0).fit(x[train], female[train])
    gender_accuracy = float((gender_model.predict(x[held_out]) == female[held_out]).mean())
    reference_norm = float(norms[train].mean())
    print(f"held-out ({len(held_out)} faces): age MAE {age_mae:.2f} years, gender accuracy {gender_accuracy:.4f}; "
          f"mean feature norm {reference_norm:.3f}", flush=True)

    # Directions: where each attribute grows fastest, linearly, on the unit sphere of identities.
    directions, slopes, fits = [], {}, {}
    for name, target, rows in (("yaw", poses[:, 0], train_pose), ("pitch", poses[:, 1], train_pose),
                               ("age", age, train)):
        model = Ridge(alpha=1.0).fit(x[rows], target[rows])
        direction = unit(model.coef_)
        directions.append(direction)
        # attribute change per unit step of the unit-norm identity along the direction
        slopes[name] = float(model.coef_ @ direction * SCALE)
        fits[name] = float(np.corrcoef(model.predict(x[rows]), target[rows])[0, 1])
    logistic = LogisticRegression(C=10.0, max_iter=3000).fit(x[train], female[train])
    directions.append(unit(logistic.coef_[0]))
    slopes["gender"] = float(logistic.coef_[0] @ directions[-1] * SCALE)  # logit per unit step
    fits["gender"] = float((logistic.predict(x[held_out]) == female[held_out]).mean())
    print("directions:", {k: round(v, 2) for k, v in slopes.items()}, "fit", {k: round(v, 3) for k, v in fits.items()})

    heads = AttributeHeads(age_model.coef_, age_model.intercept_, gender_model.coefs_[0], gender_model.intercepts_[0],
                           gender_model.coefs_[1], gender_model.intercepts_[1], reference_norm).eval()
    # Export and parity probes: draws from the pack's prior, so that no real face's features are written out.
    prior = np.load(f"{args.out}/prior.npy").astype(np.float64)
    z = np.random.default_rng(2024).standard_normal((4, prior.shape[1]))
    probe = torch.from_numpy(np.round(prior[0] + (np.sqrt(np.maximum(prior[1], 0)) * z) @ prior[2:], 6).astype(np.float32))
    torch.onnx.export(heads, (probe,), f"{args.out}/attributes.onnx", input_names=["features"],
                      output_names=["age", "female", "quality"], opset_version=17,
                      dynamic_axes={"features": {0: "batch"}, "age": {0: "batch"}, "female": {0: "batch"},
                                    "quality": {0: "batch"}})
    with torch.no_grad():
        reference_age, reference_female, reference_quality = (t.numpy().tolist() for t in heads(probe))
    np.save(f"{args.out}/directions.npy", np.stack(directions).astype(np.float32))
    report = {
        "data": "UTKFace aligned faces (tools/prepare_faces.ts); held-out rows as training/train.py",
        "trainFaces": int(len(train)), "heldOutFaces": int(len(held_out)), "poseLabelledFaces": int(len(poses)),
        "ageMae": age_mae, "genderAccuracy": gender_accuracy, "referenceNorm": reference_norm,
        "directions": ["yaw", "pitch", "age", "gender"], "slopes": slopes, "directionFit": fits,
        "reference": {"about": "draws from the pack's prior (numpy default_rng(2024)), not real faces' features",
                      "features": probe.numpy().tolist(), "age": reference_age, "female": reference_female,
                      "quality": reference_quality},
    }
    if args.identity:
        faces = np.load(f"{args.data}.faces.npy", mmap_mode="r")
        report["qualityCheck"] = quality_check(faces, args.identity, held_out[:200])
        print("quality check:", json.dumps(report["qualityCheck"]), flush=True)
    json.dump(report, open(f"{args.out}/attributes.json", "w"), indent=1)


if __name__ == "__main__":
    main()
