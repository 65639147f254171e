#!/usr/bin/env bash
# One prepared training run on a GPU machine: unpack the carried faces
# (UTKFace, and CelebA when carried), recompute their identity features, then
# train four runs side by side on the one GPU, all warm-started from
# training/checkpoints/vec2face-small.pt:
#   A  config small       (reconstruction quality: L1 + SSIM + feature matching + identity)
#   A2 config small       (as A + backdrops on 30 % of the faces + spread term 0.15: LFW's frame and diversity;
#                          on CPU this recipe beat ridge on LFW on all four measures but left UTKFace's L1
#                          0.001 behind, long1 in training/README.md)
#   B  config small-pose  (synthetic head turns on half the faces, +-30 deg: dense geometric pose supervision)
#   V2 config small       (issue 20's v2 recipe, training/NOTES.md "v2"): A's losses + a PatchGAN discriminator
#                          (hinge 0.05 + discriminator feature matching 0.25, from step 200) + the identity and
#                          feature-matching terms on random views of render and face (--id-augment 0.5) + padding
#                          masked out of the pixel and adversarial terms + flips + synthetic turns (30 % of the
#                          near-frontal faces, +-30 deg, vectors recomputed) + CelebA's 200 people as 20 % of each
#                          batch (real backgrounds). Replaces run C (pose loss 0.3: that loss games the pose model,
#                          measured in the previous session). A is its control (same minutes, same GPU share).
# Snapshots (EMA, fp16; written there as they are taken) and logs.txt land in $OUT (7 files, 60 MiB).
#
#   CARRY=.gpu MINUTES=7 OUT=/tmp/out bash training/gpu_train.sh
#
# $CARRY holds utk.webp.npz (training/pack_faces.py pack, with pose labels),
# celeba.webp.npz (the same, from prepare_faces.ts on ../shared/data/celeba;
# without it V2 trains on UTKFace alone), fr_feature.onnx and fr_pose.onnx.
# DEVICE=cpu MINUTES=0.5 BATCH=4 THREADS=1 dry-runs it on a CPU machine.
set -u
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
CARRY=${CARRY:-.gpu}
MINUTES=${MINUTES:-7}
DEVICE=${DEVICE:-cuda}
BATCH=${BATCH:-128}
OUT=${OUT:-/tmp/out}
WORK=${WORK:-/tmp/v2f}
MID=$("$PY" -c "print(round($MINUTES / 2, 2))")
mkdir -p "$OUT" "$WORK"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
"$PY" -c "import torch, onnx, PIL; print('torch', torch.__version__, 'onnx', onnx.__version__, 'cuda', torch.cuda.is_available())"
"$PY" training/pack_faces.py unpack --pack "$CARRY/utk.webp.npz" --identity "$CARRY/fr_feature.onnx" \
  --out "$WORK/utk" --device "$DEVICE" || exit 1
celeba=()
if [ -f "$CARRY/celeba.webp.npz" ]; then
  "$PY" training/pack_faces.py unpack --pack "$CARRY/celeba.webp.npz" --identity "$CARRY/fr_feature.onnx" \
    --out "$WORK/celeba" --device "$DEVICE" && celeba=(--extra-data "$WORK/celeba" --extra-share 0.2)
fi
[ ${#celeba[@]} -gt 0 ] || echo "no CelebA carried: V2 trains on UTKFace alone"
common=(--data "$WORK/utk" --identity "$CARRY/fr_feature.onnx" --device "$DEVICE"
  --init training/checkpoints/vec2face-small.pt --minutes "$MINUTES" --cosine --batch "$BATCH" --loss-share "$BATCH"
  --lr 1e-3 --fm-weight 0.25 --id-weight 0.1 --ssim-weight 0.5 --threads "${THREADS:-4}" --log-every 100 --checkpoint-minutes 1000)
turns=(--config small-pose --turn-share 0.5 --turn-range 30 --pose-lr-scale 3)
v2=(--config small ${celeba[@]+"${celeba[@]}"} --flip 0.5 --turn-share 0.3 --turn-range 30 --mask-padding
  --adv-weight 0.05 --dfm-weight 0.25 --adv-start-step 200 --d-lr 2e-4 --id-augment 0.5)
"$PY" training/train.py "${common[@]}" --config small --out "$WORK/A" --snapshot-dir "$OUT/A" --snapshots "$MID,$MINUTES" 2>&1 | sed -u "s/^/[A] /" >>"$OUT/logs.txt" &
"$PY" training/train.py "${common[@]}" "${turns[@]}" --out "$WORK/B" --snapshot-dir "$OUT/B" --snapshots "$MINUTES" \
  2>&1 | sed -u "s/^/[B] /" >>"$OUT/logs.txt" &
"$PY" training/train.py "${common[@]}" "${v2[@]}" --out "$WORK/V2" --snapshot-dir "$OUT/V2" --snapshots "$MID,$MINUTES" \
  2>&1 | sed -u "s/^/[V2] /" >>"$OUT/logs.txt" &
"$PY" training/train.py "${common[@]}" --config small --backdrop 0.3 --spread-weight 0.15 --out "$WORK/A2" --snapshot-dir "$OUT/A2" \
  --snapshots "$MINUTES" 2>&1 | sed -u "s/^/[A2] /" >>"$OUT/logs.txt" &
sleep 60
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
wait
grep -E "snapshot|done|Error|error" "$OUT/logs.txt"
ls -la "$OUT"/*
