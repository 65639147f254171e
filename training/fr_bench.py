"""Downstream face-recognition benchmark (issue 19, "the paper's own measure").

Trains one fixed small face-recognition network on a training set for a fixed
budget, then reports LFW `pairs.txt` verification: standard 10-fold accuracy
(for each fold the cosine threshold is the best one on the other nine folds,
accuracy is measured on the held-out fold; mean and population std over the
folds, as bench/lfw_eval.ts) and the ROC AUC over all 6,000 pairs. Nothing is
fitted or tuned on LFW: the network, budget and schedule below were fixed
before any LFW number was seen and are the same for every training set.

The network (fixed; `--untrained` evaluates its random initialisation, the
floor):

- input: the 112x112 ArcFace-aligned face, downscaled to 56x56 (2x2 area
  average), RGB scaled to [-1, 1];
- backbone (a ResNet-like net, sized to train 500 steps of 128 in minutes on
  2 CPU cores): stem conv3x3 3->32 stride 2 + BN + PReLU (28x28), then two
  ResNet basic blocks, downsampling first (conv3x3 stride 2-BN-PReLU-conv3x3-BN
  + 1x1 stride-2 shortcut, PReLU): 32->64 (14x14), 64->128 (7x7);
- head (as MobileFaceNet's): conv1x1 128->256 + BN + PReLU, depthwise 7x7
  "global depthwise conv" + BN, flatten, linear 256->128, BN: a 128-d
  embedding (368,832 parameters without the classifier; about 25 M
  multiply-adds per face);
- loss: CosFace (large-margin cosine) with s = 30, m = 0.35 over the training
  identities (a 128 x C weight, not part of the embedding network);
- training: SGD, momentum 0.9, weight decay 5e-4 (not on BN/PReLU), learning
  rate 0.1 with 25 linear warm-up steps then cosine decay to 0; 500 steps of
  batch 128 drawn as shuffled epochs; augmentation: random horizontal flips
  only;
- embedding for evaluation: feature(face) + feature(flipped face), then
  L2-normalised; the score of a pair is the cosine.

The training accuracy printed at the end is the network's classification
accuracy (cosine logits, no margin, no flip, eval mode) on up to 4,096 training
images drawn with the run's seed.

Training sets (`--train`):

- an ImageFolder directory, `DIR/<identity>/<image>.jpg|png` (what
  `cli.ts generate --format folder` writes: `{identity:06d}/{image:03d}.jpg`);
- a RecordIO dataset, a directory with `train.rec` + `train.idx` (what
  `cli.ts generate --format recordio` writes, insightface's layout);
- `PREFIX.faces.npy` (uint8 [N, 112, 112, 3], e.g. `tools/prepare_faces.ts`
  output): labels from `--labels FILE.npy` (integers, one per row) or, by
  default, from `PREFIX.json`'s `files`: the folder of each photo is its
  identity.

Test set: `--lfw PREFIX` is `tools/prepare_faces.ts --pick centre
--fallback-centre` output over LFW's `images/` (every photo of the pairs must
be there), `--pairs` LFW's `pairs.txt`.

    /usr/bin/python3 training/fr_bench.py --train /tmp/frbench/synth200 \\
        --lfw /tmp/frbench/lfw --pairs $DATA/lfw/pairs.txt --seed 0 \\
        --name synth200 --results /tmp/frbench/results.jsonl

Prints one markdown table row (and appends a JSON line to `--results`).
Torch on CPU by default (`--device cuda` accepted); numpy and Pillow to read
images.
"""
import argparse
import io
import json
import math
import os
import struct
import time

# Busy-waiting OpenMP threads slow everything down on a shared 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# ---------------------------------------------------------------- data


def _decode(data):
    from PIL import Image

    image = Image.open(io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data).convert("RGB")
    if image.size != (112, 112):
        image = image.resize((112, 112), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def read_image_folder(root):
    """ImageFolder: `root/<identity>/<image>.jpg|png`, identities in sorted folder order."""
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    faces, labels = [], []
    for label, name in enumerate(classes):
        folder = os.path.join(root, name)
        for file in sorted(os.listdir(folder)):
            if file.lower().endswith((".jpg", ".jpeg", ".png")):
                with open(os.path.join(folder, file), "rb") as f:
                    faces.append(_decode(f.read()))
                labels.append(label)
    if not faces:
        raise SystemExit(f"Cannot read {root} as an ImageFolder: it holds no <identity>/<image>.jpg|png")
    return np.stack(faces), np.asarray(labels, dtype=np.int64)


RECORDIO_MAGIC = 0xCED7230A


def _read_record(f, offset):
    """One MXNet RecordIO record at `offset`, split frames (cflag 1, 2, 3) joined with the magic."""
    f.seek(offset)
    parts = []
    while True:
        magic, word = struct.unpack("<II", f.read(8))
        if magic != RECORDIO_MAGIC:
            raise SystemExit(f"Cannot read a RecordIO frame at {f.tell() - 8}: current magic is {magic:#x}")
        cflag, length = word >> 29, word & ((1 << 29) - 1)
        parts.append(f.read(length))
        f.read((4 - length % 4) % 4)
        if cflag in (0, 3):
            break
    return struct.pack("<I", RECORDIO_MAGIC).join(parts)


def _unpack(record):
    flag, label, _, _ = struct.unpack("<IfQQ", record[:24])
    labels = np.frombuffer(record[24:24 + 4 * flag], dtype=np.float32) if flag > 0 else None
    return flag, label, labels, record[24 + 4 * flag:]


def read_recordio(root):
    """insightface RecordIO (`train.rec` + `train.idx`): record 0 gives the image records 1..N."""
    offsets = {}
    with open(os.path.join(root, "train.idx")) as f:
        for line in f:
            if line.strip():
                index, offset = line.split()
                offsets[int(index)] = int(offset)
    faces, labels = [], []
    with open(os.path.join(root, "train.rec"), "rb") as f:
        flag, _, header, _ = _unpack(_read_record(f, offsets[0]))
        indices = range(1, int(header[0])) if flag > 0 else sorted(k for k in offsets if k > 0)
        for index in indices:
            flag, label, vector, jpeg = _unpack(_read_record(f, offsets[index]))
            faces.append(_decode(jpeg))
            labels.append(int(vector[0]) if flag > 0 else int(label))
    return np.stack(faces), np.asarray(labels, dtype=np.int64)


def read_npy(path, labels_path=None):
    """`PREFIX.faces.npy` with labels from `labels_path` or from the folder of each file in `PREFIX.json`."""
    faces = np.load(path, mmap_mode="r")
    if labels_path:
        labels = np.load(labels_path).astype(np.int64)
    else:
        meta = json.load(open(path[: -len(".faces.npy")] + ".json"))
        folders = [os.path.dirname(file) for file in meta["files"]]
        names = sorted(set(folders))
        index = {name: i for i, name in enumerate(names)}
        labels = np.asarray([index[folder] for folder in folders], dtype=np.int64)
    if len(labels) != len(faces):
        raise SystemExit(f"Cannot pair {len(faces)} faces with {len(labels)} labels")
    return np.asarray(faces), labels


def read_training_set(path, labels_path=None):
    if path.endswith(".npy"):
        return read_npy(path, labels_path)
    if os.path.exists(os.path.join(path, "train.rec")):
        return read_recordio(path)
    return read_image_folder(path)


def downscale(faces, chunk=2048):
    """uint8 [N, 112, 112, 3] -> uint8 [N, 3, 56, 56] by 2x2 area average."""
    out = np.empty((len(faces), 3, 56, 56), dtype=np.uint8)
    for start in range(0, len(faces), chunk):
        x = torch.from_numpy(np.array(faces[start:start + chunk])).permute(0, 3, 1, 2).float()
        out[start:start + chunk] = F.avg_pool2d(x, 2).round().clamp(0, 255).byte().numpy()
    return out


def to_input(batch_uint8, device):
    return (torch.from_numpy(batch_uint8).to(device).float() - 127.5) / 127.5


# ---------------------------------------------------------------- network


class BasicBlock(nn.Module):
    """ResNet basic block, downsampling first: conv3x3(stride)-BN-PReLU-conv3x3-BN + shortcut, PReLU."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.PReLU(cout),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut = (
            nn.Identity()
            if cin == cout and stride == 1
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )
        self.act = nn.PReLU(cout)

    def forward(self, x):
        return self.act(self.body(x) + self.shortcut(x))


class SmallFaceNet(nn.Module):
    """The benchmark's fixed embedding network: 56x56 RGB -> 128-d (see the module docstring)."""

    def __init__(self, dim=128):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.PReLU(32))
        self.blocks = nn.Sequential(BasicBlock(32, 64, 2), BasicBlock(64, 128, 2))
        self.head = nn.Sequential(
            nn.Conv2d(128, 256, 1, bias=False),
            nn.BatchNorm2d(256),
            nn.PReLU(256),
            nn.Conv2d(256, 256, 7, groups=256, bias=False),  # global depthwise conv over 7x7
            nn.BatchNorm2d(256),
            nn.Flatten(),
            nn.Linear(256, dim, bias=False),
            nn.BatchNorm1d(dim),
        )

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


class CosFace(nn.Module):
    """Large-margin cosine loss: logits s * (cos - m at the target)."""

    def __init__(self, dim, classes, s=30.0, m=0.35):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(classes, dim) * 0.01)
        self.s, self.m = s, m

    def cosines(self, embedding):
        return F.linear(F.normalize(embedding), F.normalize(self.weight))

    def forward(self, embedding, labels):
        cos = self.cosines(embedding)
        margin = F.one_hot(labels, cos.shape[1]).to(cos.dtype) * self.m
        return F.cross_entropy(self.s * (cos - margin), labels), cos


# ---------------------------------------------------------------- LFW


def parse_pairs(path):
    lines = [line.split() for line in open(path).read().strip().split("\n")]
    folds, per_fold = int(lines[0][0]), int(lines[0][1])
    key = lambda name, n: f"{name}/{name}_{int(n):04d}.jpg"  # noqa: E731
    pairs = []
    for fold in range(folds):
        for f in lines[1 + fold * 2 * per_fold: 1 + (fold + 1) * 2 * per_fold]:
            if len(f) == 3:
                pairs.append((key(f[0], f[1]), key(f[0], f[2]), True, fold))
            else:
                pairs.append((key(f[0], f[1]), key(f[2], f[3]), False, fold))
    return pairs


def best_threshold(scores, same):
    """Threshold with the best accuracy (score >= t is 'same'), over every midpoint of sorted scores."""
    order = np.argsort(scores, kind="stable")
    s, y = scores[order], same[order].astype(np.int64)
    # Threshold just above s[k-1] (below s[k]): pairs 0..k-1 called different, k.. called same.
    correct = np.concatenate([[0], np.cumsum(1 - y)]) + np.concatenate([np.cumsum(y[::-1])[::-1], [0]])
    candidates = np.concatenate([[s[0] - 1e-6], (s[1:] + s[:-1]) / 2, [s[-1] + 1e-6]])
    # Tied scores cannot be split: only boundaries between distinct scores count.
    valid = np.concatenate([[True], s[1:] > s[:-1], [True]])
    k = int(np.argmax(np.where(valid, correct, -1)))
    return candidates[k]


def auc(scores, same):
    """ROC AUC = P(genuine score > impostor score), ties counted half (Mann-Whitney U)."""
    ranks = np.empty(len(scores))
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = same.sum()
    neg = len(same) - pos
    return (ranks[same].sum() - pos * (pos + 1) / 2) / (pos * neg)


def verify(scores, same, folds):
    accuracies = []
    for fold in range(folds.max() + 1):
        test, train = folds == fold, folds != fold
        threshold = best_threshold(scores[train], same[train])
        accuracies.append(float(((scores[test] >= threshold) == same[test]).mean()))
    return float(np.mean(accuracies)), float(np.std(accuracies)), accuracies, float(auc(scores, same))


@torch.no_grad()
def embed(model, faces56, device, batch=512):
    model.eval()
    out = []
    for start in range(0, len(faces56), batch):
        x = to_input(faces56[start:start + batch], device)
        out.append((model(x) + model(torch.flip(x, dims=[3]))).float().cpu())
    return F.normalize(torch.cat(out)).numpy()


# ---------------------------------------------------------------- main


def count(module):
    return sum(p.numel() for p in module.parameters())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", help="ImageFolder dir, RecordIO dir or PREFIX.faces.npy (not needed with --untrained)")
    parser.add_argument("--labels", help="labels .npy for a .faces.npy training set (default: folders in PREFIX.json)")
    parser.add_argument("--lfw", required=True, help="PREFIX of tools/prepare_faces.ts output over LFW images/")
    parser.add_argument("--pairs", required=True, help="LFW pairs.txt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--untrained", action="store_true", help="skip training: the floor")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--name", default="", help="row label")
    parser.add_argument("--results", help="append a JSON line of the results to this file")
    args = parser.parse_args()
    if not args.untrained and not args.train:
        parser.error("--train is needed unless --untrained")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    device = torch.device(args.device)
    started = time.time()

    model = SmallFaceNet().to(device)
    images = identities = 0
    train_acc = None
    train_seconds = 0.0
    if not args.untrained:
        load_started = time.time()
        faces, labels = read_training_set(args.train, args.labels)
        faces56 = downscale(faces)
        del faces
        _, labels = np.unique(labels, return_inverse=True)
        images, identities = len(labels), int(labels.max()) + 1
        print(f"read {images} images of {identities} identities from {args.train} in {time.time() - load_started:.0f} s")
        head = CosFace(128, identities).to(device)
        decay, no_decay = [], []
        for module in model.modules():
            for name, p in module.named_parameters(recurse=False):
                (decay if isinstance(module, (nn.Conv2d, nn.Linear)) else no_decay).append(p)
        decay.append(head.weight)
        optimizer = torch.optim.SGD(
            [{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
            lr=args.lr, momentum=0.9,
        )
        warmup = max(1, args.steps // 20)
        schedule = lambda step: (step + 1) / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, args.steps - warmup)))  # noqa: E731
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        train_started = time.time()
        order, cursor = rng.permutation(images), 0
        model.train()
        for step in range(args.steps):
            if cursor + args.batch > images:
                order, cursor = rng.permutation(images), 0
            index = np.sort(order[cursor:cursor + args.batch])
            cursor += args.batch
            x = to_input(faces56[index], device)
            flip = torch.from_numpy(rng.random(len(index)) < 0.5).to(device)
            x = torch.where(flip[:, None, None, None], torch.flip(x, dims=[3]), x)
            y = torch.from_numpy(labels[index]).to(device)
            loss, cos = head(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if (step + 1) % 100 == 0 or step == 0:
                acc = (cos.argmax(1) == y).float().mean().item()
                print(f"step {step + 1}/{args.steps} loss {loss.item():.3f} batch acc {acc:.3f} "
                      f"({time.time() - train_started:.0f} s)", flush=True)
        train_seconds = time.time() - train_started
        sample = rng.choice(images, min(images, 4096), replace=False)
        model.eval()
        with torch.no_grad():
            correct = 0
            for start in range(0, len(sample), 512):
                index = np.sort(sample[start:start + 512])
                cos = head.cosines(model(to_input(faces56[index], device)))
                correct += (cos.argmax(1).cpu().numpy() == labels[index]).sum()
        train_acc = float(correct / len(sample))

    # LFW (read after training, so a run can start while LFW is being aligned): the aligned photos that pairs.txt names.
    pairs = parse_pairs(args.pairs)
    meta = json.load(open(args.lfw + ".json"))
    row = {file: i for i, file in enumerate(meta["files"])}
    missing = sorted({p[k] for p in pairs for k in (0, 1)} - row.keys())
    if missing:
        raise SystemExit(f"Cannot evaluate: {len(missing)} photos of pairs.txt are not in {args.lfw}.json, e.g. {missing[:3]}")
    keys = sorted({p[k] for p in pairs for k in (0, 1)}, key=row.get)
    lfw_faces = np.load(args.lfw + ".faces.npy", mmap_mode="r")
    lfw56 = downscale(lfw_faces[[row[k] for k in keys]])
    key_index = {k: i for i, k in enumerate(keys)}

    features = embed(model, lfw56, device)
    a = np.asarray([key_index[p[0]] for p in pairs])
    b = np.asarray([key_index[p[1]] for p in pairs])
    scores = (features[a] * features[b]).sum(1).astype(np.float64)
    same = np.asarray([p[2] for p in pairs])
    folds = np.asarray([p[3] for p in pairs])
    acc_mean, acc_std, per_fold, area = verify(scores, same, folds)
    total_seconds = time.time() - started
    result = {
        "name": args.name, "train": args.train, "seed": args.seed, "untrained": args.untrained,
        "images": images, "identities": identities, "steps": 0 if args.untrained else args.steps,
        "batch": args.batch, "params": count(model), "lfw_accuracy": acc_mean, "lfw_accuracy_std": acc_std,
        "lfw_per_fold": per_fold, "lfw_auc": area, "lfw_fallback_photos": len(set(meta.get("fallback", [])) & set(keys)),
        "train_accuracy": train_acc, "train_seconds": round(train_seconds, 1),
        "total_seconds": round(total_seconds, 1), "device": str(device), "threads": args.threads,
    }
    print(f"network {count(model)} parameters (+ {128 * identities} in the CosFace classifier); "
          f"LFW {len(pairs)} pairs, {len(keys)} photos ({result['lfw_fallback_photos']} aligned from a centred box)")
    print("| config | seed | images | identities | steps | LFW 10-fold acc | AUC | train acc | train wall |")
    print(f"| {args.name or args.train} | {args.seed} | {images} | {identities} | {result['steps']} x {args.batch} | "
          f"{100 * acc_mean:.2f} ± {100 * acc_std:.2f} % | {area:.4f} | "
          f"{'-' if train_acc is None else f'{100 * train_acc:.1f} %'} | {train_seconds:.0f} s |")
    if args.results:
        with open(args.results, "a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
