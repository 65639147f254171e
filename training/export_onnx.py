"""Exports a Vec2Face generator (any config) to the pack's ONNX contract, and
converts the official checkpoint (plus its ArcFace-R100) to a model pack.

Our trained weights (``train.py`` checkpoint, EMA weights):

    /usr/bin/python3 training/export_onnx.py --config small --checkpoint runs/small/last.pt \
        --out models/vec2face-small [--prior prior.npy]

The official Vec2Face weights (``vec2face_generator.pth``, ``checkpoint["model_vec2face"]``)
and its identity model (``arcface-r100-glint360k.pth``, insightface iresnet100):

    /usr/bin/python3 training/export_onnx.py --config base --checkpoint vec2face_generator.pth \
        --arcface arcface-r100-glint360k.pth [--prior-features center_feature_examples.npy] --out DIR

Writes into OUT: ``generator.onnx`` (opset 17, fp32, dynamic batch; ``--half``
for fp16 weights when parity holds; ``--frame-gate GATE.npz`` appends
training/frame_gate.py's gate to our small packs, behind an ``If`` that skips
it on batches it does not fire on), ``reference.json`` (torch outputs on
fixed vectors and masks: the runtime's parity test compares onnxruntime with
them), and for the official conversion ``identity.onnx``, ``prior.npy`` (when
features are given) and ``manifest.json``. Run ``deno run -A
tools/update_manifest.ts DIR`` after changing files of a pack by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import warnings

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from vec2face import CONFIGS, NUM_KEPT, NUM_POSITIONS, Vec2Face  # noqa: E402

NUM_DROPPED = NUM_POSITIONS - 1 - (NUM_KEPT - 1)  # 5


def make_masks(rng: np.random.Generator, num_masked: int):
    """Dropped tokens are a subset of the masked ones (as in Vec2Face sampling)."""
    assert num_masked >= NUM_DROPPED
    order = rng.permutation(np.arange(1, NUM_POSITIONS))
    masked_pos = np.sort(order[:num_masked])
    dropped = np.sort(order[:NUM_DROPPED])
    masked = np.zeros(NUM_POSITIONS, dtype=np.float32)
    masked[masked_pos] = 1.0
    kept = np.array([i for i in range(NUM_POSITIONS) if i not in set(dropped)], dtype=np.int64)
    assert kept.shape == (NUM_KEPT,) and kept[0] == 0
    return masked, kept


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def export_onnx(model, args, input_names=("identity", "masked", "kept"), output_name="image",
                output_shape: tuple | None = (3, 112, 112)) -> bytes:
    """ONNX bytes (opset 17, dynamic batch on every input and on the output
    unless ``output_shape`` is None: a scalar output), checked by
    onnx.checker, without host-dependent doc strings."""
    import onnx

    buf = io.BytesIO()
    with warnings.catch_warnings():
        # int(x.shape[1]) in Attention is a constant by design (static length)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="The shape inference of prim::Constant")
        torch.onnx.export(
            model,
            args,
            buf,
            input_names=list(input_names),
            output_names=[output_name],
            dynamic_axes={**{name: {0: "batch"} for name in input_names},
                          **({output_name: {0: "batch"}} if output_shape is not None else {})},
            opset_version=17,
            do_constant_folding=True,
            export_params=True,
        )
    m = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(m)
    m.doc_string = ""
    for n in m.graph.node:
        n.doc_string = ""
    # Resize hides the static spatial size from torch's shape inference
    out = m.graph.output[0].type.tensor_type.shape.dim
    for dim, val in zip(out[1:], output_shape or ()):
        dim.Clear()
        dim.dim_value = val
    onnx.checker.check_model(m)
    return m.SerializeToString()


def export_gated(model, args, input_names) -> bytes:
    """generator.onnx for a GatedGenerator (frame_gate.py): the generator's
    graph, then the frame gate behind an ONNX ``If`` on "does any vector of
    the batch fire", so that batches it does not fire on (every perturbed
    vector's) skip the frame search and fill, 11-13 % of native generator
    throughput (bench/pack_ab_bench.ts).
    The output is the same either way: the gate leaves the images it does
    not fire on unchanged. torch's tracing exporter does not emit ``If``, so
    the three parts are exported one by one and joined here."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from frame_gate import GateFill, GateFires

    with torch.no_grad():
        generated = model.generator(*args)
    parts = {
        "generator": export_onnx(model.generator, args, input_names=input_names),
        "fires": export_onnx(GateFires(model.gate), args[:1], input_names=("identity",), output_name="fires",
                             output_shape=None),
        "fill": export_onnx(GateFill(model.gate), (args[0], generated), input_names=("identity", "image"),
                            output_name="filled"),
    }
    generator, fires, fill = (onnx.load_from_string(parts[name]) for name in ("generator", "fires", "fill"))

    def moved(graph, prefix: str, rename: dict):
        """graph's nodes and initializers, every name prefixed but those in
        ``rename`` (the inputs it shares with the outer graph)."""
        def name(value: str) -> str:
            return rename.get(value, prefix + value) if value else value

        nodes, initializers = [], []
        for node in graph.node:
            if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
                raise SystemExit(f"Cannot join the frame gate's graphs as traced: node {node.name} ({node.op_type}) "
                                 "holds a subgraph, whose names would not be prefixed")
            copy = onnx.NodeProto()
            copy.CopyFrom(node)
            copy.name = prefix + node.name
            del copy.input[:], copy.output[:]
            copy.input.extend(name(value) for value in node.input)
            copy.output.extend(name(value) for value in node.output)
            nodes.append(copy)
        for initializer in graph.initializer:
            copy = onnx.TensorProto()
            copy.CopyFrom(initializer)
            copy.name = name(initializer.name)
            initializers.append(copy)
        return nodes, initializers

    generator_nodes, generator_weights = moved(generator.graph, "", {"image": "generated"})
    fires_nodes, fires_weights = moved(fires.graph, "gate_fires/", {"identity": "identity"})
    # the fill's copies of the gate's whitening weights (the same tensors as the condition's) are read from the
    # outer graph: generator.onnx carries them once
    key = lambda tensor: (tensor.data_type, tuple(tensor.dims), numpy_helper.to_array(tensor).tobytes())  # noqa: E731
    shared = {key(tensor): tensor.name for tensor in fires_weights}
    fill_rename = {"identity": "identity", "image": "generated"}
    fill_rename.update({tensor.name: shared[key(tensor)] for tensor in fill.graph.initializer if key(tensor) in shared})
    fill_nodes, fill_weights = moved(fill.graph, "gate_fill/", fill_rename)
    fill_weights = [tensor for tensor in fill_weights if tensor.name.startswith("gate_fill/")]
    image = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, None)  # noqa: E731
    filled = helper.make_graph(fill_nodes, "frame_gate_fill", [], [image("gate_fill/filled")], fill_weights)
    unchanged = helper.make_graph([helper.make_node("Identity", ["generated"], ["unchanged"])], "frame_gate_skip", [],
                                  [image("unchanged")])
    gate = helper.make_node("If", ["gate_fires/fires"], ["image"], name="frame_gate", then_branch=filled,
                            else_branch=unchanged)
    graph = helper.make_graph(generator_nodes + fires_nodes + [gate], generator.graph.name,
                              list(generator.graph.input), list(generator.graph.output),
                              generator_weights + fires_weights)
    m = helper.make_model(graph, opset_imports=list(generator.opset_import), producer_name=generator.producer_name,
                          producer_version=generator.producer_version)
    m.ir_version = generator.ir_version
    onnx.checker.check_model(m, full_check=True)
    return m.SerializeToString()


def to_half(data: bytes) -> bytes:
    """fp16 weights, fp32 inputs and outputs (Cast nodes at the edges)."""
    import onnx
    from onnx import helper, numpy_helper, TensorProto

    m = onnx.load_from_string(data)
    graph = m.graph
    float_inits = {i.name for i in graph.initializer if i.data_type == TensorProto.FLOAT}
    new_inits = []
    for init in graph.initializer:
        if init.name in float_inits and len(init.dims) >= 2:
            array = numpy_helper.to_array(init).astype(np.float16)
            new_inits.append(numpy_helper.from_array(array, init.name + "_fp16"))
    casts = [helper.make_node("Cast", [i.name + "_fp16"], [i.name], to=TensorProto.FLOAT) for i in new_inits]
    kept = [i for i in graph.initializer if not (i.name in float_inits and len(i.dims) >= 2)]
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(m)
    return m.SerializeToString()


def reference(model, generator_bytes: bytes, prior: np.ndarray | None, about: str) -> dict:
    """torch outputs on two fixed identities and masks (5 and 10 masked), and
    with a frame gate a third identity it fires on, for the runtime's parity
    test: 16 pixels, mean and std per image."""
    if prior is not None:
        p = prior.astype(np.float64)
        z = np.random.default_rng(2024).standard_normal((2, p.shape[1]))
        ident = (p[0] + (np.sqrt(np.maximum(p[1], 0)) * z) @ p[2:]).astype(np.float32)
    else:
        ident = np.random.default_rng(2024).standard_normal((2, 512)).astype(np.float32)
    ma, ka = make_masks(np.random.default_rng(5), 5)
    mb, kb = make_masks(np.random.default_rng(6), 10)
    masked, kept = [ma, mb], [ka, kb]
    gate = getattr(model, "gate", None)
    if gate is not None:
        # a third image the frame gate fires on: the first draw moved along the prior's covariance times the
        # probe's direction (near-null energy barely changes) until its score is 2 over the threshold
        covariance = (p[2:].T * np.maximum(p[1], 0)) @ p[2:]
        direction, centred = gate.direction.double().numpy(), ident[0] - gate.mean.double().numpy()
        step = covariance @ direction
        gain = (float(gate.logit_threshold) + 2 - centred @ direction - float(gate.intercept)) / (step @ direction)
        ident = np.vstack([ident, ident[0] + gain * step])
        masked.append(ma)
        kept.append(ka)
    ident = np.round(ident.astype(np.float64), 6).astype(np.float32)  # exact in JSON
    if gate is not None and not gate.fires(torch.from_numpy(ident)).tolist() == [False, False, True]:
        raise SystemExit("Cannot write the frame gate's reference: it does not fire on exactly the third image")
    masked, kept = np.stack(masked), np.stack(kept)
    inputs = [torch.from_numpy(ident), torch.from_numpy(masked), torch.from_numpy(kept)]
    pose = None
    if model.cfg.pose_inputs:
        pose = np.array([[20.0, -5.0], [-35.0, 10.0], [0.0, 0.0]], dtype=np.float32)[:len(ident)]  # yaw, pitch (deg)
        inputs.append(torch.from_numpy(pose))
    with torch.no_grad():
        img = model(*inputs).numpy()
    prng = np.random.default_rng(8)
    pix = [(int(c), int(yy), int(xx)) for c, yy, xx in zip(
        prng.integers(0, 3, 16), prng.integers(0, 112, 16), prng.integers(0, 112, 16))]
    pix[0], pix[1] = (0, 0, 0), (2, 111, 111)
    images = []
    for i in range(len(ident)):
        images.append({
            "identity": [float(f"{v:.6f}") for v in ident[i].tolist()],
            "masked": [int(v) for v in masked[i].tolist()],
            "kept": [int(v) for v in kept[i].tolist()],
            "num_masked": int(masked[i].sum()),
            **({"pose": pose[i].tolist()} if pose is not None else {}),
            "pixels": [[c, yy, xx, round(float(img[i, c, yy, xx]), 7)] for c, yy, xx in pix],
            "mean": round(float(img[i].astype(np.float64).mean()), 7),
            "std": round(float(img[i].astype(np.float64).std()), 7),
        })
    return {
        "about": about,
        "generator_sha256": sha256(generator_bytes),
        "shape": [3, 112, 112],
        "images": images,
    }


def write_json(path: str, value: dict) -> None:
    with open(path, "w") as f:
        json.dump(value, f, separators=(",", ":"))
        f.write("\n")


def fit_prior(features: np.ndarray) -> np.ndarray:
    """prior.npy layout (src/prior.ts): mean, eigenvalues (descending), eigenvector rows."""
    x = features.astype(np.float64)
    mean = x.mean(0)
    cov = np.cov(x - mean, rowvar=False)
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1]
    values = np.maximum(values[order], 0)
    return np.vstack([mean, values, vectors[:, order].T]).astype(np.float32)


def load_generator(config: str, checkpoint: str | None) -> Vec2Face:
    model = Vec2Face(CONFIGS[config])
    if checkpoint:
        state = torch.load(checkpoint, map_location="cpu")
        if "model_vec2face" in state:  # the official checkpoint
            weights = state["model_vec2face"]
            weights = {k[len("module."):] if k.startswith("module.") else k: v for k, v in weights.items()}
        elif "ema" in state:  # train.py
            if state.get("config") not in (None, config):
                raise SystemExit(f"Cannot export {checkpoint} as config {config}: it was trained as {state['config']}")
            weights = state["ema"]
        else:
            weights = state
        model.load_state_dict(weights, strict=True)
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, choices=sorted(CONFIGS))
    parser.add_argument("--checkpoint", help="train.py checkpoint, the official vec2face_generator.pth, or a state dict")
    parser.add_argument("--out", required=True)
    parser.add_argument("--prior", help="prior.npy whose draws become reference.json's identities (copied into OUT)")
    parser.add_argument("--prior-features", help="identity features (.npy [N, 512]) to fit OUT/prior.npy on")
    parser.add_argument("--arcface", help="insightface iresnet100 weights (arcface-r100-glint360k.pth) -> identity.onnx")
    parser.add_argument("--half", action="store_true", help="fp16 weights, kept only if parity holds")
    parser.add_argument("--frame-gate", help="frame_gate.py output: generator.onnx then fills the frame where the "
                        "identity vector says the photo had a background (our small packs)")
    args = parser.parse_args()
    if args.arcface and not (args.prior or args.prior_features):
        parser.error("Cannot convert the official weights without an identity prior: pass --prior-features "
                     "center_feature_examples.npy (ArcFace identity centres) or --prior prior.npy")
    if args.frame_gate and args.half:
        raise SystemExit(f"Cannot export the frame gate {args.frame_gate} with --half: its whitening weights need float32")
    if args.frame_gate and not (args.prior or args.prior_features):
        raise SystemExit(f"Cannot export the frame gate {args.frame_gate} without a prior: reference.json's gated image "
                         "is a prior draw (pass --prior-features or --prior)")
    torch.set_num_threads(os.cpu_count() or 2)
    os.makedirs(args.out, exist_ok=True)

    model = load_generator(args.config, args.checkpoint)
    if args.frame_gate:
        from frame_gate import GatedGenerator, load_gate

        model = GatedGenerator(model, load_gate(args.frame_gate)).eval()
    prior = None
    if args.prior:
        prior = np.load(args.prior).astype(np.float32)
    elif args.prior_features:
        prior = fit_prior(np.load(args.prior_features).reshape(-1, 512))
    rng = np.random.default_rng(7)
    masks = [make_masks(rng, 5 + k) for k in range(2)]
    example = (torch.randn(2, 512), torch.from_numpy(np.stack([m[0] for m in masks])),
               torch.from_numpy(np.stack([m[1] for m in masks])))
    input_names = ("identity", "masked", "kept")
    if model.cfg.pose_inputs:  # yaw, pitch in degrees
        example += (torch.tensor([[10.0, 0.0], [-30.0, 5.0]]),)
        input_names += ("pose",)
    data = export_gated(model, example, input_names) if args.frame_gate else export_onnx(model, example, input_names)
    if args.half:
        data = to_half(data)
    about = (f"torch outputs of generator.onnx (config {args.config}); pixels are [c, y, x, value] of "
             "image[c, y, x]; std is the population std over all 3*112*112 values; made by training/export_onnx.py")
    parity = reference(model, data, prior, about)  # before writing: a failed reference leaves OUT as it was
    if prior is not None:
        np.save(os.path.join(args.out, "prior.npy"), prior)
    with open(os.path.join(args.out, "generator.onnx"), "wb") as f:
        f.write(data)
    write_json(os.path.join(args.out, "reference.json"), parity)
    print(f"generator.onnx {len(data) / 1e6:.1f} MB sha256 {sha256(data)}")

    if args.arcface:
        from iresnet import iresnet100

        net = iresnet100()
        net.load_state_dict(torch.load(args.arcface, map_location="cpu"), strict=True)
        net.eval()
        identity = export_onnx(net, (torch.randn(2, 3, 112, 112),), input_names=("input",),
                               output_name="features", output_shape=(512,))
        with open(os.path.join(args.out, "identity.onnx"), "wb") as f:
            f.write(identity)
        print(f"identity.onnx {len(identity) / 1e6:.1f} MB sha256 {sha256(identity)}")
        write_official_manifest(args.out)


def write_official_manifest(out: str) -> None:
    """A pack manifest for the official weights: ArcFace-R100 identity model
    ((p - 127.5) / 127.5, RGB), Vec2Face's threshold 0.3 and sigmas 0.3/0.5/0.7,
    faceplugin's detector and landmarks for alignment."""
    def local(path: str) -> dict:
        with open(os.path.join(out, path), "rb") as f:
            return {"path": path, "sha256": sha256(f.read()), "license": "see the Vec2Face repository"}

    npm = lambda file, original, rewritten: {  # noqa: E731
        "npm": {"package": "faceplugin-face-recognition-js", "version": "0.0.1",
                "path": f"package/model/{file}", "sha256": original},
        "transform": "batch-dynamic", "sha256": rewritten, "license": "MIT"}
    files = {
        "generator": local("generator.onnx"),
        "prior": local("prior.npy"),
        "identity": local("identity.onnx"),
        "detector": npm("fr_detect.onnx", "6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854",
                        "69b8e05cdf18cf253f3f8bcf904cb65e8491d1c7940e7f4c77ffef9b87e68c09"),
        "landmarks": npm("fr_landmark.onnx", "f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258",
                         "11c1d93ef8d824d4ba024251336b7f8252e38c5ce92d7a657e8058de366acd33"),
    }
    manifest = {
        "format": "vec2face-pack/1",
        "name": "vec2face-official",
        "description": "The official Vec2Face generator (ICLR 2025) and ArcFace-R100 (Glint360K), converted by "
                       "training/export_onnx.py. Weights are the Vec2Face authors'; see their licence.",
        "vectorSize": 512,
        "imageSize": 112,
        "tokens": 49,
        "droppedTokens": 5,
        "maskRatio": {"min": 0.1, "mu": 0.15, "std": 0.25, "max": 1},
        "separationThreshold": 0.3,
        "sigmas": [0.3, 0.5, 0.7],
        "shares": [0.4, 0.4, 0.2],
        "identityModel": {"input": "RGB", "size": 112, "mean": 127.5, "std": 127.5, "alignment": "arcface-5point"},
        "files": files,
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
