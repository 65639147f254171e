// src/mask.ts
var VEC2FACE_MASK_RATIO = {
  min: 0.1,
  mu: 0.15,
  std: 0.25,
  max: 1
};
var VEC2FACE_LAYOUT = {
  tokens: 49,
  droppedTokens: 5,
  maskRatio: VEC2FACE_MASK_RATIO
};
function drawMaskRatio(random, ratio = VEC2FACE_MASK_RATIO) {
  for (let attempt = 0; attempt < 1e4; attempt++) {
    const value = ratio.mu + ratio.std * random.normal();
    if (value >= ratio.min && value <= ratio.max) return value;
  }
  return (ratio.min + ratio.max) / 2;
}
function drawMask(random, layout = VEC2FACE_LAYOUT) {
  const { tokens, droppedTokens } = layout;
  const ratio = drawMaskRatio(random, layout.maskRatio);
  const maskedCount = Math.max(droppedTokens, Math.min(tokens, Math.ceil(tokens * ratio)));
  const order = Array.from({
    length: tokens
  }, (_, i) => i + 1);
  for (let i = 0; i < maskedCount; i++) {
    const j = i + random.int(tokens - i);
    [order[i], order[j]] = [
      order[j],
      order[i]
    ];
  }
  const masked = new Float32Array(tokens + 1);
  for (let i = 0; i < maskedCount; i++) masked[order[i]] = 1;
  const dropped = new Set(order.slice(0, droppedTokens));
  const kept = new BigInt64Array(tokens + 1 - droppedTokens);
  let k = 0;
  for (let position = 0; position <= tokens; position++) {
    if (!dropped.has(position)) kept[k++] = BigInt(position);
  }
  return {
    masked,
    kept,
    ratio
  };
}

// src/random.ts
var STREAM_TAGS = {
  /** Identity candidates drawn from the prior in `sample`. */
  candidate: 1,
  /** Noise added to an identity vector for one image (`perturb`). */
  perturb: 2,
  /** Token mask of one image (`render`). */
  mask: 3,
  /** Genuine pairs sampled by the quality report when there are too many to take all. */
  genuinePairs: 4,
  /** Impostor pairs sampled by the quality report. */
  impostorPairs: 5,
  /** Search moves of `edit`. */
  edit: 6,
  /** Head pose of one dataset image, for packs that declare a pose range. */
  pose: 7
};
function fmix32(h) {
  h ^= h >>> 16;
  h = Math.imul(h, 2246822507);
  h ^= h >>> 13;
  h = Math.imul(h, 3266489909);
  h ^= h >>> 16;
  return h >>> 0;
}
function checkStreamKey(value, what) {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`Cannot derive a random stream from ${what} ${value}: current value is not a non-negative safe integer`);
  }
}
var Random = class _Random {
  #a;
  #b;
  #c;
  #d;
  #spareNormal;
  constructor(a, b, c, d) {
    this.#a = a;
    this.#b = b;
    this.#c = c;
    this.#d = d;
    for (let i = 0; i < 12; i++) this.uint32();
  }
  /**
   * The stream for `seed` and a path of non-negative integers
   * (e.g. `STREAM_TAGS.perturb, identity, image`).
   */
  static from(seed, ...path) {
    checkStreamKey(seed, "seed");
    const words = [
      seed >>> 0,
      Math.floor(seed / 2 ** 32) >>> 0,
      path.length
    ];
    for (const part of path) {
      checkStreamKey(part, "path element");
      words.push(part >>> 0, Math.floor(part / 2 ** 32) >>> 0);
    }
    const state = [
      2654435769,
      608135816,
      3084996962,
      3735928559
    ].map((lane, k) => {
      let h = lane ^ Math.imul(k + 1, 1663821227);
      for (const word of words) h = fmix32((h ^ word) + 2135587861 + k);
      return h;
    });
    return new _Random(state[0], state[1], state[2], state[3]);
  }
  /** A uniform 32-bit unsigned integer. */
  uint32() {
    const t = (this.#a + this.#b | 0) + this.#d | 0;
    this.#d = this.#d + 1 | 0;
    this.#a = this.#b ^ this.#b >>> 9;
    this.#b = this.#c + (this.#c << 3) | 0;
    this.#c = this.#c << 21 | this.#c >>> 11;
    this.#c = this.#c + t | 0;
    return t >>> 0;
  }
  /** A uniform float in (0, 1), never exactly 0 or 1 (53-bit resolution). */
  float() {
    const high = this.uint32() >>> 5;
    const low = this.uint32() >>> 6;
    return (high * 67108864 + low + 0.5) / 9007199254740992;
  }
  /** A uniform integer in [0, n). */
  int(n) {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32) {
      throw new RangeError(`Cannot draw an integer below ${n}: current value is not an integer in 1..2^32`);
    }
    return Math.floor(this.float() * n);
  }
  /** A standard normal draw (Box-Muller, the second value kept for the next call). */
  normal() {
    if (this.#spareNormal !== void 0) {
      const spare = this.#spareNormal;
      this.#spareNormal = void 0;
      return spare;
    }
    const radius = Math.sqrt(-2 * Math.log(this.float()));
    const angle = 2 * Math.PI * this.float();
    this.#spareNormal = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }
  /** Fills `out` with standard normal draws and returns it. */
  normals(out) {
    for (let i = 0; i < out.length; i++) out[i] = this.normal();
    return out;
  }
};
function checkSeed(seed) {
  if (typeof seed !== "number" || !Number.isSafeInteger(seed) || seed < 0) {
    throw new RangeError(`Cannot use seed as ${String(seed)}: current value is not a non-negative safe integer`);
  }
  return seed;
}

// src/vectors.ts
function norm(vector) {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i] * vector[i];
  return Math.sqrt(sum);
}

// src/perturb.ts
function sigmaForImage(index, count, sigmas, shares) {
  const counts = shareCounts(count, shares);
  let end = 0;
  for (let k = 0; k < counts.length; k++) {
    end += counts[k];
    if (index < end) return sigmas[k];
  }
  return sigmas[sigmas.length - 1];
}
function shareCounts(count, shares) {
  const exact = shares.map((share) => share * count);
  const counts = exact.map(Math.floor);
  let missing = count - counts.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((value, k) => [
    value - Math.floor(value),
    k
  ]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let r = 0; missing > 0; r = (r + 1) % byRemainder.length, missing--) counts[byRemainder[r][1]]++;
  return counts;
}
function perturbVector(vector, sigma, random) {
  const original = norm(vector);
  const out = new Float32Array(vector.length);
  for (let i = 0; i < vector.length; i++) out[i] = vector[i] + sigma * random.normal();
  const scale = original === 0 ? 0 : original / norm(out);
  for (let i = 0; i < out.length; i++) out[i] *= scale;
  return out;
}

// src/_release.ts
function releaseArray(array) {
  const buffer = array.buffer;
  if (!(buffer instanceof ArrayBuffer) || array.byteOffset !== 0 || array.byteLength !== buffer.byteLength) return;
  try {
    buffer.transfer(0);
  } catch {
  }
}

// deno.json
var deno_default = {
  name: "@vec2face/vec2face",
  version: "0.1.0",
  license: "MIT",
  exports: {
    ".": "./mod.ts",
    "./formats": "./formats.ts",
    "./metrics": "./metrics.ts",
    "./estimators": "./estimators.ts",
    "./http": "./src/http.ts",
    "./cli": "./cli.ts"
  },
  tasks: {
    generate: "deno run -A cli.ts generate --ids 8 --per-id 5 --out out/demo --overwrite",
    test: "deno run -A cli.ts models pull && deno test -A --doc --parallel",
    bench: "deno run -A bench/render_bench.ts",
    models: "deno run -A cli.ts models",
    ok: "deno fmt --check && deno lint && deno check mod.ts formats.ts metrics.ts estimators.ts cli.ts cli_test.ts cli_serve_test.ts cli_edit_test.ts src/ bench/ tools/ examples/ && deno run -R tools/check_doc_examples.ts && deno task test"
  },
  fmt: {
    lineWidth: 120,
    exclude: [
      "models/",
      "out/",
      "node_modules/",
      "training/",
      "docs/report/",
      "src/web/preview.bundle.js"
    ]
  },
  lint: {
    exclude: [
      "models/",
      "out/",
      "node_modules/",
      "training/",
      "src/web/preview.bundle.js"
    ]
  },
  publish: {
    exclude: [
      "out/",
      "bench/",
      "tools/",
      "training/",
      ".ci/"
    ]
  },
  nodeModulesDir: "auto",
  unstable: ["no-legacy-abort"],
  imports: {
    "onnxruntime-web": "npm:onnxruntime-web@1.30.0",
    "onnxruntime-node": "npm:onnxruntime-node@1.30.0",
    fflate: "npm:fflate@0.8.2",
    "fast-png": "npm:fast-png@8.0.0",
    "onnxruntime-web/": "npm:/onnxruntime-web@1.30.0/",
    "@jsquash/jpeg/": "npm:/@jsquash/jpeg@1.6.0/"
  }
};

// src/defaults.ts
var DEFAULTS = Object.freeze({
  batchSize: 16,
  shardSize: 100,
  maxPerId: 1e3,
  seed: 0,
  retries: 4,
  retryDelay: 500,
  jpegQuality: 90
});
var VERSION = deno_default.version;

// src/render.ts
function toByte(value) {
  const clipped = value < -1 ? -1 : value > 1 ? 1 : value;
  return Math.round((clipped + 1) * 127.5);
}
async function generatorOutput(pack, vectors, masks, poses) {
  const { vectorSize, tokens, droppedTokens } = pack.manifest;
  const count = vectors.length;
  const identity = new Float32Array(count * vectorSize);
  const masked = new Float32Array(count * (tokens + 1));
  const kept = new BigInt64Array(count * (tokens + 1 - droppedTokens));
  vectors.forEach((vector, i) => identity.set(vector, i * vectorSize));
  masks.forEach((mask, i) => {
    masked.set(mask.masked, i * mask.masked.length);
    kept.set(mask.kept, i * mask.kept.length);
  });
  const session = await pack.session("generator");
  const feeds = {
    identity: {
      type: "float32",
      data: identity,
      dims: [
        count,
        vectorSize
      ]
    },
    masked: {
      type: "float32",
      data: masked,
      dims: [
        count,
        tokens + 1
      ]
    },
    kept: {
      type: "int64",
      data: kept,
      dims: [
        count,
        tokens + 1 - droppedTokens
      ]
    }
  };
  if (session.inputNames.includes("pose")) {
    const pose = new Float32Array(count * 2);
    poses?.forEach((p, i) => pose.set([
      p.yaw,
      p.pitch
    ], i * 2));
    feeds.pose = {
      type: "float32",
      data: pose,
      dims: [
        count,
        2
      ]
    };
  }
  const output = await session.run(feeds);
  return output.image.data;
}
async function renderBatch(pack, vectors, masks, poses) {
  const { imageSize } = pack.manifest;
  const count = vectors.length;
  const pixels = await generatorOutput(pack, vectors, masks, poses);
  const plane = imageSize * imageSize;
  const images = [];
  for (let n = 0; n < count; n++) {
    const data = new Uint8Array(plane * 3);
    const offset = n * plane * 3;
    for (let p = 0; p < plane; p++) {
      data[p * 3] = toByte(pixels[offset + p]);
      data[p * 3 + 1] = toByte(pixels[offset + plane + p]);
      data[p * 3 + 2] = toByte(pixels[offset + 2 * plane + p]);
    }
    images.push({
      width: imageSize,
      height: imageSize,
      data
    });
  }
  releaseArray(pixels);
  return images;
}

// src/_check.ts
function checkInteger(value, name2, min, max = Number.MAX_SAFE_INTEGER) {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`Cannot use ${name2} ${value}: current value is not an integer in ${min}..${max}`);
  }
  return value;
}
function checkCount(value, name2, max = Number.MAX_SAFE_INTEGER) {
  return checkInteger(value, name2, 1, max);
}
function checkThreshold(value, doing) {
  if (!(typeof value === "number" && value > -1 && value <= 1)) {
    throw new RangeError(`Cannot ${doing} at threshold ${value}: current value is not in (-1, 1]`);
  }
  return value;
}

// src/dataset_image.ts
function sampleInput(pack, identities, perId, seed, identity, image) {
  checkCount(perId, "images per identity `perId`", DEFAULTS.maxPerId);
  checkSeed(seed);
  if (!Number.isInteger(identity) || identity < 0 || identity >= identities.length) {
    throw new RangeError(`Cannot render identity ${identity}: current bank has ${identities.length}`);
  }
  if (!Number.isInteger(image) || image < 0 || image >= perId) {
    throw new RangeError(`Cannot render image ${image}: current value is not an integer in 0..${perId - 1}`);
  }
  const { sigmas, shares } = pack.manifest;
  const sigma = sigmaForImage(image, perId, sigmas, shares);
  const vector = perturbVector(identities[identity], sigma, Random.from(seed, STREAM_TAGS.perturb, identity, image));
  const mask = drawMask(Random.from(seed, STREAM_TAGS.mask, identity, image), pack.layout);
  const range = pack.manifest.pose;
  if (!range) return {
    vector,
    mask,
    sigma
  };
  return {
    vector,
    mask,
    sigma,
    pose: poseInRange(range, Random.from(seed, STREAM_TAGS.pose, identity, image))
  };
}
function poseInRange(range, random) {
  const yaw = Math.fround((2 * random.float() - 1) * range.yaw);
  const pitch = Math.fround((2 * random.float() - 1) * range.pitch);
  return {
    yaw,
    pitch
  };
}
async function renderDatasetImage(options) {
  const { pack, identities, perId, seed, identity, image } = options;
  const { vector, mask, pose } = sampleInput(pack, identities, perId, seed, identity, image);
  const [face] = await renderBatch(pack, [
    vector
  ], [
    mask
  ], pose ? [
    pose
  ] : void 0);
  return face;
}

// node_modules/.deno/fflate@0.8.2/node_modules/fflate/esm/browser.js
var u8 = Uint8Array;
var u16 = Uint16Array;
var i32 = Int32Array;
var fleb = new u8([
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  1,
  1,
  1,
  1,
  2,
  2,
  2,
  2,
  3,
  3,
  3,
  3,
  4,
  4,
  4,
  4,
  5,
  5,
  5,
  5,
  0,
  /* unused */
  0,
  0,
  /* impossible */
  0
]);
var fdeb = new u8([
  0,
  0,
  0,
  0,
  1,
  1,
  2,
  2,
  3,
  3,
  4,
  4,
  5,
  5,
  6,
  6,
  7,
  7,
  8,
  8,
  9,
  9,
  10,
  10,
  11,
  11,
  12,
  12,
  13,
  13,
  /* unused */
  0,
  0
]);
var clim = new u8([
  16,
  17,
  18,
  0,
  8,
  7,
  9,
  6,
  10,
  5,
  11,
  4,
  12,
  3,
  13,
  2,
  14,
  1,
  15
]);
var freb = function(eb, start) {
  var b = new u16(31);
  for (var i = 0; i < 31; ++i) {
    b[i] = start += 1 << eb[i - 1];
  }
  var r = new i32(b[30]);
  for (var i = 1; i < 30; ++i) {
    for (var j = b[i]; j < b[i + 1]; ++j) {
      r[j] = j - b[i] << 5 | i;
    }
  }
  return {
    b,
    r
  };
};
var _a = freb(fleb, 2);
var fl = _a.b;
var revfl = _a.r;
fl[28] = 258, revfl[258] = 28;
var _b = freb(fdeb, 0);
var fd = _b.b;
var revfd = _b.r;
var rev = new u16(32768);
for (i = 0; i < 32768; ++i) {
  x = (i & 43690) >> 1 | (i & 21845) << 1;
  x = (x & 52428) >> 2 | (x & 13107) << 2;
  x = (x & 61680) >> 4 | (x & 3855) << 4;
  rev[i] = ((x & 65280) >> 8 | (x & 255) << 8) >> 1;
}
var x;
var i;
var hMap = function(cd, mb, r) {
  var s = cd.length;
  var i = 0;
  var l = new u16(mb);
  for (; i < s; ++i) {
    if (cd[i]) ++l[cd[i] - 1];
  }
  var le = new u16(mb);
  for (i = 1; i < mb; ++i) {
    le[i] = le[i - 1] + l[i - 1] << 1;
  }
  var co;
  if (r) {
    co = new u16(1 << mb);
    var rvb = 15 - mb;
    for (i = 0; i < s; ++i) {
      if (cd[i]) {
        var sv = i << 4 | cd[i];
        var r_1 = mb - cd[i];
        var v = le[cd[i] - 1]++ << r_1;
        for (var m = v | (1 << r_1) - 1; v <= m; ++v) {
          co[rev[v] >> rvb] = sv;
        }
      }
    }
  } else {
    co = new u16(s);
    for (i = 0; i < s; ++i) {
      if (cd[i]) {
        co[i] = rev[le[cd[i] - 1]++] >> 15 - cd[i];
      }
    }
  }
  return co;
};
var flt = new u8(288);
for (i = 0; i < 144; ++i) flt[i] = 8;
var i;
for (i = 144; i < 256; ++i) flt[i] = 9;
var i;
for (i = 256; i < 280; ++i) flt[i] = 7;
var i;
for (i = 280; i < 288; ++i) flt[i] = 8;
var i;
var fdt = new u8(32);
for (i = 0; i < 32; ++i) fdt[i] = 5;
var i;
var flm = /* @__PURE__ */ hMap(flt, 9, 0);
var fdm = /* @__PURE__ */ hMap(fdt, 5, 0);
var shft = function(p) {
  return (p + 7) / 8 | 0;
};
var slc = function(v, s, e) {
  if (s == null || s < 0) s = 0;
  if (e == null || e > v.length) e = v.length;
  return new u8(v.subarray(s, e));
};
var wbits = function(d, p, v) {
  v <<= p & 7;
  var o = p / 8 | 0;
  d[o] |= v;
  d[o + 1] |= v >> 8;
};
var wbits16 = function(d, p, v) {
  v <<= p & 7;
  var o = p / 8 | 0;
  d[o] |= v;
  d[o + 1] |= v >> 8;
  d[o + 2] |= v >> 16;
};
var hTree = function(d, mb) {
  var t = [];
  for (var i = 0; i < d.length; ++i) {
    if (d[i]) t.push({
      s: i,
      f: d[i]
    });
  }
  var s = t.length;
  var t2 = t.slice();
  if (!s) return {
    t: et,
    l: 0
  };
  if (s == 1) {
    var v = new u8(t[0].s + 1);
    v[t[0].s] = 1;
    return {
      t: v,
      l: 1
    };
  }
  t.sort(function(a, b) {
    return a.f - b.f;
  });
  t.push({
    s: -1,
    f: 25001
  });
  var l = t[0], r = t[1], i0 = 0, i1 = 1, i2 = 2;
  t[0] = {
    s: -1,
    f: l.f + r.f,
    l,
    r
  };
  while (i1 != s - 1) {
    l = t[t[i0].f < t[i2].f ? i0++ : i2++];
    r = t[i0 != i1 && t[i0].f < t[i2].f ? i0++ : i2++];
    t[i1++] = {
      s: -1,
      f: l.f + r.f,
      l,
      r
    };
  }
  var maxSym = t2[0].s;
  for (var i = 1; i < s; ++i) {
    if (t2[i].s > maxSym) maxSym = t2[i].s;
  }
  var tr = new u16(maxSym + 1);
  var mbt = ln(t[i1 - 1], tr, 0);
  if (mbt > mb) {
    var i = 0, dt = 0;
    var lft = mbt - mb, cst = 1 << lft;
    t2.sort(function(a, b) {
      return tr[b.s] - tr[a.s] || a.f - b.f;
    });
    for (; i < s; ++i) {
      var i2_1 = t2[i].s;
      if (tr[i2_1] > mb) {
        dt += cst - (1 << mbt - tr[i2_1]);
        tr[i2_1] = mb;
      } else break;
    }
    dt >>= lft;
    while (dt > 0) {
      var i2_2 = t2[i].s;
      if (tr[i2_2] < mb) dt -= 1 << mb - tr[i2_2]++ - 1;
      else ++i;
    }
    for (; i >= 0 && dt; --i) {
      var i2_3 = t2[i].s;
      if (tr[i2_3] == mb) {
        --tr[i2_3];
        ++dt;
      }
    }
    mbt = mb;
  }
  return {
    t: new u8(tr),
    l: mbt
  };
};
var ln = function(n, l, d) {
  return n.s == -1 ? Math.max(ln(n.l, l, d + 1), ln(n.r, l, d + 1)) : l[n.s] = d;
};
var lc = function(c) {
  var s = c.length;
  while (s && !c[--s]) ;
  var cl = new u16(++s);
  var cli = 0, cln = c[0], cls = 1;
  var w = function(v) {
    cl[cli++] = v;
  };
  for (var i = 1; i <= s; ++i) {
    if (c[i] == cln && i != s) ++cls;
    else {
      if (!cln && cls > 2) {
        for (; cls > 138; cls -= 138) w(32754);
        if (cls > 2) {
          w(cls > 10 ? cls - 11 << 5 | 28690 : cls - 3 << 5 | 12305);
          cls = 0;
        }
      } else if (cls > 3) {
        w(cln), --cls;
        for (; cls > 6; cls -= 6) w(8304);
        if (cls > 2) w(cls - 3 << 5 | 8208), cls = 0;
      }
      while (cls--) w(cln);
      cls = 1;
      cln = c[i];
    }
  }
  return {
    c: cl.subarray(0, cli),
    n: s
  };
};
var clen = function(cf, cl) {
  var l = 0;
  for (var i = 0; i < cl.length; ++i) l += cf[i] * cl[i];
  return l;
};
var wfblk = function(out, pos, dat) {
  var s = dat.length;
  var o = shft(pos + 2);
  out[o] = s & 255;
  out[o + 1] = s >> 8;
  out[o + 2] = out[o] ^ 255;
  out[o + 3] = out[o + 1] ^ 255;
  for (var i = 0; i < s; ++i) out[o + i + 4] = dat[i];
  return (o + 4 + s) * 8;
};
var wblk = function(dat, out, final, syms, lf, df, eb, li, bs, bl, p) {
  wbits(out, p++, final);
  ++lf[256];
  var _a2 = hTree(lf, 15), dlt = _a2.t, mlb = _a2.l;
  var _b2 = hTree(df, 15), ddt = _b2.t, mdb = _b2.l;
  var _c = lc(dlt), lclt = _c.c, nlc = _c.n;
  var _d = lc(ddt), lcdt = _d.c, ndc = _d.n;
  var lcfreq = new u16(19);
  for (var i = 0; i < lclt.length; ++i) ++lcfreq[lclt[i] & 31];
  for (var i = 0; i < lcdt.length; ++i) ++lcfreq[lcdt[i] & 31];
  var _e = hTree(lcfreq, 7), lct = _e.t, mlcb = _e.l;
  var nlcc = 19;
  for (; nlcc > 4 && !lct[clim[nlcc - 1]]; --nlcc) ;
  var flen = bl + 5 << 3;
  var ftlen = clen(lf, flt) + clen(df, fdt) + eb;
  var dtlen = clen(lf, dlt) + clen(df, ddt) + eb + 14 + 3 * nlcc + clen(lcfreq, lct) + 2 * lcfreq[16] + 3 * lcfreq[17] + 7 * lcfreq[18];
  if (bs >= 0 && flen <= ftlen && flen <= dtlen) return wfblk(out, p, dat.subarray(bs, bs + bl));
  var lm, ll, dm, dl;
  wbits(out, p, 1 + (dtlen < ftlen)), p += 2;
  if (dtlen < ftlen) {
    lm = hMap(dlt, mlb, 0), ll = dlt, dm = hMap(ddt, mdb, 0), dl = ddt;
    var llm = hMap(lct, mlcb, 0);
    wbits(out, p, nlc - 257);
    wbits(out, p + 5, ndc - 1);
    wbits(out, p + 10, nlcc - 4);
    p += 14;
    for (var i = 0; i < nlcc; ++i) wbits(out, p + 3 * i, lct[clim[i]]);
    p += 3 * nlcc;
    var lcts = [
      lclt,
      lcdt
    ];
    for (var it = 0; it < 2; ++it) {
      var clct = lcts[it];
      for (var i = 0; i < clct.length; ++i) {
        var len = clct[i] & 31;
        wbits(out, p, llm[len]), p += lct[len];
        if (len > 15) wbits(out, p, clct[i] >> 5 & 127), p += clct[i] >> 12;
      }
    }
  } else {
    lm = flm, ll = flt, dm = fdm, dl = fdt;
  }
  for (var i = 0; i < li; ++i) {
    var sym = syms[i];
    if (sym > 255) {
      var len = sym >> 18 & 31;
      wbits16(out, p, lm[len + 257]), p += ll[len + 257];
      if (len > 7) wbits(out, p, sym >> 23 & 31), p += fleb[len];
      var dst = sym & 31;
      wbits16(out, p, dm[dst]), p += dl[dst];
      if (dst > 3) wbits16(out, p, sym >> 5 & 8191), p += fdeb[dst];
    } else {
      wbits16(out, p, lm[sym]), p += ll[sym];
    }
  }
  wbits16(out, p, lm[256]);
  return p + ll[256];
};
var deo = /* @__PURE__ */ new i32([
  65540,
  131080,
  131088,
  131104,
  262176,
  1048704,
  1048832,
  2114560,
  2117632
]);
var et = /* @__PURE__ */ new u8(0);
var dflt = function(dat, lvl, plvl, pre, post, st) {
  var s = st.z || dat.length;
  var o = new u8(pre + s + 5 * (1 + Math.ceil(s / 7e3)) + post);
  var w = o.subarray(pre, o.length - post);
  var lst = st.l;
  var pos = (st.r || 0) & 7;
  if (lvl) {
    if (pos) w[0] = st.r >> 3;
    var opt = deo[lvl - 1];
    var n = opt >> 13, c = opt & 8191;
    var msk_1 = (1 << plvl) - 1;
    var prev = st.p || new u16(32768), head = st.h || new u16(msk_1 + 1);
    var bs1_1 = Math.ceil(plvl / 3), bs2_1 = 2 * bs1_1;
    var hsh = function(i2) {
      return (dat[i2] ^ dat[i2 + 1] << bs1_1 ^ dat[i2 + 2] << bs2_1) & msk_1;
    };
    var syms = new i32(25e3);
    var lf = new u16(288), df = new u16(32);
    var lc_1 = 0, eb = 0, i = st.i || 0, li = 0, wi = st.w || 0, bs = 0;
    for (; i + 2 < s; ++i) {
      var hv = hsh(i);
      var imod = i & 32767, pimod = head[hv];
      prev[imod] = pimod;
      head[hv] = imod;
      if (wi <= i) {
        var rem = s - i;
        if ((lc_1 > 7e3 || li > 24576) && (rem > 423 || !lst)) {
          pos = wblk(dat, w, 0, syms, lf, df, eb, li, bs, i - bs, pos);
          li = lc_1 = eb = 0, bs = i;
          for (var j = 0; j < 286; ++j) lf[j] = 0;
          for (var j = 0; j < 30; ++j) df[j] = 0;
        }
        var l = 2, d = 0, ch_1 = c, dif = imod - pimod & 32767;
        if (rem > 2 && hv == hsh(i - dif)) {
          var maxn = Math.min(n, rem) - 1;
          var maxd = Math.min(32767, i);
          var ml = Math.min(258, rem);
          while (dif <= maxd && --ch_1 && imod != pimod) {
            if (dat[i + l] == dat[i + l - dif]) {
              var nl = 0;
              for (; nl < ml && dat[i + nl] == dat[i + nl - dif]; ++nl) ;
              if (nl > l) {
                l = nl, d = dif;
                if (nl > maxn) break;
                var mmd = Math.min(dif, nl - 2);
                var md = 0;
                for (var j = 0; j < mmd; ++j) {
                  var ti = i - dif + j & 32767;
                  var pti = prev[ti];
                  var cd = ti - pti & 32767;
                  if (cd > md) md = cd, pimod = ti;
                }
              }
            }
            imod = pimod, pimod = prev[imod];
            dif += imod - pimod & 32767;
          }
        }
        if (d) {
          syms[li++] = 268435456 | revfl[l] << 18 | revfd[d];
          var lin = revfl[l] & 31, din = revfd[d] & 31;
          eb += fleb[lin] + fdeb[din];
          ++lf[257 + lin];
          ++df[din];
          wi = i + l;
          ++lc_1;
        } else {
          syms[li++] = dat[i];
          ++lf[dat[i]];
        }
      }
    }
    for (i = Math.max(i, wi); i < s; ++i) {
      syms[li++] = dat[i];
      ++lf[dat[i]];
    }
    pos = wblk(dat, w, lst, syms, lf, df, eb, li, bs, i - bs, pos);
    if (!lst) {
      st.r = pos & 7 | w[pos / 8 | 0] << 3;
      pos -= 7;
      st.h = head, st.p = prev, st.i = i, st.w = wi;
    }
  } else {
    for (var i = st.w || 0; i < s + lst; i += 65535) {
      var e = i + 65535;
      if (e >= s) {
        w[pos / 8 | 0] = lst;
        e = s;
      }
      pos = wfblk(w, pos + 1, dat.subarray(i, e));
    }
    st.i = s;
  }
  return slc(o, 0, pre + shft(pos) + post);
};
var adler = function() {
  var a = 1, b = 0;
  return {
    p: function(d) {
      var n = a, m = b;
      var l = d.length | 0;
      for (var i = 0; i != l; ) {
        var e = Math.min(i + 2655, l);
        for (; i < e; ++i) m += n += d[i];
        n = (n & 65535) + 15 * (n >> 16), m = (m & 65535) + 15 * (m >> 16);
      }
      a = n, b = m;
    },
    d: function() {
      a %= 65521, b %= 65521;
      return (a & 255) << 24 | (a & 65280) << 8 | (b & 255) << 8 | b >> 8;
    }
  };
};
var dopt = function(dat, opt, pre, post, st) {
  if (!st) {
    st = {
      l: 1
    };
    if (opt.dictionary) {
      var dict = opt.dictionary.subarray(-32768);
      var newDat = new u8(dict.length + dat.length);
      newDat.set(dict);
      newDat.set(dat, dict.length);
      dat = newDat;
      st.w = dict.length;
    }
  }
  return dflt(dat, opt.level == null ? 6 : opt.level, opt.mem == null ? st.l ? Math.ceil(Math.max(8, Math.min(13, Math.log(dat.length))) * 1.5) : 20 : 12 + opt.mem, pre, post, st);
};
var wbytes = function(d, b, v) {
  for (; v; ++b) d[b] = v, v >>>= 8;
};
var zlh = function(c, o) {
  var lv = o.level, fl2 = lv == 0 ? 0 : lv < 6 ? 1 : lv == 9 ? 3 : 2;
  c[0] = 120, c[1] = fl2 << 6 | (o.dictionary && 32);
  c[1] |= 31 - (c[0] << 8 | c[1]) % 31;
  if (o.dictionary) {
    var h = adler();
    h.p(o.dictionary);
    wbytes(c, 2, h.d());
  }
};
function zlibSync(data, opts) {
  if (!opts) opts = {};
  var a = adler();
  a.p(data);
  var d = dopt(data, opts, opts.dictionary ? 6 : 2, 4);
  return zlh(d, opts), wbytes(d, d.length - 4, a.d()), d;
}
var td = typeof TextDecoder != "undefined" && /* @__PURE__ */ new TextDecoder();
var tds = 0;
try {
  td.decode(et, {
    stream: true
  });
  tds = 1;
} catch (e) {
}

// node_modules/.deno/iobuffer@6.0.1/node_modules/iobuffer/lib/text.js
function decode(bytes, encoding = "utf8") {
  const decoder = new TextDecoder(encoding);
  return decoder.decode(bytes);
}
var encoder = new TextEncoder();
function encode(str) {
  return encoder.encode(str);
}

// node_modules/.deno/iobuffer@6.0.1/node_modules/iobuffer/lib/iobuffer.js
var defaultByteLength = 1024 * 8;
var hostBigEndian = (() => {
  const array = new Uint8Array(4);
  const view = new Uint32Array(array.buffer);
  return !((view[0] = 1) & array[0]);
})();
var typedArrays = {
  int8: globalThis.Int8Array,
  uint8: globalThis.Uint8Array,
  int16: globalThis.Int16Array,
  uint16: globalThis.Uint16Array,
  int32: globalThis.Int32Array,
  uint32: globalThis.Uint32Array,
  uint64: globalThis.BigUint64Array,
  int64: globalThis.BigInt64Array,
  float32: globalThis.Float32Array,
  float64: globalThis.Float64Array
};
var IOBuffer = class _IOBuffer {
  /**
     * Reference to the internal ArrayBuffer object.
     */
  buffer;
  /**
     * Byte length of the internal ArrayBuffer.
     */
  byteLength;
  /**
     * Byte offset of the internal ArrayBuffer.
     */
  byteOffset;
  /**
     * Byte length of the internal ArrayBuffer.
     */
  length;
  /**
     * The current offset of the buffer's pointer.
     */
  offset;
  lastWrittenByte;
  littleEndian;
  _data;
  _mark;
  _marks;
  /**
     * Create a new IOBuffer.
     * @param data - The data to construct the IOBuffer with.
     * If data is a number, it will be the new buffer's length<br>
     * If data is `undefined`, the buffer will be initialized with a default length of 8Kb<br>
     * If data is an ArrayBuffer, SharedArrayBuffer, an ArrayBufferView (Typed Array), an IOBuffer instance,
     * or a Node.js Buffer, a view will be created over the underlying ArrayBuffer.
     * @param options - An object for the options.
     * @returns A new IOBuffer instance.
     */
  constructor(data = defaultByteLength, options = {}) {
    let dataIsGiven = false;
    if (typeof data === "number") {
      data = new ArrayBuffer(data);
    } else {
      dataIsGiven = true;
      this.lastWrittenByte = data.byteLength;
    }
    const offset = options.offset ? options.offset >>> 0 : 0;
    const byteLength = data.byteLength - offset;
    let dvOffset = offset;
    if (ArrayBuffer.isView(data) || data instanceof _IOBuffer) {
      if (data.byteLength !== data.buffer.byteLength) {
        dvOffset = data.byteOffset + offset;
      }
      data = data.buffer;
    }
    if (dataIsGiven) {
      this.lastWrittenByte = byteLength;
    } else {
      this.lastWrittenByte = 0;
    }
    this.buffer = data;
    this.length = byteLength;
    this.byteLength = byteLength;
    this.byteOffset = dvOffset;
    this.offset = 0;
    this.littleEndian = true;
    this._data = new DataView(this.buffer, dvOffset, byteLength);
    this._mark = 0;
    this._marks = [];
  }
  /**
     * Checks if the memory allocated to the buffer is sufficient to store more
     * bytes after the offset.
     * @param byteLength - The needed memory in bytes.
     * @returns `true` if there is sufficient space and `false` otherwise.
     */
  available(byteLength = 1) {
    return this.offset + byteLength <= this.length;
  }
  /**
     * Check if little-endian mode is used for reading and writing multi-byte
     * values.
     * @returns `true` if little-endian mode is used, `false` otherwise.
     */
  isLittleEndian() {
    return this.littleEndian;
  }
  /**
     * Set little-endian mode for reading and writing multi-byte values.
     * @returns This.
     */
  setLittleEndian() {
    this.littleEndian = true;
    return this;
  }
  /**
     * Check if big-endian mode is used for reading and writing multi-byte values.
     * @returns `true` if big-endian mode is used, `false` otherwise.
     */
  isBigEndian() {
    return !this.littleEndian;
  }
  /**
     * Switches to big-endian mode for reading and writing multi-byte values.
     * @returns This.
     */
  setBigEndian() {
    this.littleEndian = false;
    return this;
  }
  /**
     * Move the pointer n bytes forward.
     * @param n - Number of bytes to skip.
     * @returns This.
     */
  skip(n = 1) {
    this.offset += n;
    return this;
  }
  /**
     * Move the pointer n bytes backward.
     * @param n - Number of bytes to move back.
     * @returns This.
     */
  back(n = 1) {
    this.offset -= n;
    return this;
  }
  /**
     * Move the pointer to the given offset.
     * @param offset - The offset to move to.
     * @returns This.
     */
  seek(offset) {
    this.offset = offset;
    return this;
  }
  /**
     * Store the current pointer offset.
     * @see {@link IOBuffer#reset}
     * @returns This.
     */
  mark() {
    this._mark = this.offset;
    return this;
  }
  /**
     * Move the pointer back to the last pointer offset set by mark.
     * @see {@link IOBuffer#mark}
     * @returns This.
     */
  reset() {
    this.offset = this._mark;
    return this;
  }
  /**
     * Push the current pointer offset to the mark stack.
     * @see {@link IOBuffer#popMark}
     * @returns This.
     */
  pushMark() {
    this._marks.push(this.offset);
    return this;
  }
  /**
     * Pop the last pointer offset from the mark stack, and set the current
     * pointer offset to the popped value.
     * @see {@link IOBuffer#pushMark}
     * @returns This.
     */
  popMark() {
    const offset = this._marks.pop();
    if (offset === void 0) {
      throw new Error("Mark stack empty");
    }
    this.seek(offset);
    return this;
  }
  /**
     * Move the pointer offset back to 0.
     * @returns This.
     */
  rewind() {
    this.offset = 0;
    return this;
  }
  /**
     * Make sure the buffer has sufficient memory to write a given byteLength at
     * the current pointer offset.
     * If the buffer's memory is insufficient, this method will create a new
     * buffer (a copy) with a length that is twice (byteLength + current offset).
     * @param byteLength - The needed memory in bytes.
     * @returns This.
     */
  ensureAvailable(byteLength = 1) {
    if (!this.available(byteLength)) {
      const lengthNeeded = this.offset + byteLength;
      const newLength = lengthNeeded * 2;
      const newArray = new Uint8Array(newLength);
      newArray.set(new Uint8Array(this.buffer));
      this.buffer = newArray.buffer;
      this.length = newLength;
      this.byteLength = newLength;
      this._data = new DataView(this.buffer);
    }
    return this;
  }
  /**
     * Read a byte and return false if the byte's value is 0, or true otherwise.
     * Moves pointer forward by one byte.
     * @returns The read boolean.
     */
  readBoolean() {
    return this.readUint8() !== 0;
  }
  /**
     * Read a signed 8-bit integer and move pointer forward by 1 byte.
     * @returns The read byte.
     */
  readInt8() {
    return this._data.getInt8(this.offset++);
  }
  /**
     * Read an unsigned 8-bit integer and move pointer forward by 1 byte.
     * @returns The read byte.
     */
  readUint8() {
    return this._data.getUint8(this.offset++);
  }
  /**
     * Alias for {@link IOBuffer#readUint8}.
     * @returns The read byte.
     */
  readByte() {
    return this.readUint8();
  }
  /**
     * Read `n` bytes and move pointer forward by `n` bytes.
     * @param n - Number of bytes to read.
     * @returns The read bytes.
     */
  readBytes(n = 1) {
    return this.readArray(n, "uint8");
  }
  /**
     * Creates an array of corresponding to the type `type` and size `size`.
     * For example, type `uint8` will create a `Uint8Array`.
     * @param size - size of the resulting array
     * @param type - number type of elements to read
     * @returns The read array.
     */
  readArray(size, type) {
    const bytes = typedArrays[type].BYTES_PER_ELEMENT * size;
    const offset = this.byteOffset + this.offset;
    const slice = this.buffer.slice(offset, offset + bytes);
    if (this.littleEndian === hostBigEndian && type !== "uint8" && type !== "int8") {
      const slice2 = new Uint8Array(this.buffer.slice(offset, offset + bytes));
      slice2.reverse();
      const returnArray2 = new typedArrays[type](slice2.buffer);
      this.offset += bytes;
      returnArray2.reverse();
      return returnArray2;
    }
    const returnArray = new typedArrays[type](slice);
    this.offset += bytes;
    return returnArray;
  }
  /**
     * Read a 16-bit signed integer and move pointer forward by 2 bytes.
     * @returns The read value.
     */
  readInt16() {
    const value = this._data.getInt16(this.offset, this.littleEndian);
    this.offset += 2;
    return value;
  }
  /**
     * Read a 16-bit unsigned integer and move pointer forward by 2 bytes.
     * @returns The read value.
     */
  readUint16() {
    const value = this._data.getUint16(this.offset, this.littleEndian);
    this.offset += 2;
    return value;
  }
  /**
     * Read a 32-bit signed integer and move pointer forward by 4 bytes.
     * @returns The read value.
     */
  readInt32() {
    const value = this._data.getInt32(this.offset, this.littleEndian);
    this.offset += 4;
    return value;
  }
  /**
     * Read a 32-bit unsigned integer and move pointer forward by 4 bytes.
     * @returns The read value.
     */
  readUint32() {
    const value = this._data.getUint32(this.offset, this.littleEndian);
    this.offset += 4;
    return value;
  }
  /**
     * Read a 32-bit floating number and move pointer forward by 4 bytes.
     * @returns The read value.
     */
  readFloat32() {
    const value = this._data.getFloat32(this.offset, this.littleEndian);
    this.offset += 4;
    return value;
  }
  /**
     * Read a 64-bit floating number and move pointer forward by 8 bytes.
     * @returns The read value.
     */
  readFloat64() {
    const value = this._data.getFloat64(this.offset, this.littleEndian);
    this.offset += 8;
    return value;
  }
  /**
     * Read a 64-bit signed integer number and move pointer forward by 8 bytes.
     * @returns The read value.
     */
  readBigInt64() {
    const value = this._data.getBigInt64(this.offset, this.littleEndian);
    this.offset += 8;
    return value;
  }
  /**
     * Read a 64-bit unsigned integer number and move pointer forward by 8 bytes.
     * @returns The read value.
     */
  readBigUint64() {
    const value = this._data.getBigUint64(this.offset, this.littleEndian);
    this.offset += 8;
    return value;
  }
  /**
     * Read a 1-byte ASCII character and move pointer forward by 1 byte.
     * @returns The read character.
     */
  readChar() {
    return String.fromCharCode(this.readInt8());
  }
  /**
     * Read `n` 1-byte ASCII characters and move pointer forward by `n` bytes.
     * @param n - Number of characters to read.
     * @returns The read characters.
     */
  readChars(n = 1) {
    let result = "";
    for (let i = 0; i < n; i++) {
      result += this.readChar();
    }
    return result;
  }
  /**
     * Read the next `n` bytes, return a UTF-8 decoded string and move pointer
     * forward by `n` bytes.
     * @param n - Number of bytes to read.
     * @returns The decoded string.
     */
  readUtf8(n = 1) {
    return decode(this.readBytes(n));
  }
  /**
     * Read the next `n` bytes, return a string decoded with `encoding` and move pointer
     * forward by `n` bytes.
     * If no encoding is passed, the function is equivalent to @see {@link IOBuffer#readUtf8}
     * @param n - Number of bytes to read.
     * @param encoding - The encoding to use. Default is 'utf8'.
     * @returns The decoded string.
     */
  decodeText(n = 1, encoding = "utf8") {
    return decode(this.readBytes(n), encoding);
  }
  /**
     * Write 0xff if the passed value is truthy, 0x00 otherwise and move pointer
     * forward by 1 byte.
     * @param value - The value to write.
     * @returns This.
     */
  writeBoolean(value) {
    this.writeUint8(value ? 255 : 0);
    return this;
  }
  /**
     * Write `value` as an 8-bit signed integer and move pointer forward by 1 byte.
     * @param value - The value to write.
     * @returns This.
     */
  writeInt8(value) {
    this.ensureAvailable(1);
    this._data.setInt8(this.offset++, value);
    this._updateLastWrittenByte();
    return this;
  }
  /**
     * Write `value` as an 8-bit unsigned integer and move pointer forward by 1
     * byte.
     * @param value - The value to write.
     * @returns This.
     */
  writeUint8(value) {
    this.ensureAvailable(1);
    this._data.setUint8(this.offset++, value);
    this._updateLastWrittenByte();
    return this;
  }
  /**
     * An alias for {@link IOBuffer#writeUint8}.
     * @param value - The value to write.
     * @returns This.
     */
  writeByte(value) {
    return this.writeUint8(value);
  }
  /**
     * Write all elements of `bytes` as uint8 values and move pointer forward by
     * `bytes.length` bytes.
     * @param bytes - The array of bytes to write.
     * @returns This.
     */
  writeBytes(bytes) {
    this.ensureAvailable(bytes.length);
    for (let i = 0; i < bytes.length; i++) {
      this._data.setUint8(this.offset++, bytes[i]);
    }
    this._updateLastWrittenByte();
    return this;
  }
  /**
     * Write `value` as a 16-bit signed integer and move pointer forward by 2
     * bytes.
     * @param value - The value to write.
     * @returns This.
     */
  writeInt16(value) {
    this.ensureAvailable(2);
    this._data.setInt16(this.offset, value, this.littleEndian);
    this.offset += 2;
    this._updateLastWrittenByte();
    return this;
  }
  /**
     * Write `value` as a 16-bit unsigned integer and move pointer forward by 2
     * bytes.
     * @param value - The value to write.
     * @returns This.
     */
  writeUint16(value) {
    this.ensureAvailable(2);
    this._data.setUint16(this.offset, value, this.littleEndian);
    this.offset += 2;
    this._updateLastWrittenByte();
    return this;
  }
  /**
     * Write `value` as a 32-bit signed integer and move pointer forward by 4
     * bytes.
     * @param value - The value to write.
     * @returns This.
     */
  writeInt32(value) {
    this.ensureAvailable(4);
    this._data.setInt32(this.offset, value, this.littleEndian);
    this.offset += 4;
    this._updateLastWrittenByte();
    return this;
  }
  /**
     * Write `value` as a 32-bit unsigned integer and move pointer forward by 4
     * bytes.
     * @param value - The value to write.
     * @returns This.
     */
  writeUint32(value) {
    this.ensureAvailable(4);
    this._data.setUint32(this.offset, value, this.littleEndian);
    this.offset += 4;
    this._updateLastWrittenByte();
    return this;
  }
  /**
     * Write `value` as a 32-bit floating number and move pointer forward by 4
     * bytes.
     * @param value - The value to write.
     * @returns This.
     */
  writeFloat32(value) {
    this.ensureAvailable(4);
    this._data.setFloat32(this.offset, value, this.littleEndian);
    this.offset += 4;
    this._updateLastWrittenByte();
    return this;
  }
  /**
     * Write `value` as a 64-bit floating number and move pointer forward by 8
     * bytes.
     * @param value - The value to write.
     * @returns This.
     */
  writeFloat64(value) {
    this.ensureAvailable(8);
    this._data.setFloat64(this.offset, value, this.littleEndian);
    this.offset += 8;
    this._updateLastWrittenByte();
    return this;
  }
  /**
     * Write `value` as a 64-bit signed bigint and move pointer forward by 8
     * bytes.
     * @param value - The value to write.
     * @returns This.
     */
  writeBigInt64(value) {
    this.ensureAvailable(8);
    this._data.setBigInt64(this.offset, value, this.littleEndian);
    this.offset += 8;
    this._updateLastWrittenByte();
    return this;
  }
  /**
     * Write `value` as a 64-bit unsigned bigint and move pointer forward by 8
     * bytes.
     * @param value - The value to write.
     * @returns This.
     */
  writeBigUint64(value) {
    this.ensureAvailable(8);
    this._data.setBigUint64(this.offset, value, this.littleEndian);
    this.offset += 8;
    this._updateLastWrittenByte();
    return this;
  }
  /**
     * Write the charCode of `str`'s first character as an 8-bit unsigned integer
     * and move pointer forward by 1 byte.
     * @param str - The character to write.
     * @returns This.
     */
  writeChar(str) {
    return this.writeUint8(str.charCodeAt(0));
  }
  /**
     * Write the charCodes of all `str`'s characters as 8-bit unsigned integers
     * and move pointer forward by `str.length` bytes.
     * @param str - The characters to write.
     * @returns This.
     */
  writeChars(str) {
    for (let i = 0; i < str.length; i++) {
      this.writeUint8(str.charCodeAt(i));
    }
    return this;
  }
  /**
     * UTF-8 encode and write `str` to the current pointer offset and move pointer
     * forward according to the encoded length.
     * @param str - The string to write.
     * @returns This.
     */
  writeUtf8(str) {
    return this.writeBytes(encode(str));
  }
  /**
     * Export a Uint8Array view of the internal buffer.
     * The view starts at the byte offset and its length
     * is calculated to stop at the last written byte or the original length.
     * @returns A new Uint8Array view.
     */
  toArray() {
    return new Uint8Array(this.buffer, this.byteOffset, this.lastWrittenByte);
  }
  /**
     *  Get the total number of bytes written so far, regardless of the current offset.
     * @returns - Total number of bytes.
     */
  getWrittenByteLength() {
    return this.lastWrittenByte - this.byteOffset;
  }
  /**
     * Update the last written byte offset
     * @private
     */
  _updateLastWrittenByte() {
    if (this.offset > this.lastWrittenByte) {
      this.lastWrittenByte = this.offset;
    }
  }
};

// node_modules/.deno/fast-png@8.0.0/node_modules/fast-png/lib/helpers/crc.js
var crcTable = [];
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) {
    if (c & 1) {
      c = 3988292384 ^ c >>> 1;
    } else {
      c = c >>> 1;
    }
  }
  crcTable[n] = c;
}
var initialCrc = 4294967295;
function updateCrc(currentCrc, data, length) {
  let c = currentCrc;
  for (let n = 0; n < length; n++) {
    c = crcTable[(c ^ data[n]) & 255] ^ c >>> 8;
  }
  return c;
}
function crc(data, length) {
  return (updateCrc(initialCrc, data, length) ^ initialCrc) >>> 0;
}
function writeCrc(buffer, length) {
  buffer.writeUint32(crc(new Uint8Array(buffer.buffer, buffer.byteOffset + buffer.offset - length, length), length));
}

// node_modules/.deno/fast-png@8.0.0/node_modules/fast-png/lib/helpers/decode_interlace_adam7.js
var uint16 = new Uint16Array([
  255
]);
var uint8 = new Uint8Array(uint16.buffer);
var osIsLittleEndian = uint8[0] === 255;

// node_modules/.deno/fast-png@8.0.0/node_modules/fast-png/lib/helpers/decode_interlace_null.js
var uint162 = new Uint16Array([
  255
]);
var uint82 = new Uint8Array(uint162.buffer);
var osIsLittleEndian2 = uint82[0] === 255;
var empty = new Uint8Array(0);

// node_modules/.deno/fast-png@8.0.0/node_modules/fast-png/lib/helpers/signature.js
var pngSignature = Uint8Array.of(137, 80, 78, 71, 13, 10, 26, 10);
function writeSignature(buffer) {
  buffer.writeBytes(pngSignature);
}

// node_modules/.deno/fast-png@8.0.0/node_modules/fast-png/lib/helpers/text.js
var textChunkName = "tEXt";
var NULL = 0;
var latin1Decoder = new TextDecoder("latin1");
function validateKeyword(keyword) {
  validateLatin1(keyword);
  if (keyword.length === 0 || keyword.length > 79) {
    throw new Error("keyword length must be between 1 and 79");
  }
}
var latin1Regex = /^[\u0000-\u00FF]*$/;
function validateLatin1(text) {
  if (!latin1Regex.test(text)) {
    throw new Error("invalid latin1 text");
  }
}
function encodetEXt(buffer, keyword, text) {
  validateKeyword(keyword);
  validateLatin1(text);
  const length = keyword.length + 1 + text.length;
  buffer.writeUint32(length);
  buffer.writeChars(textChunkName);
  buffer.writeChars(keyword);
  buffer.writeByte(NULL);
  buffer.writeChars(text);
  writeCrc(buffer, length + 4);
}

// node_modules/.deno/fast-png@8.0.0/node_modules/fast-png/lib/internal_types.js
var ColorType = {
  UNKNOWN: -1,
  GREYSCALE: 0,
  TRUECOLOUR: 2,
  INDEXED_COLOUR: 3,
  GREYSCALE_ALPHA: 4,
  TRUECOLOUR_ALPHA: 6
};
var CompressionMethod = {
  UNKNOWN: -1,
  DEFLATE: 0
};
var FilterMethod = {
  UNKNOWN: -1,
  ADAPTIVE: 0
};
var InterlaceMethod = {
  UNKNOWN: -1,
  NO_INTERLACE: 0,
  ADAM7: 1
};

// node_modules/.deno/fast-png@8.0.0/node_modules/fast-png/lib/png_encoder.js
var defaultZlibOptions = {
  level: 3
};
var PngEncoder = class extends IOBuffer {
  _png;
  _zlibOptions;
  _colorType;
  _interlaceMethod;
  constructor(data, options = {}) {
    super();
    this._colorType = ColorType.UNKNOWN;
    this._zlibOptions = {
      ...defaultZlibOptions,
      ...options.zlib
    };
    this._png = this._checkData(data);
    this._interlaceMethod = (options.interlace === "Adam7" ? InterlaceMethod.ADAM7 : InterlaceMethod.NO_INTERLACE) ?? InterlaceMethod.NO_INTERLACE;
    this.setBigEndian();
  }
  encode() {
    writeSignature(this);
    this.encodeIHDR();
    if (this._png.palette) {
      this.encodePLTE();
      if (this._png.palette[0].length === 4) {
        this.encodeTRNS();
      }
    }
    this.encodeData();
    if (this._png.text) {
      for (const [keyword, text] of Object.entries(this._png.text)) {
        encodetEXt(this, keyword, text);
      }
    }
    this.encodeIEND();
    return this.toArray();
  }
  // https://www.w3.org/TR/PNG/#11IHDR
  encodeIHDR() {
    this.writeUint32(13);
    this.writeChars("IHDR");
    this.writeUint32(this._png.width);
    this.writeUint32(this._png.height);
    this.writeByte(this._png.depth);
    this.writeByte(this._colorType);
    this.writeByte(CompressionMethod.DEFLATE);
    this.writeByte(FilterMethod.ADAPTIVE);
    this.writeByte(this._interlaceMethod);
    writeCrc(this, 17);
  }
  // https://www.w3.org/TR/PNG/#11IEND
  encodeIEND() {
    this.writeUint32(0);
    this.writeChars("IEND");
    writeCrc(this, 4);
  }
  encodePLTE() {
    const paletteLength = this._png.palette?.length * 3;
    this.writeUint32(paletteLength);
    this.writeChars("PLTE");
    for (const color of this._png.palette) {
      this.writeByte(color[0]);
      this.writeByte(color[1]);
      this.writeByte(color[2]);
    }
    writeCrc(this, 4 + paletteLength);
  }
  encodeTRNS() {
    const alpha = this._png.palette.filter((color) => {
      return color.at(-1) !== 255;
    });
    this.writeUint32(alpha.length);
    this.writeChars("tRNS");
    for (const el of alpha) {
      this.writeByte(el.at(-1));
    }
    writeCrc(this, 4 + alpha.length);
  }
  // https://www.w3.org/TR/PNG/#11IDAT
  encodeIDAT(data) {
    this.writeUint32(data.length);
    this.writeChars("IDAT");
    this.writeBytes(data);
    writeCrc(this, data.length + 4);
  }
  encodeData() {
    const { width, height, channels, depth, data } = this._png;
    const slotsPerLine = depth <= 8 ? Math.ceil(width * depth / 8) * channels : Math.ceil(width * depth / 8 * channels / 2);
    const newData = new IOBuffer().setBigEndian();
    let offset = 0;
    if (this._interlaceMethod === InterlaceMethod.NO_INTERLACE) {
      for (let i = 0; i < height; i++) {
        newData.writeByte(0);
        if (depth === 16) {
          offset = writeDataUint16(data, newData, slotsPerLine, offset);
        } else {
          offset = writeDataBytes(data, newData, slotsPerLine, offset);
        }
      }
    } else if (this._interlaceMethod === InterlaceMethod.ADAM7) {
      offset = writeDataInterlaced(this._png, data, newData, offset);
    }
    const buffer = newData.toArray();
    const compressed = zlibSync(buffer, this._zlibOptions);
    this.encodeIDAT(compressed);
  }
  _checkData(data) {
    const { colorType, channels, depth } = getColorType(data, data.palette);
    const png = {
      width: checkInteger2(data.width, "width"),
      height: checkInteger2(data.height, "height"),
      channels,
      data: data.data,
      depth,
      text: data.text,
      palette: data.palette
    };
    this._colorType = colorType;
    const expectedSize = depth < 8 ? Math.ceil(png.width * depth / 8) * png.height * channels : png.width * png.height * channels;
    if (png.data.length !== expectedSize) {
      throw new RangeError(`wrong data size. Found ${png.data.length}, expected ${expectedSize}`);
    }
    return png;
  }
};
function checkInteger2(value, name2) {
  if (Number.isInteger(value) && value > 0) {
    return value;
  }
  throw new TypeError(`${name2} must be a positive integer`);
}
function getColorType(data, palette) {
  const { channels = 4, depth = 8 } = data;
  if (channels !== 4 && channels !== 3 && channels !== 2 && channels !== 1) {
    throw new RangeError(`unsupported number of channels: ${channels}`);
  }
  const returnValue = {
    channels,
    depth,
    colorType: ColorType.UNKNOWN
  };
  switch (channels) {
    case 4:
      returnValue.colorType = ColorType.TRUECOLOUR_ALPHA;
      break;
    case 3:
      returnValue.colorType = ColorType.TRUECOLOUR;
      break;
    case 1:
      if (palette) {
        returnValue.colorType = ColorType.INDEXED_COLOUR;
      } else {
        returnValue.colorType = ColorType.GREYSCALE;
      }
      break;
    case 2:
      returnValue.colorType = ColorType.GREYSCALE_ALPHA;
      break;
    default:
      throw new Error("unsupported number of channels");
  }
  return returnValue;
}
function writeDataBytes(data, newData, slotsPerLine, offset) {
  for (let j = 0; j < slotsPerLine; j++) {
    newData.writeByte(data[offset++]);
  }
  return offset;
}
function writeDataInterlaced(imageData, data, newData, offset) {
  const passes = [
    {
      x: 0,
      y: 0,
      xStep: 8,
      yStep: 8
    },
    {
      x: 4,
      y: 0,
      xStep: 8,
      yStep: 8
    },
    {
      x: 0,
      y: 4,
      xStep: 4,
      yStep: 8
    },
    {
      x: 2,
      y: 0,
      xStep: 4,
      yStep: 4
    },
    {
      x: 0,
      y: 2,
      xStep: 2,
      yStep: 4
    },
    {
      x: 1,
      y: 0,
      xStep: 2,
      yStep: 2
    },
    {
      x: 0,
      y: 1,
      xStep: 1,
      yStep: 2
    }
  ];
  const { width, height, channels, depth } = imageData;
  let pixelSize;
  if (depth === 16) {
    pixelSize = channels * depth / 8 / 2;
  } else {
    pixelSize = channels * depth / 8;
  }
  for (let passIndex = 0; passIndex < 7; passIndex++) {
    const pass = passes[passIndex];
    const passWidth = Math.floor((width - pass.x + pass.xStep - 1) / pass.xStep);
    const passHeight = Math.floor((height - pass.y + pass.yStep - 1) / pass.yStep);
    if (passWidth <= 0 || passHeight <= 0) continue;
    const passLineBytes = passWidth * pixelSize;
    for (let y = 0; y < passHeight; y++) {
      const imageY = pass.y + y * pass.yStep;
      const rawScanline = depth <= 8 ? new Uint8Array(passLineBytes) : new Uint16Array(passLineBytes);
      let rawOffset = 0;
      for (let x = 0; x < passWidth; x++) {
        const imageX = pass.x + x * pass.xStep;
        if (imageX < width && imageY < height) {
          const srcPos = (imageY * width + imageX) * pixelSize;
          for (let i = 0; i < pixelSize; i++) {
            rawScanline[rawOffset++] = data[srcPos + i];
          }
        }
      }
      newData.writeByte(0);
      if (depth === 8) {
        newData.writeBytes(rawScanline);
      } else if (depth === 16) {
        for (const value of rawScanline) {
          newData.writeByte(value >> 8 & 255);
          newData.writeByte(value & 255);
        }
      }
    }
  }
  return offset;
}
function writeDataUint16(data, newData, slotsPerLine, offset) {
  for (let j = 0; j < slotsPerLine; j++) {
    newData.writeUint16(data[offset++]);
  }
  return offset;
}

// node_modules/.deno/fast-png@8.0.0/node_modules/fast-png/lib/index.js
function encodePng(png, options) {
  const encoder2 = new PngEncoder(png, options);
  return encoder2.encode();
}

// src/image/codec.ts
function checkImage(image) {
  const expected = image.width * image.height * 3;
  if (!(image.data instanceof Uint8Array) || image.data.length !== expected) {
    throw new RangeError(`Cannot encode an image as ${image.width}x${image.height} RGB: current data length is ${image.data?.length}, expected ${expected}`);
  }
}
function encodePng2(image) {
  checkImage(image);
  return encodePng({
    width: image.width,
    height: image.height,
    data: image.data,
    channels: 3,
    depth: 8
  });
}

// src/npy.ts
var MAGIC = [
  147,
  78,
  85,
  77,
  80,
  89
];
function decodeNpy(bytes) {
  const { header, start } = readHeader(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || shapeText === void 0) {
    throw new TypeError(`Cannot read .npy header: current header is ${JSON.stringify(header.trim())}`);
  }
  const dims = shapeText.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  if (fortran || dims.length < 1 || dims.length > 2) {
    throw new RangeError(`Cannot read .npy as a C-order 1-d or 2-d array: current shape is (${dims.join(", ")})${fortran ? ", Fortran order" : ""}`);
  }
  const shape = dims.length === 1 ? [
    1,
    dims[0]
  ] : [
    dims[0],
    dims[1]
  ];
  const count = shape[0] * shape[1];
  const size = {
    "<f4": 4,
    "<f2": 2,
    "<f8": 8
  }[descr];
  if (!size) throw new TypeError(`Cannot read .npy as float data: current dtype is ${descr}`);
  if (bytes.length - start < count * size) {
    throw new RangeError(`Cannot read .npy of shape (${dims.join(", ")}) ${descr}: current file is truncated (${Math.max(0, bytes.length - start)} of ${count * size} data bytes)`);
  }
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const offset = start + i * size;
    data[i] = size === 4 ? view.getFloat32(offset, true) : size === 8 ? view.getFloat64(offset, true) : fromHalf(view.getUint16(offset, true));
  }
  return {
    shape,
    data
  };
}
function readHeader(bytes) {
  if (bytes.length < 10 || !MAGIC.every((b, i) => bytes[i] === b)) {
    throw new TypeError("Cannot read .npy as NumPy data: current bytes do not start with \\x93NUMPY");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(headerStart, headerStart + headerLength));
  return {
    header,
    start: headerStart + headerLength
  };
}
function fromHalf(bits) {
  const sign = bits & 32768 ? -1 : 1;
  const exponent = bits >>> 10 & 31;
  const mantissa = bits & 1023;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

// src/prior.ts
function parsePrior(bytes) {
  const { shape, data } = decodeNpy(bytes);
  const [rows2, dim] = shape;
  if (rows2 !== dim + 2) {
    throw new RangeError(`Cannot read a prior as [dim + 2, dim]: current shape is [${rows2}, ${dim}]`);
  }
  const prior = {
    dim,
    mean: data.slice(0, dim),
    eigenvalues: data.slice(dim, 2 * dim),
    eigenvectors: data.slice(2 * dim)
  };
  if (prior.eigenvalues.some((value) => !(value >= 0))) {
    throw new RangeError("Cannot read a prior with negative or NaN eigenvalues: current file is not a valid prior");
  }
  return prior;
}

// src/errors.ts
var Vec2FaceError = class extends Error {
  /** Why the operation failed. */
  code;
  /** Creates an error with a reason code and a one-line message. */
  constructor(code, message, options) {
    super(message, options);
    this.name = "Vec2FaceError";
    this.code = code;
  }
};

// src/_backend.ts
var DEVICES = [
  "auto",
  "webgpu",
  "wasm",
  "native"
];
var modules = {};
var wasmThreadsSet;
function cores() {
  return Math.max(1, navigator.hardwareConcurrency ?? 1);
}
function checkDevice(device2) {
  if (typeof device2 !== "string" || !DEVICES.includes(device2)) {
    throw new RangeError(`Cannot select device as ${JSON.stringify(device2)}: current value is not one of ${DEVICES.join(", ")}`);
  }
  return device2;
}
async function hasHardwareWebGpu() {
  if (Deno.build.os === "linux" && !gpuDeviceNodes()) return false;
  const adapter = await requestAdapter();
  if (!adapter) return false;
  const fallback = adapter.isFallbackAdapter ?? adapter.info?.isFallbackAdapter ?? false;
  return !fallback;
}
function gpuDeviceNodes() {
  try {
    return [
      ...Deno.readDirSync("/dev")
    ].some((entry) => entry.name === "dri" || entry.name.startsWith("nvidia"));
  } catch {
    return true;
  }
}
async function requestAdapter() {
  const gpu = navigator.gpu;
  if (!gpu) return null;
  try {
    return await gpu.requestAdapter();
  } catch {
    return null;
  }
}
function loadModule(backend) {
  modules[backend] ??= (async () => {
    if (backend === "native") return await import("onnxruntime-node");
    if (backend === "wasm") return await import("onnxruntime-web");
    const ort = await import("onnxruntime-web/webgpu");
    ort.env.wasm.wasmPaths = {
      mjs: import.meta.resolve("onnxruntime-web/ort-wasm-simd-threaded.asyncify.mjs"),
      wasm: import.meta.resolve("onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm")
    };
    ort.env.wasm.numThreads = 1;
    return ort;
  })();
  return modules[backend];
}
async function nativeAvailable() {
  try {
    await loadModule("native");
    return true;
  } catch {
    delete modules.native;
    return false;
  }
}
async function resolveBackend(device2 = "auto") {
  checkDevice(device2);
  if (device2 === "auto") {
    if (await hasHardwareWebGpu()) return "webgpu";
    if (await nativeAvailable()) return "native";
    return "wasm";
  }
  if (device2 === "webgpu" && !await requestAdapter()) {
    throw new Vec2FaceError("backend-unavailable", "Cannot use device webgpu: no WebGPU adapter was found");
  }
  if (device2 === "native" && !await nativeAvailable()) {
    throw new Vec2FaceError("backend-unavailable", "Cannot use device native: onnxruntime-node did not load (native addons not allowed here?)");
  }
  return device2;
}
var OnnxSession = class {
  /** The backend that runs this session. */
  backend;
  /** Input names of the graph. */
  inputNames;
  /** Output names of the graph. */
  outputNames;
  #ort;
  // deno-lint-ignore no-explicit-any
  #session;
  #queue = Promise.resolve();
  #disposed = false;
  /** Wraps an onnxruntime session; use {@linkcode createSession} instead. */
  // deno-lint-ignore no-explicit-any
  constructor(backend, ort, session) {
    this.backend = backend;
    this.#ort = ort;
    this.#session = session;
    this.inputNames = [
      ...session.inputNames
    ];
    this.outputNames = [
      ...session.outputNames
    ];
  }
  /** Runs the graph; resolves with every output as float32. */
  run(feeds) {
    if (this.#disposed) throw new TypeError("Cannot run a session as it is disposed: current state is disposed");
    const next = this.#queue.then(async () => {
      const ortFeeds = {};
      for (const [name2, t] of Object.entries(feeds)) {
        ortFeeds[name2] = new this.#ort.Tensor(t.type, t.data, t.dims);
      }
      const results = await this.#session.run(ortFeeds);
      const out = {};
      for (const name2 of this.outputNames) {
        const tensor = results[name2];
        const data = tensor.data instanceof Float32Array ? tensor.data : Float32Array.from(tensor.data);
        out[name2] = {
          data,
          dims: [
            ...tensor.dims
          ]
        };
        tensor.dispose?.();
      }
      return out;
    });
    this.#queue = next.catch(() => {
    });
    return next;
  }
  /** Releases the session. */
  async dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#queue;
    await this.#session.release?.();
  }
  /** Same as {@linkcode OnnxSession.dispose}. */
  [Symbol.asyncDispose]() {
    return this.dispose();
  }
};
async function createSession(model, options = {}) {
  const backend = await resolveBackend(options.device ?? "auto");
  const threads = options.threads ?? (backend === "wasm" ? 1 : cores());
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`Cannot use threads as ${threads}: current value is not a positive integer`);
  }
  const ort = await loadModule(backend);
  let session;
  try {
    if (backend === "native") {
      session = await ort.InferenceSession.create(model, {
        executionProviders: [
          "cpu"
        ],
        intraOpNumThreads: threads,
        interOpNumThreads: 1
      });
    } else if (backend === "wasm") {
      if (wasmThreadsSet === void 0) {
        ort.env.wasm.numThreads = threads;
        wasmThreadsSet = threads;
      }
      session = await ort.InferenceSession.create(model, {
        executionProviders: [
          "wasm"
        ]
      });
    } else {
      session = await ort.InferenceSession.create(model, {
        executionProviders: [
          "webgpu"
        ]
      });
    }
  } catch (cause) {
    throw new Vec2FaceError("model-corrupt", `Cannot create a ${backend} session: ${cause.message ?? cause}`, {
      cause
    });
  }
  return new OnnxSession(backend, ort, session);
}

// src/sample.ts
var DEFAULT_BATCH_SIZE = 512;
var AUTO_UPGRADE_COUNT = 1024;
var AUTO_UPGRADE_WORK = 5e8;
var SUGGESTION_SAMPLE = 256;
async function sample(n, options) {
  const settings = checkSampleOptions(n, options);
  const engine = settings.engineKind === "auto" ? jsEngine(settings.prior.dim) : await createEngine(settings.engineKind, settings.prior.dim);
  const sampler = new Sampler(n, settings, engine, options);
  try {
    return await sampler.run();
  } finally {
    await sampler.engine.dispose();
  }
}
function checkSampleOptions(n, options) {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`Cannot sample ${n} identities: current value is not a positive integer`);
  }
  const prior = checkPrior(options.prior);
  const threshold = checkThreshold(options.threshold, "sample identities");
  const seed = checkSeed(options.seed ?? 0);
  const minAcceptance = options.minAcceptance ?? 0.01;
  if (!(typeof minAcceptance === "number" && minAcceptance > 0 && minAcceptance <= 1)) {
    throw new RangeError(`Cannot sample with minAcceptance as ${minAcceptance}: current value is not in (0, 1]`);
  }
  const window = checkCount(options.window ?? 1e4, "`window`");
  const batchSize = checkCount(options.batchSize ?? DEFAULT_BATCH_SIZE, "`batchSize`");
  const engineKind = options.engine ?? "auto";
  if (![
    "auto",
    "native",
    "wasm",
    "js"
  ].includes(engineKind)) {
    throw new RangeError(`Cannot sample with engine as ${JSON.stringify(engineKind)}: current value is not one of auto, native, wasm, js`);
  }
  return {
    prior,
    threshold,
    seed,
    minAcceptance,
    window,
    batchSize,
    engineKind
  };
}
var Sampler = class {
  engine;
  #n;
  #settings;
  #dim;
  #draw;
  #signal;
  #onProgress;
  #upgraded;
  /** Multiply-adds against the kept set, to decide when to upgrade in `auto`. */
  #jsWork = 0;
  /** Unit vectors of the kept identities, packed row after row; grown by doubling. */
  #kept;
  #keptCount = 0;
  #vectors = [];
  #candidates = 0;
  #exactChecks = 0;
  /** Acceptance over the last `window` candidates: numbers (1-based) of recent acceptances. */
  #acceptedAt = [];
  #acceptedHead = 0;
  #maxLowerBound = -Infinity;
  #maxCandidates = [];
  #batchRaw;
  #batchUnits;
  #packed;
  #lastYield = performance.now();
  constructor(n, settings, engine, options) {
    const { prior, seed, batchSize } = settings;
    this.#n = n;
    this.#settings = settings;
    this.#dim = prior.dim;
    this.#draw = createDrawer(prior, seed, batchSize);
    this.engine = engine;
    this.#upgraded = settings.engineKind !== "auto";
    this.#signal = options.signal;
    this.#onProgress = options.onProgress;
    this.#kept = new Float32Array(Math.min(n, 1024) * this.#dim);
    this.#batchRaw = new Float32Array(batchSize * this.#dim);
    this.#batchUnits = new Float32Array(batchSize * this.#dim);
    this.#packed = new Float32Array(batchSize * this.#dim);
  }
  /** Decides batches of candidates until `n` are kept (or acceptance stalls). */
  async run() {
    const n = this.#n, dim = this.#dim;
    while (true) {
      this.#signal?.throwIfAborted();
      await this.#maybeUpgrade();
      const m = Math.min(this.#settings.batchSize, Math.max(64, 2 * (n - this.#keptCount)));
      this.#draw(this.#candidates, m, this.#batchRaw);
      const status = unitVectors(this.#batchRaw, this.#batchUnits, m, dim);
      const worst = new Float64Array(m).fill(-Infinity);
      const open = await this.#againstKept(m, status, worst);
      const result = await this.#decide(m, open, status, worst);
      if (result) return result;
      await this.#maybeYield();
    }
  }
  async #maybeUpgrade() {
    if (this.#upgraded || this.#n < AUTO_UPGRADE_COUNT && this.#jsWork < AUTO_UPGRADE_WORK) return;
    this.#upgraded = true;
    const faster = await createEngine("auto", this.#dim).catch(() => void 0);
    if (faster) this.engine = faster;
  }
  /** Lets an abort signal or a progress bar be served during long runs. */
  async #maybeYield() {
    if (performance.now() - this.#lastYield < 50) return;
    await new Promise((resolve) => setTimeout(resolve, 0));
    this.#lastYield = performance.now();
    this.#signal?.throwIfAborted();
  }
  /** Exact check of a pair whose engine value is within the margin of the threshold. */
  #exactConflict(value, a, aOffset, b, bOffset) {
    this.#exactChecks++;
    const exact = exactDot(a, aOffset, b, bOffset, this.#dim);
    if (!(Math.abs(exact - value) <= this.engine.margin / 2)) {
      throw new Error(`sample: ${this.engine.name} cosine ${value} is off the float64 value ${exact} beyond its bound`);
    }
    return exact >= this.#settings.threshold;
  }
  /** 1. The batch against the kept set, chunk by chunk; rejected candidates drop out. Returns the survivors. */
  async #againstKept(m, status, worst) {
    const { margin, chunkRows } = this.engine;
    const { threshold } = this.#settings;
    const dim = this.#dim, units = this.#batchUnits;
    const upper = threshold + margin, lower = threshold - margin;
    let active = [];
    for (let j = 0; j < m; j++) if (status[j] === 0) active.push(j);
    for (let k0 = 0; k0 < this.#keptCount && active.length > 0; k0 += chunkRows) {
      const k1 = Math.min(this.#keptCount, k0 + chunkRows);
      const block = this.#kept.subarray(k0 * dim, k1 * dim);
      const rows2 = packRows(units, active, this.#packed, dim);
      const maxima = await this.engine.maxRows(rows2, active.length, block, k1 - k0);
      this.#jsWork += active.length * (k1 - k0) * dim;
      const next = [];
      for (let r = 0; r < active.length; r++) {
        const j = active[r], value = maxima[r];
        if (value > worst[j]) worst[j] = value;
        if (value >= upper) {
          status[j] = 1;
          continue;
        }
        if (value >= lower) {
          const row = await this.engine.products(units.subarray(j * dim, (j + 1) * dim), 1, block, k1 - k0);
          let conflict = false;
          for (let col = 0; col < k1 - k0 && !conflict; col++) {
            if (row[col] >= lower) {
              conflict = this.#exactConflict(row[col], units, j * dim, this.#kept, (k0 + col) * dim);
            }
          }
          if (conflict) {
            status[j] = 1;
            continue;
          }
        }
        next.push(j);
      }
      active = next;
      this.#signal?.throwIfAborted();
      await this.#maybeYield();
    }
    return active;
  }
  /** 2. The survivors against each other, then decided in candidate order; the result once `n` are kept. */
  async #decide(m, open, status, worst) {
    const { margin } = this.engine;
    const { threshold } = this.#settings;
    const upper = threshold + margin, lower = threshold - margin;
    const dim = this.#dim, units = this.#batchUnits;
    const position = new Int32Array(m).fill(-1);
    open.forEach((j, p) => position[j] = p);
    const openRows = packRows(units, open, this.#packed, dim);
    const gram = open.length > 1 ? await this.engine.products(openRows, open.length, openRows, open.length, true) : [];
    const acceptedPositions = [];
    for (let j = 0; j < m; j++) {
      this.#candidates++;
      let accepted = status[j] === 0;
      if (accepted) {
        const rowOffset = position[j] * open.length;
        for (const q of acceptedPositions) {
          const value = gram[rowOffset + q];
          if (value > worst[j]) worst[j] = value;
          if (value >= upper || value >= lower && this.#exactConflict(value, units, j * dim, units, open[q] * dim)) {
            accepted = false;
            break;
          }
        }
      }
      if (accepted) {
        acceptedPositions.push(position[j]);
        this.#accept(j, worst[j], margin);
      }
      const result = await this.#afterCandidate();
      if (result) return result;
    }
    return void 0;
  }
  /** Keeps candidate `j` of the batch; tracks the pairs that may hold the largest cosine. */
  #accept(j, worst, margin) {
    const dim = this.#dim;
    if ((this.#keptCount + 1) * dim > this.#kept.length) {
      const grown = new Float32Array(Math.min(this.#n, 2 * (this.#kept.length / dim)) * dim);
      grown.set(this.#kept.subarray(0, this.#keptCount * dim));
      this.#kept = grown;
    }
    this.#kept.set(this.#batchUnits.subarray(j * dim, (j + 1) * dim), this.#keptCount * dim);
    this.#vectors.push(this.#batchRaw.slice(j * dim, (j + 1) * dim));
    this.#keptCount++;
    if (this.#keptCount > 1) {
      if (worst - margin > this.#maxLowerBound) this.#maxLowerBound = worst - margin;
      if (worst + margin >= this.#maxLowerBound) {
        this.#maxCandidates.push({
          index: this.#keptCount - 1,
          worst,
          margin
        });
        if (this.#maxCandidates.length > 64) {
          this.#maxCandidates = this.#maxCandidates.filter((entry) => entry.worst + entry.margin >= this.#maxLowerBound);
        }
      }
    }
    this.#acceptedAt.push(this.#candidates);
  }
  /** After each candidate: the acceptance window, progress, the stall check, and the result once `n` are kept. */
  async #afterCandidate() {
    const n = this.#n, candidates = this.#candidates, keptCount = this.#keptCount;
    const { window, minAcceptance, threshold } = this.#settings;
    while (this.#acceptedHead < this.#acceptedAt.length && this.#acceptedAt[this.#acceptedHead] <= candidates - window) {
      this.#acceptedHead++;
    }
    if (this.#acceptedHead > 4096) {
      this.#acceptedAt = this.#acceptedAt.slice(this.#acceptedHead);
      this.#acceptedHead = 0;
    }
    if (candidates % 1e3 === 0) this.#onProgress?.({
      stage: "sample",
      done: keptCount,
      total: n,
      candidates
    });
    const recent = this.#acceptedAt.length - this.#acceptedHead;
    if (candidates >= window && recent < minAcceptance * window) {
      const suggestion = await this.#suggestThreshold();
      throw new Vec2FaceError("sampling-stalled", `Cannot sample ${n} identities at threshold ${threshold}: acceptance fell to ${(100 * recent / window).toFixed(2)} % over the last ${window} candidates, after ${keptCount} identities from ${candidates} candidates; ` + (suggestion === void 0 ? "check the prior or ask for fewer" : `raise the threshold (at ${suggestion}, about ${Math.round(100 * suggestionRate(minAcceptance))} % of the current candidates would be kept) or ask for fewer`));
    }
    if (keptCount !== n) return void 0;
    const maxCosine = await this.#exactMaxCosine();
    this.#onProgress?.({
      stage: "sample",
      done: keptCount,
      total: n,
      candidates
    });
    return {
      vectors: this.#vectors,
      candidates,
      maxCosine,
      engine: this.engine.name,
      exactChecks: this.#exactChecks
    };
  }
  // The largest reference cosine over all pairs: only vectors whose approximate
  // worst cosine reaches the lower bound can hold it, and only their pairs whose
  // engine value reaches the bound less the margin need the float64 value.
  async #exactMaxCosine() {
    if (this.#keptCount < 2) return 0;
    const dim = this.#dim, kept = this.#kept, engine = this.engine, bound = this.#maxLowerBound;
    let best = -Infinity;
    for (const { index, worst, margin } of this.#maxCandidates) {
      if (worst + margin < bound) continue;
      const unit = kept.subarray(index * dim, (index + 1) * dim);
      for (let k0 = 0; k0 < index; k0 += engine.chunkRows) {
        const k1 = Math.min(index, k0 + engine.chunkRows);
        const row = await engine.products(unit, 1, kept.subarray(k0 * dim, k1 * dim), k1 - k0);
        for (let col = 0; col < k1 - k0; col++) {
          if (row[col] >= bound - engine.margin) {
            best = Math.max(best, exactDot(kept, index * dim, kept, (k0 + col) * dim, dim));
          }
        }
      }
    }
    return Math.max(-1, best);
  }
  // A threshold at which about `suggestionRate` of the candidates of the last
  // window would pass the current kept set: a necessary, not sufficient, step
  // towards `n` (the kept set keeps growing).
  async #suggestThreshold() {
    if (this.#keptCount === 0) return void 0;
    const { window, minAcceptance } = this.#settings;
    const dim = this.#dim, engine = this.engine, keptCount = this.#keptCount;
    const count = Math.min(SUGGESTION_SAMPLE, window);
    const raw = new Float32Array(dim), units = new Float32Array(count * dim);
    let usable = 0;
    for (let i = 0; i < count; i++) {
      this.#draw(this.#candidates - window + Math.floor((i + 0.5) * window / count), 1, raw);
      if (unitVectors(raw, units.subarray(usable * dim), 1, dim)[0] === 0) usable++;
    }
    const worst = new Array(usable).fill(-Infinity);
    for (let k0 = 0; k0 < keptCount && usable > 0; k0 += engine.chunkRows) {
      const k1 = Math.min(keptCount, k0 + engine.chunkRows);
      const maxima = await engine.maxRows(units, usable, this.#kept.subarray(k0 * dim, k1 * dim), k1 - k0);
      for (let i = 0; i < usable; i++) worst[i] = Math.max(worst[i], maxima[i]);
    }
    if (worst.length === 0) return void 0;
    worst.sort((a, b) => a - b);
    const value = worst[Math.max(0, Math.ceil(suggestionRate(minAcceptance) * worst.length) - 1)];
    return Math.min(1, (Math.floor(value * 1e3) + 1) / 1e3);
  }
};
function suggestionRate(minAcceptance) {
  return Math.min(0.5, 10 * minAcceptance);
}
function checkPrior(prior) {
  if (!prior || !(prior.mean instanceof Float32Array)) {
    throw new TypeError(`Cannot sample identities as prior ${prior}: current value is not a Prior`);
  }
  const { dim, mean, eigenvalues, eigenvectors } = prior;
  if (!Number.isInteger(dim) || dim < 1 || mean.length !== dim || !(eigenvalues instanceof Float32Array) || eigenvalues.length !== dim || !(eigenvectors instanceof Float32Array) || eigenvectors.length !== dim * dim) {
    throw new RangeError(`Cannot sample identities as a prior of dim ${dim}: current sizes are mean ${mean.length}, eigenvalues ${eigenvalues?.length}, eigenvectors ${eigenvectors?.length}`);
  }
  return prior;
}
function createDrawer(prior, seed, capacity) {
  const { dim, mean, eigenvectors } = prior;
  const roots = Float64Array.from(prior.eigenvalues, Math.sqrt);
  const kernel = dim % 4 === 0 && capacity >= 4 ? drawKernel(eigenvectors, dim, capacity) : void 0;
  const scales = kernel?.scales ?? new Float64Array(capacity * dim);
  return (first, count, out) => {
    const values = kernel?.values ?? out;
    for (let c2 = 0; c2 < count; c2++) {
      const random = Random.from(seed, STREAM_TAGS.candidate, first + c2);
      const offset = c2 * dim;
      for (let k = 0; k < dim; k++) scales[offset + k] = roots[k] * random.normal();
      values.set(mean, offset);
    }
    let c = 0;
    if (kernel) {
      for (; c + 4 <= count; c += 4) kernel.draw4(c);
    }
    for (; c < count; c++) {
      const offset = c * dim;
      for (let k = 0; k < dim; k++) {
        const scale = scales[offset + k];
        if (scale === 0) continue;
        const row = k * dim;
        for (let i = 0; i < dim; i++) values[offset + i] += scale * eigenvectors[row + i];
      }
    }
    if (kernel) out.set(values.subarray(0, count * dim));
  };
}
function drawKernel(eigenvectors, dim, capacity) {
  const scalesAt = dim * dim * 4, valuesAt = scalesAt + capacity * dim * 8;
  let instance;
  try {
    instance = new WebAssembly.Instance(new WebAssembly.Module(drawModule()));
    instance.exports.memory.grow(Math.ceil((valuesAt + capacity * dim * 4) / 65536));
  } catch {
    return void 0;
  }
  const memory = instance.exports.memory;
  const draw4 = instance.exports.draw4;
  new Float32Array(memory.buffer, 0, dim * dim).set(eigenvectors);
  return {
    scales: new Float64Array(memory.buffer, scalesAt, capacity * dim),
    values: new Float32Array(memory.buffer, valuesAt, capacity * dim),
    draw4: (c) => draw4(valuesAt + c * dim * 4, scalesAt + c * dim * 8, 0, dim)
  };
}
var uleb = (value) => {
  const out = [];
  do {
    out.push(value & 127 | (value > 127 ? 128 : 0));
    value >>>= 7;
  } while (value);
  return out;
};
var vec = (items) => [
  ...uleb(items.length),
  ...items.flat()
];
var section = (id, body) => [
  id,
  ...uleb(body.length),
  ...body
];
var name = (text) => vec([
  ...new TextEncoder().encode(text)
].map((byte) => [
  byte
]));
var get = (local) => [
  32,
  local
];
var set = (local) => [
  33,
  local
];
var tee = (local) => [
  34,
  local
];
var i322 = (value) => [
  65,
  ...uleb(value)
];
var [add, mul, shl, lessThan] = [
  [
    106
  ],
  [
    108
  ],
  [
    116
  ],
  [
    73
  ]
];
var simd = (op, ...immediates) => [
  253,
  ...uleb(op),
  ...immediates
];
var [load, store] = [
  simd(0, 0, 0),
  simd(11, 0, 0)
];
var shuffle = (lanes) => simd(13, ...lanes);
var [splat, notEqual, bitselect] = [
  simd(20),
  simd(72),
  simd(82)
];
var [demote, promote, addF64, mulF64] = [
  simd(94),
  simd(95),
  simd(240),
  simd(242)
];
var loadF64 = [
  43,
  3,
  0
];
var zeroF64 = [
  68,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0
];
var HIGH = [
  8,
  9,
  10,
  11,
  12,
  13,
  14,
  15,
  8,
  9,
  10,
  11,
  12,
  13,
  14,
  15
];
var JOIN = [
  0,
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  16,
  17,
  18,
  19,
  20,
  21,
  22,
  23
];
var [VALUES, SCALES, E, DIM, K, I, ROW, E_ROW, V1, V2, V3, S_ROW] = [
  0,
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  8,
  9,
  10,
  11
];
var SCALE = [
  12,
  13,
  14,
  15
];
var MASK = [
  16,
  17,
  18,
  19
];
var E_LOW = 20;
var E_HIGH = 21;
var V = 22;
var rows = [
  VALUES,
  V1,
  V2,
  V3
];
function drawModule() {
  const code = [
    ...vec([
      [
        8,
        127
      ],
      [
        11,
        123
      ]
    ]),
    ...drawBody()
  ];
  return new Uint8Array([
    ...[
      0,
      97,
      115,
      109,
      1,
      0,
      0,
      0
    ],
    ...section(1, vec([
      [
        96,
        ...vec([
          [
            127
          ],
          [
            127
          ],
          [
            127
          ],
          [
            127
          ]
        ]),
        0
      ]
    ])),
    ...section(3, vec([
      [
        0
      ]
    ])),
    ...section(5, vec([
      [
        0,
        1
      ]
    ])),
    ...section(7, vec([
      [
        ...name("memory"),
        2,
        0
      ],
      [
        ...name("draw4"),
        0,
        0
      ]
    ])),
    ...section(10, vec([
      [
        ...uleb(code.length),
        ...code
      ]
    ]))
  ]);
}
function drawBody() {
  return [
    ...get(DIM),
    ...i322(2),
    ...shl,
    ...set(ROW),
    ...get(VALUES),
    ...get(ROW),
    ...add,
    ...set(V1),
    ...get(V1),
    ...get(ROW),
    ...add,
    ...set(V2),
    ...get(V2),
    ...get(ROW),
    ...add,
    ...set(V3),
    ...i322(0),
    ...set(K),
    3,
    64,
    ...get(SCALES),
    ...get(K),
    ...i322(3),
    ...shl,
    ...add,
    ...set(S_ROW),
    ...[
      0,
      1,
      2,
      3
    ].flatMap((c) => [
      ...get(S_ROW),
      ...c === 0 ? [] : [
        ...get(DIM),
        ...i322(8 * c),
        ...mul,
        ...add
      ],
      ...loadF64,
      ...splat,
      ...tee(SCALE[c]),
      ...zeroF64,
      ...splat,
      ...notEqual,
      ...set(MASK[c])
    ]),
    ...get(E),
    ...get(K),
    ...get(ROW),
    ...mul,
    ...add,
    ...set(E_ROW),
    ...drawValuesLoop(),
    ...get(K),
    ...i322(1),
    ...add,
    ...tee(K),
    ...get(DIM),
    ...lessThan,
    13,
    0,
    11,
    11
  ];
}
function drawValuesLoop() {
  return [
    ...i322(0),
    ...set(I),
    3,
    64,
    ...get(E_ROW),
    ...get(I),
    ...add,
    ...load,
    ...tee(V),
    ...promote,
    ...set(E_LOW),
    ...get(V),
    ...get(V),
    ...shuffle(HIGH),
    ...promote,
    ...set(E_HIGH),
    ...[
      0,
      1,
      2,
      3
    ].flatMap((c) => [
      ...get(rows[c]),
      ...get(I),
      ...add,
      ...get(rows[c]),
      ...get(I),
      ...add,
      ...load,
      ...tee(V),
      ...promote,
      ...get(SCALE[c]),
      ...get(E_LOW),
      ...mulF64,
      ...addF64,
      ...demote,
      ...get(V),
      ...get(V),
      ...shuffle(HIGH),
      ...promote,
      ...get(SCALE[c]),
      ...get(E_HIGH),
      ...mulF64,
      ...addF64,
      ...demote,
      ...shuffle(JOIN),
      ...get(V),
      ...get(MASK[c]),
      ...bitselect,
      ...store
    ]),
    ...get(I),
    ...i322(16),
    ...add,
    ...tee(I),
    ...get(ROW),
    ...lessThan,
    13,
    0,
    11
  ];
}
function unitVectors(raw, units, count, dim) {
  const status = new Uint8Array(count);
  for (let c = 0; c < count; c++) {
    const offset = c * dim;
    let sum = 0;
    for (let i = 0; i < dim; i++) sum += raw[offset + i] * raw[offset + i];
    const length = Math.sqrt(sum);
    if (!(length > 0 && length < Infinity)) {
      status[c] = 1;
      continue;
    }
    for (let i = 0; i < dim; i++) units[offset + i] = raw[offset + i] / length;
  }
  return status;
}
function packRows(units, rows2, out, dim) {
  if (rows2.every((row, i) => row === i)) return units;
  rows2.forEach((row, i) => out.set(units.subarray(row * dim, (row + 1) * dim), i * dim));
  return out;
}
function exactDot(a, aOffset, b, bOffset, dim) {
  let dot = 0;
  for (let i = 0; i < dim; i++) dot += a[aOffset + i] * b[bOffset + i];
  return dot;
}
function float32Margin(dim) {
  const gamma = (unit) => dim * unit / (1 - dim * unit);
  return 2 * ((gamma(2 ** -24) + gamma(2 ** -53)) * (1 + 2 ** -20) + dim * 2 ** -125);
}
async function createEngine(kind, dim) {
  if (kind === "js") return jsEngine(dim);
  const usable = float32Margin(dim) < 0.01;
  for (const device2 of kind === "auto" ? [
    "native",
    "wasm"
  ] : [
    kind
  ]) {
    if (!usable) break;
    try {
      return await onnxEngine(device2, dim);
    } catch (error) {
      if (kind !== "auto") throw error;
    }
  }
  if (kind !== "auto") {
    throw new RangeError(`Cannot sample with engine ${kind} as a prior of dim ${dim}: current dim is too large`);
  }
  return jsEngine(dim);
}
function jsEngine(dim) {
  const block = (a, m, b, n, out, reduce, lower = false) => {
    let r = 0;
    for (; r + 4 <= m; r += 4) {
      const a0 = r * dim, a1 = a0 + dim, a2 = a1 + dim, a3 = a2 + dim;
      let m0 = -Infinity, m1 = -Infinity, m2 = -Infinity, m3 = -Infinity;
      const end = lower ? Math.min(n, r + 3) : n;
      for (let col = 0; col < end; col++) {
        const b0 = col * dim;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (let i = 0; i < dim; i++) {
          const x = b[b0 + i];
          s0 += a[a0 + i] * x;
          s1 += a[a1 + i] * x;
          s2 += a[a2 + i] * x;
          s3 += a[a3 + i] * x;
        }
        if (reduce) {
          if (s0 > m0) m0 = s0;
          if (s1 > m1) m1 = s1;
          if (s2 > m2) m2 = s2;
          if (s3 > m3) m3 = s3;
        } else {
          out[r * n + col] = s0;
          out[(r + 1) * n + col] = s1;
          out[(r + 2) * n + col] = s2;
          out[(r + 3) * n + col] = s3;
        }
      }
      if (reduce) out.set([
        m0,
        m1,
        m2,
        m3
      ], r);
    }
    for (; r < m; r++) {
      let best = -Infinity;
      for (let col = 0, end = lower ? Math.min(n, r) : n; col < end; col++) {
        const value = exactDot(a, r * dim, b, col * dim, dim);
        if (reduce) best = Math.max(best, value);
        else out[r * n + col] = value;
      }
      if (reduce) out[r] = best;
    }
    return out;
  };
  return {
    name: "js",
    margin: 0,
    chunkRows: 1024,
    maxRows: (a, m, b, n) => Promise.resolve(block(a, m, b, n, new Float64Array(m), true)),
    products: (a, m, b, n, lower) => Promise.resolve(block(a, m, b, n, new Float64Array(m * n), false, lower)),
    dispose: () => Promise.resolve()
  };
}
async function onnxEngine(device2, dim) {
  const sessions = [];
  try {
    sessions.push(await createSession(gemmGraph(dim, true), {
      device: device2
    }));
    sessions.push(await createSession(gemmGraph(dim, false), {
      device: device2
    }));
  } catch (error) {
    for (const session of sessions) await session.dispose();
    throw error;
  }
  const [maxSession, productSession] = sessions;
  const run = async (session, a, m, b, n) => {
    const outputs = await session.run({
      a: {
        type: "float32",
        data: a.subarray(0, m * dim),
        dims: [
          m,
          dim
        ]
      },
      b: {
        type: "float32",
        data: b.subarray(0, n * dim),
        dims: [
          n,
          dim
        ]
      }
    });
    return outputs.s.data;
  };
  return {
    name: device2,
    margin: float32Margin(dim),
    // Native: ~40 ms per call for 512 candidates; wasm copies its inputs, so smaller.
    chunkRows: device2 === "native" ? 16384 : 4096,
    maxRows: (a, m, b, n) => run(maxSession, a, m, b, n),
    products: (a, m, b, n) => run(productSession, a, m, b, n),
    dispose: async () => {
      for (const session of sessions) await session.dispose();
    }
  };
}
function gemmGraph(dim, reduce) {
  const varint = (value) => {
    const bytes2 = [];
    for (; value > 127; value = Math.floor(value / 128)) bytes2.push(value & 127 | 128);
    bytes2.push(value);
    return bytes2;
  };
  const integer = (field, value) => [
    ...varint(field << 3),
    ...varint(value)
  ];
  const bytes = (field, payload) => [
    ...varint(field << 3 | 2),
    ...varint(payload.length),
    ...payload
  ];
  const text = (field, value) => bytes(field, [
    ...new TextEncoder().encode(value)
  ]);
  const tensor = (field, name2, dims) => {
    const shape = dims.flatMap((d) => bytes(1, typeof d === "number" ? integer(1, d) : text(2, d)));
    return bytes(field, [
      ...text(1, name2),
      ...bytes(2, bytes(1, [
        ...integer(1, 1),
        ...bytes(2, shape)
      ]))
    ]);
  };
  const attribute = (name2, values, list) => bytes(5, [
    ...text(1, name2),
    ...values.flatMap((v) => integer(list ? 8 : 3, v)),
    ...integer(20, list ? 7 : 2)
  ]);
  const node = (op, inputs, output, attributes) => bytes(1, [
    ...inputs.flatMap((name2) => text(1, name2)),
    ...text(2, output),
    ...text(4, op),
    ...attributes
  ]);
  const nodes = [
    node("Gemm", [
      "a",
      "b"
    ], reduce ? "y" : "s", attribute("transB", [
      1
    ], false))
  ];
  if (reduce) {
    nodes.push(node("ReduceMax", [
      "y"
    ], "s", [
      ...attribute("axes", [
        1
      ], true),
      ...attribute("keepdims", [
        0
      ], false)
    ]));
  }
  const graph = [
    ...nodes.flat(),
    ...text(2, "cosines"),
    ...tensor(11, "a", [
      "m",
      dim
    ]),
    ...tensor(11, "b", [
      "n",
      dim
    ]),
    ...tensor(12, "s", reduce ? [
      "m"
    ] : [
      "m",
      "n"
    ])
  ];
  return new Uint8Array([
    ...integer(1, 8),
    ...bytes(7, graph),
    ...bytes(8, [
      ...text(1, ""),
      ...integer(2, 13)
    ])
  ]);
}

// src/web/preview.ts
async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
async function fetchChecked(path, expected) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`Cannot fetch ${path}: current status is ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (expected !== void 0) {
    const actual = await sha256Hex(bytes);
    if (actual !== expected) throw new Error(`Cannot use ${path}: sha256 is ${actual}, expected ${expected}`);
  }
  return bytes;
}
async function loadPagePack(device2) {
  const info = await (await fetch("/v1/info")).json();
  const manifestBytes = await fetchChecked("/v1/pack/manifest.json", info.pack.sha256);
  const manifest = JSON.parse(new TextDecoder().decode(manifestBytes));
  manifest.maskRatio ??= VEC2FACE_MASK_RATIO;
  const { generator, prior, directions } = manifest.files;
  if (!generator.path || !prior.path) throw new Error("Cannot preview the pack: its generator or prior is not its own");
  const backend = await resolveBackend(checkDevice(device2));
  const model = await fetchChecked(`/v1/pack/${generator.path}`, generator.sha256);
  const session = await createSession(model, {
    device: backend
  });
  const rows2 = {};
  if (directions?.path && manifest.directions) {
    const matrix = decodeNpy(await fetchChecked(`/v1/pack/${directions.path}`, directions.sha256));
    const size = manifest.vectorSize;
    for (const move of [
      "yaw",
      "age"
    ]) {
      const row = manifest.directions.names.indexOf(move);
      if (row >= 0) rows2[move] = Float32Array.from(matrix.data.subarray(row * size, (row + 1) * size));
    }
  }
  const { tokens, droppedTokens, maskRatio } = manifest;
  return {
    manifest,
    sha256: info.pack.sha256,
    prior: parsePrior(await fetchChecked(`/v1/pack/${prior.path}`, prior.sha256)),
    backend,
    layout: {
      tokens,
      droppedTokens,
      maskRatio
    },
    session: (role) => role === "generator" ? Promise.resolve(session) : Promise.reject(new Error(`Cannot preview with ${role}`)),
    directions: rows2
  };
}
function movedAlong(vector, direction, step) {
  const length = Math.hypot(...vector);
  const directionLength = Math.hypot(...direction);
  const moved = Float64Array.from(vector, (x, i) => x / length + step * direction[i] / directionLength);
  const movedLength = Math.hypot(...moved);
  return Float32Array.from(moved, (x) => x / movedLength * length);
}
var banks = /* @__PURE__ */ new Map();
function bank(pack, seed, count) {
  const key = `${seed}|${count}`;
  let vectors = banks.get(key);
  if (!vectors) {
    const threshold = pack.manifest.separationThreshold;
    vectors = sample(count, {
      prior: pack.prior,
      threshold,
      seed,
      engine: "js"
    }).then((result) => result.vectors);
    banks.set(key, vectors);
  }
  return vectors;
}
async function renderFace(pack, face) {
  const { seed, identity, image, perId } = face;
  const yaw = pack.directions.yaw ? face.yaw ?? 0 : 0;
  const age = pack.directions.age ? face.age ?? 0 : 0;
  const identities = await bank(pack, seed, identity + 1);
  const modelPack = pack;
  if (yaw === 0 && age === 0) {
    return await renderDatasetImage({
      pack: modelPack,
      identities,
      perId,
      seed,
      identity,
      image
    });
  }
  const input = sampleInput(modelPack, identities, perId, seed, identity, image);
  let vector = input.vector;
  if (yaw !== 0) vector = movedAlong(vector, pack.directions.yaw, yaw);
  if (age !== 0) vector = movedAlong(vector, pack.directions.age, age);
  const [moved] = await renderBatch(modelPack, [
    vector
  ], [
    input.mask
  ]);
  return moved;
}
function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 32768) text += String.fromCharCode(...bytes.subarray(i, i + 32768));
  return btoa(text);
}
function element(id) {
  return document.getElementById(id);
}
function formValues() {
  const number = (id) => Number(element(id).value);
  return {
    seed: number("seed"),
    ids: number("ids"),
    perId: number("per_id"),
    yaw: number("yaw"),
    age: number("age")
  };
}
function showStatus(text) {
  element("status").textContent = text;
}
var params = new URLSearchParams(location.search);
var device = params.get("device") ?? "auto";
var pagePack = loadPagePack(device);
async function renderGrid(values = {}) {
  const pack = await pagePack;
  const { seed, ids, perId, yaw, age } = {
    ...formValues(),
    ...values
  };
  for (const [id, value] of Object.entries({
    seed,
    ids,
    per_id: perId,
    yaw,
    age
  })) {
    element(id).value = String(value);
  }
  element("yaw_value").textContent = String(yaw);
  element("age_value").textContent = String(age);
  const query = `ids=${ids}&per_id=${perId}&shard_size=${ids}&seed=${seed}`;
  element("download").href = `/v1/shards/0.zip?${query}`;
  const grid = element("grid");
  grid.replaceChildren();
  grid.style.gridTemplateColumns = `auto repeat(${perId}, 112px)`;
  const started = performance.now();
  for (let identity = 0; identity < ids; identity++) {
    const label = document.createElement("div");
    label.className = "row";
    label.textContent = `id ${identity}`;
    grid.append(label);
    for (let image = 0; image < perId; image++) {
      showStatus(`rendering identity ${identity + 1} of ${ids}, image ${image + 1} of ${perId} (${pack.backend})`);
      const png = encodePng2(await renderFace(pack, {
        seed,
        identity,
        image,
        perId,
        yaw,
        age
      }));
      const img = document.createElement("img");
      img.src = URL.createObjectURL(new Blob([
        png
      ], {
        type: "image/png"
      }));
      img.alt = `identity ${identity}, image ${image}`;
      grid.append(img);
    }
  }
  const ms = performance.now() - started;
  const { directions } = pack;
  const moves = [
    directions.yaw && yaw !== 0 ? `yaw step ${yaw}` : "",
    directions.age && age !== 0 ? `age step ${age}` : ""
  ].filter(Boolean).join(", ");
  showStatus(`${pack.manifest.name} (sha256 checked), ${pack.backend} in this browser: ${ids * perId} faces in ${(ms / 1e3).toFixed(1)} s${moves ? `, moved: ${moves}` : ""}`);
  return {
    images: ids * perId,
    ms
  };
}
var api = {
  ready: pagePack.then((pack) => ({
    backend: pack.backend,
    pack: pack.manifest.name,
    sha256: pack.sha256
  })),
  async renderPng(face) {
    return toBase64(encodePng2(await renderFace(await pagePack, face)));
  },
  renderGrid
};
globalThis.vec2face = api;
element("device").value = device;
element("device").addEventListener("change", () => {
  params.set("device", element("device").value);
  location.search = params.toString();
});
for (const id of [
  "yaw",
  "age"
]) {
  element(id).addEventListener("input", () => element(`${id}_value`).textContent = element(id).value);
}
element("controls").addEventListener("submit", (event) => {
  event.preventDefault();
  renderGrid().catch((error) => showStatus(String(error)));
});
pagePack.then((pack) => {
  element("yaw").disabled = !pack.directions.yaw;
  element("age").disabled = !pack.directions.age;
  if (params.get("render") !== "0") return renderGrid();
}).catch((error) => showStatus(`Cannot load the pack: ${error?.message ?? error}`));
